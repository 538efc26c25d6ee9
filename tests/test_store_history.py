"""History (bot/store/history.py and revisions.py): the append-only log, and reverts as new revisions."""

from __future__ import annotations

import pytest

from bot.errors import HasFacts, NothingToRevert, RevisionNotFound
from bot.facts import Entry, Fact
from bot.store import ENTRY_FIELD, Store
from tests.store_probe import count

SOURCE, DATE = "https://example.org/x", "2026-11-01"


async def test_revisions_are_append_only(seeded: Store) -> None:
    with pytest.raises(seeded.errors, match="append-only"):
        async with seeded.transaction() as tx:
            await tx.execute("UPDATE revisions SET who = 'someone else'")
    with pytest.raises(seeded.errors, match="append-only"):
        async with seeded.transaction() as tx:
            await tx.execute("DELETE FROM revisions")


async def test_latest_and_get(seeded: Store) -> None:
    latest = await seeded.history.latest()
    assert latest == count(seeded, "revisions")
    revision = await seeded.history.get(latest)
    assert revision is not None and revision.id == latest and revision.who == "canon"
    assert await seeded.history.get(latest + 1) is None
    edited = await seeded.facts.edit("diana", "episodes", "", Fact("episodes", "7", SOURCE, DATE), "mod")
    assert await seeded.history.latest() == edited == latest + 1


async def test_history_for_one_field(seeded: Store) -> None:
    await seeded.facts.edit("diana", "episodes", "", Fact("episodes", "7", SOURCE, DATE), "mod")
    history = await seeded.history.for_entry("diana", "episodes")
    assert [(r.action, r.who) for r in history] == [("add", "canon"), ("edit", "mod")]
    assert history[1].old and history[1].old["value"] == "6"
    assert history[1].new and history[1].new["value"] == "7"
    assert await seeded.history.for_entry("nothing") == []


async def test_a_revert_puts_back_the_old_value_as_a_new_revision(seeded: Store) -> None:
    edit = await seeded.facts.edit("diana", "episodes", "", Fact("episodes", "7", SOURCE, DATE), "mod")
    revert = await seeded.history.revert(edit, "other mod")
    assert revert > edit
    episodes = await seeded.facts.get("diana", "episodes", "")
    assert episodes is not None and episodes.value == "6" and episodes.revision_id == revert
    assert episodes.added_by == "other mod"
    reverted = await seeded.history.get(revert)
    assert reverted is not None and reverted.reason == f"revert of #{edit}"
    with pytest.raises(NothingToRevert) as nothing:
        await seeded.history.revert(edit, "other mod")
    assert nothing.value.revision_id == edit


async def test_reverting_an_addition_removes_the_fact(seeded: Store) -> None:
    added = await seeded.facts.add("diana", Fact("notes", "A note", SOURCE, DATE, key="a note"), "mod")
    await seeded.history.revert(added, "mod")
    assert await seeded.facts.get("diana", "notes", "a note") is None
    with pytest.raises(NothingToRevert):
        await seeded.history.revert(added, "mod")


async def test_a_missing_revision_is_refused_with_its_id(seeded: Store) -> None:
    with pytest.raises(RevisionNotFound) as missing:
        await seeded.history.revert(99999, "mod")
    assert missing.value.revision_id == 99999


async def test_entry_changes_revert_too(seeded: Store) -> None:
    created = await seeded.entries.create(Entry("zeta", "Zeta", parent="mothership"), "mod")
    changed = await seeded.entries.change("zeta", Entry("zeta", "Zeta!", parent="mothership"), "mod")
    await seeded.history.revert(changed, "mod")
    assert (await seeded.entries.get("zeta")) == Entry("zeta", "Zeta", parent="mothership")
    removed = await seeded.history.revert(created, "mod")  # reverting the addition retires it
    assert await seeded.entries.get("zeta") is None
    await seeded.history.revert(removed, "mod")  # and reverting the removal brings it back
    assert (await seeded.entries.get("zeta")) == Entry("zeta", "Zeta", parent="mothership")
    actions = [(r.action, r.field) for r in await seeded.history.for_entry("zeta")]
    assert actions == [("add", ENTRY_FIELD), ("edit", ENTRY_FIELD), ("edit", ENTRY_FIELD),
                       ("remove", ENTRY_FIELD), ("add", ENTRY_FIELD)]  # fmt: skip


async def test_reverting_the_addition_of_an_entry_with_facts_is_refused(seeded: Store) -> None:
    created = await seeded.entries.create(Entry("zeta", "Zeta"), "mod")
    await seeded.facts.add("zeta", Fact("episodes", "3", SOURCE, DATE), "mod")
    with pytest.raises(HasFacts) as refused:
        await seeded.history.revert(created, "mod")
    assert (refused.value.title, refused.value.count) == ("Zeta", 1)
