"""The store's engine interface (reads, write transactions, migrations, news of other processes), its
SQLite engine (pragmas, numbered migrations, BEGIN IMMEDIATE), and the one slug -> id lookup. The
PostgreSQL engine is in bot/store/postgres.py."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import Clock, utc_now
from bot.errors import EntryNotFound

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
# Less free space than this where the database lives and the bot refuses to start: its write-ahead log
# and a day of deliveries must fit.
MIN_FREE_BYTES = 4 * 2**20

Params = Sequence[Any]


def sql_statements(script: str) -> list[str]:
    """The statements of a migration file, one by one (triggers' BEGIN…END kept whole), so they can
    run inside a transaction the store controls; executescript would commit on its own."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return [
        s
        for s in statements
        if not all(ln.strip().startswith("--") or not ln.strip() for ln in s.splitlines())
    ]


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered migration files, in order; numbers must run 1, 2, 3… without gaps."""
    found = sorted((int(m[1]), p) for p in directory.iterdir() if (m := _MIGRATION_NAME.match(p.name)))
    for expected, (number, path) in enumerate(found, start=1):
        if number != expected:
            raise RuntimeError(f"migration {path.name} is out of sequence: expected number {expected:04d}")
    return found


class StoreError(Exception):
    """The store cannot be used as it is. The message is one line for the operator: it names
    DATABASE_PATH and says what to do. Nothing was changed."""


def store_error(path: Path | str, error: BaseException) -> StoreError:
    """The operator's line for an error met while opening or first writing the store at `path`."""
    where = f"DATABASE_PATH {str(path)!r}"
    text = str(error).lower()
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        line = (
            f"{where} is not a SQLite database, or is damaged ({error}): point DATABASE_PATH at the bot's "
            "database, or restore a backup with `python -m bot restore`"
        )
    elif "readonly" in text or "read-only" in text or isinstance(error, PermissionError):
        line = (
            f"{where} is read-only ({error}): let the bot's user write the file and its folder (SQLite "
            "keeps -wal and -shm files beside it), or point DATABASE_PATH at a writable place"
        )
    elif "locked" in text or "busy" in text:
        line = (
            f"{where} stayed locked by another program for more than {BUSY_TIMEOUT_MS // 1000} s: close "
            "whatever holds it (a sqlite3 shell, a long backup) and start again"
        )
    elif "full" in text or getattr(error, "errno", None) == 28:
        line = f"{where} cannot be written: the disk is full ({error}); free some space and start again"
    elif "unable to open" in text or isinstance(error, OSError):
        line = (
            f"{where} cannot be opened ({error}): check that its folder exists and that the bot's user "
            "may write there"
        )
    else:
        line = f"{where} cannot be used ({error}): check the file, or restore a backup with `python -m bot restore`"
    return StoreError(line + ".")


def latest_schema() -> int:
    """The schema version this code brings a store to: its last migration's number."""
    found = migrations()
    return found[-1][0] if found else 0


def check_file(path: Path) -> None:
    """Refuse what SQLite would meet only halfway (a file that is not a database, a read-only file or
    folder, a full disk) before it is let near the file, so a refused file is never touched."""
    where = f"DATABASE_PATH {str(path)!r}"
    if path.exists():
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
        if head and head != SQLITE_MAGIC:
            raise StoreError(
                f"{where} is not a SQLite database (it starts with {head[:8]!r}): point DATABASE_PATH at "
                "the bot's database, or at a new file name to start a new one."
            )
        if not os.access(path, os.W_OK):
            raise StoreError(
                f"{where} is read-only: let the bot's user write it (chmod/chown), or point DATABASE_PATH "
                "at a writable copy."
            )
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if folder is None:
        return
    if not os.access(folder, os.W_OK):
        raise StoreError(
            f"{where} is in a read-only folder ({folder}): SQLite writes -wal and -shm files beside the "
            "database, so let the bot's user write the folder, or point DATABASE_PATH elsewhere."
        )
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise StoreError(
            f"{where} cannot be written: the disk is full ({free // 1024} KB free, the bot needs at least "
            f"{MIN_FREE_BYTES // 2**20} MB); free some space and start again."
        )


def _iso(clock: Clock) -> str:
    return clock().astimezone(UTC).isoformat(timespec="seconds")


