"""The store: `Store` opens the database (a SQLite file, or PostgreSQL at a DATABASE_URL) and holds one
object per concern (entries, facts, history…). Nothing outside bot/store knows which engine it runs on."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from bot.clock import Clock, utc_now
from bot.store.canon import CanonSnapshots
from bot.store.database import (
    BUSY_TIMEOUT_MS,
    MIGRATIONS_DIR,
    Database,
    SqliteDatabase,
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
    "is_database_url",
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

    def __init__(self, database: Database, path: Path | None) -> None:
        self._database = database
        self.path = path  # the SQLite file it was opened from (None on PostgreSQL)
        self.where: Path | str = path if path is not None else getattr(database, "url", "")  # path or URL
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
    async def open(cls, where: Path | str, clock: Clock = utc_now) -> Store:
        """Open (creating if needed) the store and bring its schema up to date: a SQLite file at the path
        `where`, or the PostgreSQL database at `where` when it is a postgresql:// URL (DATABASE_URL)."""
        database: Database
        if is_database_url(where):
            from bot.store.postgres import PostgresDatabase  # asyncpg is loaded only for PostgreSQL

            database = await PostgresDatabase.connect(str(where), clock)
            store = cls(database, None)
        else:
            database = await SqliteDatabase.connect(where, clock)
            store = cls(database, Path(where))
        try:
            await store.migrate()
        except database.errors as exc:
            await database.close()
            raise database.error(exc) from None
        except BaseException:
            await database.close()
            raise
        return store

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What the engine's driver raises for a store that cannot be used (`error` words it)."""
        return self._database.errors

    def error(self, error: BaseException) -> StoreError:
        """The operator's one line for `error`, naming DATABASE_PATH or DATABASE_URL (never its password)."""
        return self._database.error(error)

    @property
    def on_news(self) -> list[Callable[[], None]]:
        """Called when another process sharing the store has committed, on an engine that says so at once
        (PostgreSQL); elsewhere `data_version` is polled."""
        return self._database.on_news

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
        return await self._database.schema_version()

    async def data_version(self) -> int:
        """Changes when another process sharing the store commits; see on_change for this process's own
        commits."""
        return await self._database.data_version()

    async def checkpoint(self) -> None:
        """Make the store's files whole for a copy (SQLite: the write-ahead log into the database file)."""
        await self._database.checkpoint()


def is_database_url(where: Path | str) -> bool:
    """Whether `where` names a PostgreSQL database (postgresql:// or postgres://) rather than a file."""
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))
