"""Facts (bot/store/facts.py): reads through indexes, full-text search, and each write a revision or a
typed refusal carrying what it needs to say."""

from __future__ import annotations

import pytest

from bot.errors import EntryNotFound, FactExists, FactNotFound, ItemExists, SameEdit, SameFact, StaleEdit
from bot.facts import Fact, fact_key
from bot.store import Store, fts_query, put_fact
from bot.store.facts import FOR_ENTRY_SQL, PREMIERES_SQL
from tests.engines import POSTGRES, sqlite_only
from tests.store_probe import count, query_plan

SOURCE, DATE = "https://example.org/x", "2026-11-01"


def location(value: str) -> Fact:
    return Fact("filming_location", value, SOURCE, DATE, key=fact_key("filming_location", value))


async def test_search_finds_facts_with_their_entry_and_field(seeded: Store) -> None:
    hits = await seeded.facts.search("De Angelis")
    assert ("diana", "cast") in {(h.entry_slug, h.field) for h in hits}
    assert {h.entry_slug for h in await seeded.facts.search("Varun")} == {"honey-bunny"}
    assert await seeded.facts.search("zzzzqqq") == []
    assert await seeded.facts.search('"); DROP TABLE facts; --') == []
    assert count(seeded, "facts") > 0
    assert await seeded.facts.search("milá") != []  # accents fold both ways


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("De Angelis", '"De" "Angelis"*'),
        ('a" OR b', '"a" "OR" "b"*'),
        ("***", ""),
        ("NEAR(x)", '"NEAR" "x"*'),
    ],
)
def test_fts_queries_are_quoted(typed: str, query: str) -> None:
    assert fts_query(typed) == query


@sqlite_only
async def test_queries_for_one_entry_use_indexes(seeded: Store) -> None:
    plan = " | ".join(query_plan(seeded, FOR_ENTRY_SQL, ("diana",)))
    assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan


async def test_the_premieres_are_read_through_their_index_not_by_scanning_every_fact(seeded: Store) -> None:
    if not POSTGRES:  # SQLite's plan; PostgreSQL's planner chooses by its statistics
        plan = " | ".join(query_plan(seeded, PREMIERES_SQL, ()))
        assert "SCAN f USING INDEX facts_premieres" in plan, plan  # only the facts that are premieres
    assert await seeded.facts.premieres() == [
        ("mothership", "2023-04-28"),
        ("season-2", "Q2 2026"),
        ("diana", "2024-10-10"),
        ("honey-bunny", "2024-11-07"),
    ]


async def test_count_and_get(seeded: Store) -> None:
    assert await seeded.facts.count() == count(seeded, "facts")
    episodes = await seeded.facts.get("diana", "episodes", "")
    assert episodes is not None and episodes.value == "6" and episodes.revision_id
    assert await seeded.facts.get("diana", "episodes", "other") is None
    assert await seeded.facts.get("nothing", "episodes", "") is None
    assert await seeded.facts.for_entry("nothing") == []


async def test_add_edit_and_remove_are_revisions(seeded: Store) -> None:
    revisions = count(seeded, "revisions")
    added = await seeded.facts.add("diana", location("Turin"), "mod")
    stored = await seeded.facts.get("diana", "filming_location", "turin")
    assert stored is not None and stored.revision_id == added and stored.added_by == "mod"
    edited = await seeded.facts.edit("diana", "filming_location", "turin", location("Torino"), "mod")
    assert await seeded.facts.get("diana", "filming_location", "turin") is None  # a rename
    removed = await seeded.facts.remove("diana", "filming_location", "torino", "mod", "wrong city")
    assert added < edited < removed
    history = await seeded.history.for_entry("diana", "filming_location")
    assert [(r.action, r.key, r.reason) for r in history[-4:]] == [
        ("add", "turin", ""), ("remove", "turin", "renamed"), ("add", "torino", ""),
        ("remove", "torino", "wrong city"),
    ]  # fmt: skip
    assert count(seeded, "revisions") == revisions + 4