Row = Any  # a row that indexes both by position and by column name (aiosqlite.Row, asyncpg.Record)


class Reads(ABC):
    """Queries: what a Database (between transactions) and an open Transaction (which sees its own
    writes) both read with. SQL is written for SQLite, `?` placeholders and all; the PostgreSQL engine
    translates it in one place (bot/store/postgres.py, `dialect_sql`)."""

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Transaction(Reads):
    """One open write transaction and its own state. Only `Database.transaction()` makes one, and it
    refuses every statement once the transaction is over; every helper that writes takes one as its
    first argument, so none can run outside a transaction.

    `announce`: whether its revisions are news (change events for the announcer); `changed`: whether
    it recorded any, so the store's `on_change` listeners run after it commits."""

    # What the subquery choosing the rows a claim takes ends with: nothing where one writer at a time
    # holds the whole database (SQLite); FOR UPDATE SKIP LOCKED where claimers run side by side.
    skip_locked = ""

    def __init__(self, clock: Clock, *, announce: bool) -> None:
        self.clock = clock
        self.announce = announce
        self.changed = False

    def now(self) -> str:
        return _iso(self.clock)

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement per row; returns how many rows they changed."""

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT of a table with an `id` column; returns the new row's id."""
        row = await self.fetchone(f"{sql} RETURNING id", params)
        assert row is not None
        return int(row[0])


class Database(Reads):
    """The narrow handle the store's parts share, whichever engine holds the data: reads, write
    transactions (one at a time, across every process sharing the store, unless a transaction asks
    for less), the clock, and the listeners of committed changes."""

    dialect = ""  # "sqlite" or "postgresql": only the store's own SQL may differ by it
    # The exceptions the engine's driver raises for what the operator must fix (`error` words them).
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Called after a transaction of this process that changed facts or entries commits (the
        # scheduler wakes up, kept answers are dropped).
        self.on_change: list[Callable[[], None]] = []
        # Called when another process is known to have committed, where the engine says so at once
        # (PostgreSQL's NOTIFY); on SQLite nobody calls them, and `data_version` is polled.
        self.on_news: list[Callable[[], None]] = []

    def now(self) -> str:
        return _iso(self.clock)

    def after_change(self) -> None:
        for listener in self.on_change:
            listener()

    @abstractmethod
    def error(self, error: BaseException) -> StoreError:
        """The operator's line for an error of the engine met while opening or writing the store."""

    @abstractmethod
    def transaction(
        self, *, announce: bool = True, serial: bool = True
    ) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction; rolled back on any exception. With `announce=False` its changes are
        history but not news (the first seeding of an empty store). With `serial=False` it may run
        beside other writers (a claim, whose one UPDATE takes its rows FOR UPDATE SKIP LOCKED); on an
        engine with one writer at a time that changes nothing."""

    @abstractmethod
    async def migrate(self) -> int:
        """Apply every migration newer than the database, each once however many processes start."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def data_version(self) -> int:
        """A number that moves when another process sharing the store commits."""

    @abstractmethod
    async def checkpoint(self) -> None:
        """Make the store's own files whole before they are copied (nothing to do on a server)."""

    @abstractmethod
    async def close(self) -> None: ...


class SqliteReads(Reads):
    """Reads on the one aiosqlite connection."""

    @property
    def connection(self) -> aiosqlite.Connection:
        raise NotImplementedError

    # Each read runs whole in one call to aiosqlite's thread. A statement left open between two awaits
    # (execute, then fetch) would hold a read snapshot on the shared connection while other coroutines
    # run; a write transaction begun meanwhile, after another process committed, would then fail at
    # once with "database is locked" instead of waiting out the busy timeout.

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.connection.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.connection.execute_fetchall(sql, params))


