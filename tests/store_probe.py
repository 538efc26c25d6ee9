"""Test-only looks into a store, through a connection of its own (on SQLite a read-only stdlib one): row
counts on either engine, and SQLite's query plans, which the bot itself never needs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from bot.store import Store
from tests.engines import execute, fetch, fetchval

TABLES = (
    "entries",
    "facts",
    "revisions",
    "canon_files",
    "canon_facts",
    "meta",
    "suggestions",
    "guild_settings",
    "change_events",
    "update_batches",
    "deliveries",
    "guild_events",
)


@contextmanager
def reading(where: Store | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store's file: it sees what the store committed, and writes nothing
    (not even to the write-ahead log)."""
    path = where.path if isinstance(where, Store) else where
    with closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as db:
        yield db


def count(where: Store | Path, table: str) -> int:
    """Rows in one of the store's tables."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    if isinstance(where, Store) and where.path is None:  # PostgreSQL
        return int(fetchval(str(where.where), f"SELECT count(*) FROM {table}"))
    with reading(where) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def select(where: Path | str, sql: str) -> list[tuple[object, ...]]:
    """The rows `sql` reads from the store at `where` (a SQLite file, or a PostgreSQL URL)."""
    if isinstance(where, str):
        return [tuple(row.values()) for row in fetch(where, sql)]
    with reading(where) as db:
        return db.execute(sql).fetchall()


def write(where: Path | str, sql: str) -> None:
    """Run one write on the store at `where` through a connection of its own, as another process would."""
    if isinstance(where, str):
        execute(where, sql)
        return
    with closing(sqlite3.connect(where, timeout=10)) as db:
        db.execute(sql)
        db.commit()


def query_plan(where: Store | Path, sql: str, params: Iterable[object] = ()) -> list[str]:
    """The details of SQLite's plan for `sql` (EXPLAIN QUERY PLAN), one per step."""
    with reading(where) as db:
        return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params))]