async def test_adding_what_is_there_is_refused_with_the_stored_value(seeded: Store) -> None:
    with pytest.raises(SameFact) as same:
        await seeded.facts.add("diana", Fact("episodes", "6", SOURCE, DATE), "mod")
    assert (same.value.field, same.value.value) == ("episodes", "6")
    with pytest.raises(FactExists) as exists:
        await seeded.facts.add("diana", Fact("episodes", "8", SOURCE, DATE), "mod")
    assert (exists.value.field, exists.value.stored) == ("episodes", "6")
    with pytest.raises(EntryNotFound) as missing:
        await seeded.facts.add("nothing", Fact("episodes", "8", SOURCE, DATE), "mod")
    assert missing.value.slug == "nothing"


async def test_edits_refused_carry_their_data(seeded: Store) -> None:
    revisions = count(seeded, "revisions")
    with pytest.raises(FactNotFound) as missing:
        await seeded.facts.edit("spain", "episodes", "", Fact("episodes", "8", SOURCE, DATE), "mod")
    assert (missing.value.entry, missing.value.field) == ("spain", "episodes")
    with pytest.raises(FactNotFound) as gone:
        await seeded.facts.remove("diana", "filming_location", "turin", "mod")
    assert (gone.value.entry, gone.value.field) == ("diana", "filming_location")
    with pytest.raises(ItemExists) as exists:
        await seeded.facts.edit("diana", "filming_location", "milan", location("Rome"), "mod")
    assert (exists.value.field, exists.value.value) == ("filming_location", "Rome")
    same = await seeded.facts.get("diana", "episodes", "")
    assert same is not None
    with pytest.raises(SameEdit) as unchanged:
        await seeded.facts.edit("diana", "episodes", "", same, "mod")
    assert unchanged.value.field == "episodes"
    assert count(seeded, "revisions") == revisions


async def test_an_edit_of_a_fact_changed_since_it_was_read_is_stale(seeded: Store) -> None:
    seen = await seeded.facts.get("diana", "episodes", "")
    assert seen is not None and seen.revision_id is not None
    await seeded.facts.edit("diana", "episodes", "", Fact("episodes", "7", SOURCE, DATE), "first mod")
    with pytest.raises(StaleEdit) as stale:
        await seeded.facts.edit(
            "diana", "episodes", "", Fact("episodes", "8", SOURCE, DATE), "second mod",
            expected_revision=seen.revision_id,
        )  # fmt: skip
    assert stale.value.field == "episodes"
    assert stale.value.current is not None and stale.value.current.value == "7"
    assert stale.value.current.added_by == "first mod"
    # The rename path checks the same, and says what is stored now.
    milan = await seeded.facts.get("diana", "filming_location", "milan")
    assert milan is not None and milan.revision_id is not None
    noted = Fact("filming_location", "Milan", SOURCE, DATE, key="milan", note="the city")
    await seeded.facts.edit("diana", "filming_location", "milan", noted, "first mod")
    with pytest.raises(StaleEdit) as renamed:
        await seeded.facts.edit(
            "diana", "filming_location", "milan", location("Milano"), "second mod",
            expected_revision=milan.revision_id,
        )  # fmt: skip
    assert renamed.value.field == "filming_location"
    assert renamed.value.current is not None and renamed.value.current.note == "the city"


async def test_put_fact_with_an_expected_revision_of_a_missing_fact_is_stale(seeded: Store) -> None:
    with pytest.raises(StaleEdit) as stale:
        async with seeded.transaction() as tx:
            await put_fact(tx, "diana", location("Turin"), "mod", expected_revision=1)
    assert stale.value.current is None and stale.value.field == "filming_location"


async def test_the_same_statement_again_is_not_a_revision(seeded: Store) -> None:
    stored = await seeded.facts.get("diana", "episodes", "")
    assert stored is not None
    async with seeded.transaction() as tx:
        assert await put_fact(tx, "diana", stored, "someone else") is None