class SqliteTransaction(SqliteReads, Transaction):
    def __init__(self, connection: aiosqlite.Connection, clock: Clock, *, announce: bool) -> None:
        super().__init__(clock, announce=announce)
        self._connection: aiosqlite.Connection | None = connection

    @property
    def connection(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise RuntimeError("this transaction is over; open a new one with store.transaction()")
        return self._connection

    def _finish(self) -> None:
        self._connection = None

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.connection.execute(sql, params) as cursor:
            return max(cursor.rowcount, 0)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        connection = self.connection
        before = connection.total_changes
        async with connection.executemany(sql, rows):
            pass
        return connection.total_changes - before


class SqliteDatabase(SqliteReads, Database):
    """The SQLite engine: one connection to the file, shared by every coroutine of the process."""

    dialect = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, connection: aiosqlite.Connection, path: Path | str, clock: Clock = utc_now) -> None:
        super().__init__(clock)
        self._connection = connection
        self.path = path
        # One connection is shared by every coroutine; the lock keeps one write transaction at a time.
        self._write_lock = asyncio.Lock()

    def error(self, error: BaseException) -> StoreError:
        return store_error(self.path, error)

    @classmethod
    async def connect(cls, path: Path | str, clock: Clock = utc_now) -> SqliteDatabase:
        """Open (creating if needed) the database file at `path`, with the store's pragmas.

        StoreError, with the file untouched and nothing left open, when it is not a SQLite database,
        was written by a newer version of the bot, or cannot be opened."""
        try:
            if str(path) != ":memory:":
                check_file(Path(path))
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(str(path), isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(path, exc) from None
        connection.row_factory = aiosqlite.Row
        try:
            await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            async with connection.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            version, latest = int(row[0]) if row else 0, latest_schema()
            if version > latest:
                raise StoreError(
                    f"DATABASE_PATH {str(path)!r} was written by a newer citadel-bot (schema {version}; this "
                    f"version knows up to {latest}): run the newer version, or restore a backup this version made."
                )
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA synchronous = NORMAL")
            await connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            await connection.close()
            raise store_error(path, exc) from None
        except BaseException:
            await connection.close()
            raise
        return cls(connection, path, clock)

    @property
    def connection(self) -> aiosqlite.Connection:
        return self._connection

    async def close(self) -> None:
        await self.connection.close()

    async def pragma(self, name: str) -> int:
        row = await self.fetchone(f"PRAGMA {name}")
        return int(row[0]) if row else 0

    async def schema_version(self) -> int:
        return await self.pragma("user_version")

    async def data_version(self) -> int:
        return await self.pragma("data_version")

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and truncate it (before copying the file)."""
        await self.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")

    @asynccontextmanager
    async def transaction(self, *, announce: bool = True, serial: bool = True) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            tx = SqliteTransaction(self.connection, self.clock, announce=announce)
            begin = asyncio.ensure_future(self.connection.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
            except asyncio.CancelledError:
                # Cancelled while SQLite was beginning (perhaps waiting out the busy timeout): the BEGIN
                # still runs in aiosqlite's thread, so wait for it and roll back, or the write lock
                # would stay held and every later write, in every process, would find it locked.
                with suppress(Exception):
                    await begin
                if self.connection.in_transaction:
                    await self.connection.execute("ROLLBACK")
                raise
            try:
                yield tx
                tx._finish()
                await self.connection.execute("COMMIT")
            except BaseException:
                tx._finish()
                if self.connection.in_transaction:
                    await self.connection.execute("ROLLBACK")
                raise
        if tx.changed:
            self.after_change()

    async def migrate(self) -> int:
        """Apply every migration newer than the database, each in its own transaction.

        The version is read again after taking the write lock, so processes sharing the file
        (one per group of shards) can start at the same time and apply each migration once."""
        current = await self.pragma("user_version")
        for number, path in migrations():
            if number <= current:
                continue
            await self.connection.execute("BEGIN IMMEDIATE")
            current = await self.pragma("user_version")
            if number <= current:
                await self.connection.execute("COMMIT")
                continue
            try:
                for statement in sql_statements(path.read_text(encoding="utf-8")):
                    await self.connection.execute(statement)
                await self.connection.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                await self.connection.execute("ROLLBACK")
                raise
            await self.connection.execute("COMMIT")  # the schema change and its version, together
            current = number
        return current


async def entry_id(reader: Reads, slug: str, *, removed: bool = False) -> int:
    """The id of the entry `slug`: the one slug -> id lookup. EntryNotFound when there is none; with
    `removed`, a removed entry counts too (its revisions, deliveries and events still point at it)."""
    sql = (
        "SELECT id FROM entries WHERE slug = ?"
        if removed
        else ("SELECT id FROM entries WHERE slug = ? AND removed_at IS NULL")
    )
    row = await reader.fetchone(sql, (slug,))
    if row is None:
        raise EntryNotFound(slug)
    return int(row[0])
