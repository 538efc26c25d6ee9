"""The catalogue service on a real store: entries resolved as fans type them, answers kept until the
facts change, and another process's changes noticed on the injected clock (no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from bot.errors import UnknownEntry
from bot.facts import Entry, Fact
from bot.services.catalogue import CHECK_EVERY, Catalogue
from bot.store import Store
from tests.engines import sqlite_only

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
SOURCE = "https://example.org/news"


@pytest.fixture
async def catalogue(seeded: Store) -> Catalogue:
    opened = Catalogue(seeded, ManualClock(NOW))
    await opened.open()
    return opened


async def test_entries_are_found_by_slug_title_alias_and_country(catalogue: Catalogue) -> None:
    assert [catalogue.resolve(q).slug for q in ("diana", "Citadel: Diana", "Italy", "India")] == [
        "diana",
        "diana",
        "diana",
        "honey-bunny",
    ]
    with pytest.raises(UnknownEntry) as raised:
        catalogue.resolve("Dianna")
    assert raised.value.query == "Dianna" and "Citadel: Diana" in raised.value.closest
    with pytest.raises(UnknownEntry) as raised:
        catalogue.resolve("   ")
    assert raised.value.query == "" and raised.value.closest == ()


async def test_an_answer_is_kept_until_this_process_changes_a_fact(
    catalogue: Catalogue, seeded: Store
) -> None:
    made: list[int] = []

    async def make() -> int:
        made.append(len(made))
        return len(made)

    assert [await catalogue.kept("q", make) for _ in range(3)] == [1, 1, 1]
    fact = Fact("episodes", "8", SOURCE, "2026-11-01")
    await seeded.facts.edit("diana", "episodes", "", fact, "mod (1)")  # the store tells the catalogue
    assert await catalogue.kept("q", make) == 2 and len(made) == 2


async def test_an_answer_made_while_the_facts_changed_is_sent_but_not_kept(
    catalogue: Catalogue, seeded: Store
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    answers = iter(["old", "new"])

    async def slow() -> str:
        started.set()
        await release.wait()
        return next(answers)

    asking = asyncio.create_task(catalogue.kept("q", slow))
    await started.wait()
    await seeded.facts.edit("diana", "episodes", "", Fact("episodes", "8", SOURCE, "2026-11-01"), "mod (1)")
    release.set()
    assert await asking == "old"  # made from the facts as they were when asked
    assert await catalogue.kept("q", slow) == "new"  # but not kept: made again


@sqlite_only  # PostgreSQL tells of another process's commit at once: tests/test_postgres.py
async def test_another_process_is_noticed_once_the_clock_passes_the_check_interval(
    catalogue: Catalogue, seeded: Store
) -> None:
    clock = catalogue.clock
    assert isinstance(clock, ManualClock)
    await catalogue.notice_changes()
    other = await Store.open(seeded.where)  # a second process sharing the file
    try:
        await other.entries.create(Entry("zeta-test", "Zeta", aliases=("Z",), position=90), "other (2)")
    finally:
        await other.close()
    await catalogue.notice_changes()
    assert "zeta-test" not in catalogue.entries.by_slug  # not looked again within CHECK_EVERY
    clock.advance(CHECK_EVERY)
    await catalogue.notice_changes()
    assert catalogue.resolve("Zeta").slug == "zeta-test"
    assert [e.slug for e in await catalogue.choices("zet")] == ["zeta-test"]


async def test_closing_the_catalogue_stops_listening_to_the_store(
    catalogue: Catalogue, seeded: Store
) -> None:
    assert seeded.on_change.count(catalogue.forget) == 1
    catalogue.close()
    assert catalogue.forget not in seeded.on_change
