"""Entries (bot/store/entries.py): reading them in franchise order, and each change a revision or a
typed refusal carrying what it needs to say."""

from __future__ import annotations

import pytest

from bot.errors import EntryExists, EntryNotFound, HasChildren, HasFacts, OwnParent, SameEntry
from bot.facts import Entry
from bot.store import ENTRY_FIELD, Store, upsert_entry
from tests.store_probe import count


async def test_an_entry_can_be_created_with_a_parent(store: Store) -> None:
    async with store.transaction() as tx:
        await upsert_entry(tx, Entry("mothership", "Citadel"))
        await upsert_entry(tx, Entry("season-3", "Citadel season 3", parent="mothership", aliases=("S3",)))
    entry = await store.entries.get("season-3")
    assert entry == Entry("season-3", "Citadel season 3", aliases=("S3",), parent="mothership")


async def test_an_entry_under_a_missing_parent_is_refused(store: Store) -> None:
    with pytest.raises(EntryNotFound) as refused:
        async with store.transaction() as tx:
            await upsert_entry(tx, Entry("season-3", "Citadel season 3", parent="nowhere"))
    assert refused.value.slug == "nowhere"
    assert await store.entries.all() == []


async def test_entries_come_in_franchise_order(seeded: Store) -> None:
    entries = await seeded.entries.all()
    assert [e.slug for e in entries] == ["mothership", "season-2", "diana", "honey-bunny", "spain", "mexico"]
    assert await seeded.entries.get("nothing") is None


async def test_create_change_and_retire_are_revisions_of_the_entry(seeded: Store) -> None:
    zeta = Entry("zeta", "Zeta", parent="mothership", position=90)
    created = await seeded.entries.create(zeta, "mod")
    changed = await seeded.entries.change(
        "zeta", Entry("zeta", "Zeta!", parent="mothership", position=90), "mod"
    )
    retired = await seeded.entries.retire("zeta", "mod", reason="a test")
    assert created < changed < retired
    history = await seeded.history.for_entry("zeta")
    assert [(r.action, r.field, r.reason) for r in history] == [
        ("add", ENTRY_FIELD, ""), ("edit", ENTRY_FIELD, ""), ("remove", ENTRY_FIELD, "a test")
    ]  # fmt: skip
    assert history[1].old and history[1].old["title"] == "Zeta" and history[1].new
    assert history[1].new["title"] == "Zeta!"
    assert await seeded.entries.get("zeta") is None
    assert count(seeded, "entries") == 7  # a removed entry keeps its row, for its history


async def test_creating_an_existing_entry_is_refused_with_its_slug(seeded: Store) -> None:
    with pytest.raises(EntryExists) as refused:
        await seeded.entries.create(Entry("diana", "Another Diana"), "mod")
    assert refused.value.slug == "diana"


async def test_changes_refused_carry_their_data(seeded: Store) -> None:
    diana = await seeded.entries.get("diana")
    assert diana is not None
    with pytest.raises(SameEntry) as same:
        await seeded.entries.change("diana", diana, "mod")
    assert same.value.title == "Citadel: Diana"
    with pytest.raises(OwnParent) as own:
        await seeded.entries.change("diana", Entry("diana", "Diana", parent="diana"), "mod")
    assert own.value.slug == "diana"
    with pytest.raises(EntryNotFound) as missing:
        await seeded.entries.change("nothing", Entry("nothing", "Nothing"), "mod")
    assert missing.value.slug == "nothing"


async def test_an_entry_with_entries_under_it_is_not_retired(seeded: Store) -> None:
    revisions = count(seeded, "revisions")
    with pytest.raises(HasChildren) as refused:
        await seeded.entries.retire("mothership", "mod", force=True)
    assert refused.value.title == "Citadel"
    assert refused.value.children == ("diana", "honey-bunny", "mexico", "season-2", "spain")
    assert count(seeded, "revisions") == revisions
    assert await seeded.entries.get("mothership") is not None


async def test_an_entry_with_facts_is_retired_only_with_force(seeded: Store) -> None:
    facts = len(await seeded.facts.for_entry("diana"))
    revisions = count(seeded, "revisions")
    with pytest.raises(HasFacts) as refused:
        await seeded.entries.retire("diana", "mod")
    assert (refused.value.title, refused.value.count) == ("Citadel: Diana", facts)
    assert count(seeded, "revisions") == revisions
    await seeded.entries.retire("diana", "mod", force=True)
    assert count(seeded, "revisions") == revisions + facts + 1  # each fact, then the entry
    assert await seeded.facts.for_entry("diana") == []
    removals = [r for r in await seeded.history.for_entry("diana") if r.action == "remove"]
    assert {r.reason for r in removals} == {"entry removed", ""}
    with pytest.raises(EntryNotFound):
        await seeded.entries.retire("diana", "mod")
