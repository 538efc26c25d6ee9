"""The SQLite store: `Store` opens the file and holds one object per concern (entries, facts, history…)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from bot.clock import Clock, utc_now
from bot.store.canon import CanonSnapshots
from bot.store.database import (
    BUSY_TIMEOUT_MS,
    MIGRATIONS_DIR,
    Database,
    StoreError,
    Transaction,
    check_file,
    entry_id,
    migrations,
    sql_statements,
    store_error,
)
from bot.store.entries import Entries, upsert_entry
from bot.store.facts import Facts, SearchHit, canon_fact_content, fts_query, put_fact, remove_fact
from bot.store.follows import FollowerRoles
from bot.store.history import History
from bot.store.leases import ShardLeases
from bot.store.meta import Meta
from bot.store.outbox import Batch, Delivery, Outbox
from bot.store.processes import Processes, ProcessInfo
from bot.store.reminders import Reminders
from bot.store.revisions import ENTRY_FIELD, Revision, record_revision
from bot.store.servers import GuildSettings, Servers, Shards
from bot.store.sessions import GatewaySession, GatewaySessions
from bot.store.suggestions import Suggestion, Suggestions
from bot.store.watch import WATCHER_USER_ID, SourceState, Watch

__all__ = [
    "BUSY_TIMEOUT_MS",
    "ENTRY_FIELD",
    "MIGRATIONS_DIR",
    "WATCHER_USER_ID",
    "Batch",
    "Delivery",
    "GatewaySession",
    "GuildSettings",
    "ProcessInfo",
    "Revision",
    "SearchHit",
    "Shards",
    "SourceState",
    "Store",
    "StoreError",
    "Suggestion",
    "Transaction",
    "canon_fact_content",
    "check_file",
    "entry_id",
    "fts_query",
    "migrations",
    "put_fact",
    "record_revision",
    "remove_fact",
    "sql_statements",
    "store_error",
    "upsert_entry",
]


class Store:
    """All reads and writes of the bot's data, one attribute per concern. Open with `await Store.open(path)`.

    Reads run on their own; every write is one transaction. To group writes, open `transaction()` and
    pass the Transaction it yields to the write helpers (`put_fact`, `remove_fact`, `upsert_entry`…)."""

    def __init__(self, database: Database, path: Path) -> None:
        self._database = database
        self.path = path  # the file it was opened from
        self.entries = Entries(database)
        self.facts = Facts(database)
        self.history = History(database)
        self.suggestions = Suggestions(database)
        self.servers = Servers(database)
        self.outbox = Outbox(database)
        self.meta = Meta(database)
        self.canon = CanonSnapshots(database)
        self.watch = Watch(database)
        self.processes = Processes(database)
        self.follower_roles = FollowerRoles(database)
        self.reminders = Reminders(database)
        self.gateway_sessions = GatewaySessions(database)
        self.shard_leases = ShardLeases(database)

    @classmethod
    async def open(cls, path: Path | str, clock: Clock = utc_now) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        database = await Database.connect(path, clock)
        store = cls(database, Path(path))
        try:
            await store.migrate()
        except sqlite3.Error as exc:
            await database.close()
            raise store_error(path, exc) from None
        except BaseException:
            await database.close()
            raise
        return store

    async def close(self) -> None:
        await self._database.close()

    @property
    def on_change(self) -> list[Callable[[], None]]:
        """Called after a transaction that changed facts or entries commits (the scheduler wakes up)."""
        return self._database.on_change

    def transaction(self, *, announce: bool = True) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction (`async with store.transaction() as tx`), rolled back on any exception.
        With `announce=False` its changes are history but not news (the first seeding of an empty store)."""
        return self._database.transaction(announce=announce)

    def now(self) -> str:
        return self._database.now()

    # --- schema and maintenance ------------------------------------------------------------------

    async def migrate(self) -> int:
        """Apply every migration newer than the database; returns the schema version."""
        return await self._database.migrate()

    async def schema_version(self) -> int:
        return await self._database.pragma("user_version")

    async def data_version(self) -> int:
        """Changes when another connection (another process sharing the file) commits; see on_change
        for this connection's own commits."""
        return await self._database.pragma("data_version")

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and truncate it (before copying the file)."""
        await self._database.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
