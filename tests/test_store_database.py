"""The connection and its transactions (bot/store/database.py and Store): migrations, pragmas, rollback,
per-transaction state, and the listeners of committed changes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.errors import EntryNotFound
from bot.facts import Fact
from bot.store import BUSY_TIMEOUT_MS, Store, Transaction, entry_id, migrations, put_fact, remove_fact
from bot.store.database import SqliteDatabase, sql_statements
from tests.engines import sqlite_only
from tests.store_probe import count

FACT = Fact("episodes", "7", "https://example.org/episodes", "2026-11-01")


@sqlite_only
async def test_migrations_build_the_schema_from_empty_and_record_its_version(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(migrations()) >= 1
        assert await store.migrate() == len(migrations())  # a second run applies nothing
    finally:
        await store.close()
    db = sqlite3.connect(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {"entries", "facts", "revisions", "facts_fts", "meta", "canon_files", "canon_facts"} <= tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_migration_statements_keep_triggers_whole_and_drop_comments() -> None:
    script = (
        "-- a comment\nCREATE TABLE t (x);\nCREATE TRIGGER g AFTER INSERT ON t\nBEGIN\n    SELECT 1;\nEND;\n"
    )
    assert sql_statements(script) == [
        "-- a comment\nCREATE TABLE t (x);",
        "CREATE TRIGGER g AFTER INSERT ON t\nBEGIN\n    SELECT 1;\nEND;",
    ]


@sqlite_only
async def test_connection_pragmas(tmp_path: Path) -> None:
    db = await SqliteDatabase.connect(tmp_path / "pragmas.sqlite3")
    try:
        assert await db.pragma("foreign_keys") == 1
        assert await db.pragma("busy_timeout") == BUSY_TIMEOUT_MS
    finally:
        await db.close()


async def test_a_failed_transaction_changes_nothing(seeded: Store) -> None:
    before = count(seeded, "facts"), count(seeded, "revisions")
    with pytest.raises(RuntimeError):
        async with seeded.transaction() as tx:
            await remove_fact(tx, "diana", "status", "", "mod")
            raise RuntimeError("crash in the middle of an edit")
    assert (count(seeded, "facts"), count(seeded, "revisions")) == before


async def test_a_transaction_refuses_every_statement_once_it_is_over(seeded: Store) -> None:
    async with seeded.transaction() as tx:
        pass
    with pytest.raises(RuntimeError, match="transaction is over"):
        await put_fact(tx, "diana", FACT, "mod")
    with pytest.raises(RuntimeError, match="transaction is over"):
        async with seeded.transaction() as failed:
            raise RuntimeError("transaction is over: the next statement would be refused")
    with pytest.raises(RuntimeError, match="transaction is over"):
        await failed.execute("DELETE FROM facts")
    assert (await seeded.facts.get("diana", "episodes", "")) != FACT


async def test_per_transaction_state_does_not_leak_into_the_next_transaction(seeded: Store) -> None:
    changes: list[int] = []
    seeded.on_change.append(lambda: changes.append(1))
    async with seeded.transaction(announce=False) as quiet:
        await put_fact(quiet, "diana", FACT, "mod")
    assert quiet.announce is False and quiet.changed is False
    assert count(seeded, "change_events") == 0 and changes == []
    async with seeded.transaction() as loud:
        await put_fact(loud, "diana", Fact("episodes", "8", FACT.source, FACT.source_date), "mod")
    assert loud.announce is True and loud.changed is True
    assert count(seeded, "change_events") == 1 and changes == [1]


async def test_a_quiet_transaction_waiting_for_the_lock_does_not_silence_the_open_one(seeded: Store) -> None:
    """Two transactions at once: the state of the one waiting for the write lock is its own."""
    started, queued = asyncio.Event(), asyncio.Event()

    async def loud() -> None:
        async with seeded.transaction() as tx:
            started.set()
            # Set just before the quiet one asks for the lock: it runs on, without yielding, until it
            # waits for the lock, so when this wakes up the quiet one is queued behind it.
            await queued.wait()
            await put_fact(tx, "diana", FACT, "mod")

    async def quiet() -> None:
        await started.wait()
        queued.set()
        async with seeded.transaction(announce=False) as tx:
            await put_fact(tx, "season-2", FACT, "mod")

    await asyncio.gather(loud(), quiet())
    assert count(seeded, "change_events") == 1


async def test_listeners_run_after_a_commit_that_changed_facts_not_after_a_rollback(seeded: Store) -> None:
    seen: list[int] = []
    seeded.on_change.append(lambda: seen.append(count(seeded, "change_events")))
    with pytest.raises(RuntimeError):
        async with seeded.transaction() as tx:
            await put_fact(tx, "diana", FACT, "mod")
            raise RuntimeError("rolled back")
    await seeded.meta.set("k", "v")  # a commit, but not a change of facts or entries
    assert seen == []
    await seeded.facts.edit("diana", "episodes", "", FACT, "mod")
    assert seen == [1]  # after the commit: a listener sees the change


async def test_the_slug_lookup_finds_removed_entries_only_when_asked(seeded: Store) -> None:
    async with seeded.transaction() as tx:
        diana = await entry_id(tx, "diana")
    await seeded.entries.retire("diana", "mod", force=True)
    async with seeded.transaction() as tx:
        with pytest.raises(EntryNotFound) as missing:
            await entry_id(tx, "diana")
        assert missing.value.slug == "diana"
        assert await entry_id(tx, "diana", removed=True) == diana
        with pytest.raises(EntryNotFound):
            await entry_id(tx, "nothing", removed=True)


async def test_write_helpers_take_a_transaction() -> None:
    """Writing outside a transaction is impossible by construction: each helper's first parameter is a
    Transaction, which only `transaction()` makes (and mypy checks every call)."""
    import inspect

    for helper in (put_fact, remove_fact):
        first = next(iter(inspect.signature(helper).parameters.values()))
        assert first.name == "tx" and first.annotation in ("Transaction", Transaction)


@sqlite_only
async def test_a_checkpoint_empties_the_write_ahead_log(seeded: Store, tmp_path: Path) -> None:
    await seeded.checkpoint()
    assert (tmp_path / "citadel.sqlite3-wal").stat().st_size == 0
    assert count(seeded, "entries") == 6
