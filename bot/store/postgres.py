"""The PostgreSQL engine (DATABASE_URL): an asyncpg pool, the store's SQL translated in one place, its own
numbered migrations (migrations/postgresql/, numbered by the SQLite schema version each reaches), news of
other processes' commits by LISTEN/NOTIFY, and writers kept one at a time across processes by an
advisory lock, as SQLite's BEGIN IMMEDIATE keeps them (claims, which take their rows FOR UPDATE SKIP
LOCKED, run beside them).

asyncpg is imported only here, and this module only when a DATABASE_URL is given: a SQLite bot never
loads it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.clock import Clock, utc_now
from bot.store.database import MIGRATIONS_DIR, Database, Params, Row, StoreError, Transaction

log = logging.getLogger(__name__)
PG_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgresql"
MAX_RELISTEN_DELAY_S = 30
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
SCHEMA_TABLE = "citadel_schema"  # one row: the schema version (SQLite keeps it in PRAGMA user_version)
POOL_SIZE = 10
CONNECT_TIMEOUT_S = 10

# What reaching the server can fail with, besides the server's own errors.
CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def masked(url: str) -> str:
    """`url` with its password replaced by ***: what a log line or an error may show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def pg_migrations(directory: Path = PG_MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """PostgreSQL's migration files, in order. Each is numbered by the SQLite schema version it brings a
    store to (its first, 0014, is SQLite's 0001-0014 at once), so numbers rise but may skip."""
    found = sorted((int(m[1]), p) for p in directory.iterdir() if (m := _MIGRATION_NAME.match(p.name)))
    numbers = [number for number, _ in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two PostgreSQL migrations in {directory} have the same number")
    return found


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?")


@lru_cache(maxsize=1024)
def dialect_sql(sql: str) -> str:
    """The store's SQL (written for SQLite) as PostgreSQL takes it: `?` -> $1, $2… (not inside string
    literals), INSERT OR IGNORE -> ON CONFLICT DO NOTHING, and CROSS JOIN … ON (SQLite's way to fix the
    join order) -> JOIN … ON."""
    numbers = iter(range(1, sql.count("?") + 1))
    text = _PLACEHOLDER.sub(lambda m: m[0] if m[0] != "?" else f"${next(numbers)}", sql)
    if text.startswith("INSERT OR IGNORE INTO"):
        text = "INSERT INTO" + text.removeprefix("INSERT OR IGNORE INTO") + " ON CONFLICT DO NOTHING"
    return text.replace(" CROSS JOIN ", " JOIN ")


def _params(params: Params) -> list[Any]:
    # SQLite stores True as 1; PostgreSQL's integer columns take only ints.
    return [int(p) if isinstance(p, bool) else p for p in params]


def _writes(sql: str) -> bool:
    return sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")


def _changed(status: str) -> int:
    """How many rows a command changed, from its status ("UPDATE 3", "INSERT 0 1", "SELECT 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() and not status.startswith("SELECT") else 0


class PostgresTransaction(Transaction):
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, connection: asyncpg.Connection, clock: Clock, *, announce: bool) -> None:
        super().__init__(clock, announce=announce)
        self._connection: asyncpg.Connection | None = connection
        self.wrote = False  # whether any statement changed a row: only then are the others told

    @property
    def connection(self) -> asyncpg.Connection:
        if self._connection is None:
            raise RuntimeError("this transaction is over; open a new one with store.transaction()")
        return self._connection

    def _finish(self) -> None:
        self._connection = None

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row = await self.connection.fetchrow(dialect_sql(sql), *_params(params))
        self.wrote = self.wrote or (row is not None and _writes(sql))  # INSERT … RETURNING
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        rows = await self.connection.fetch(dialect_sql(sql), *_params(params))
        self.wrote = self.wrote or (bool(rows) and _writes(sql))  # UPDATE … RETURNING
        return list(rows)

    async def execute(self, sql: str, params: Params = ()) -> int:
        changed = _changed(await self.connection.execute(dialect_sql(sql), *_params(params)))
        self.wrote = self.wrote or changed > 0
        return changed

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        # All rows in one pipelined batch; each changed row returns one row, which is how they are counted
        # (asyncpg's executemany tells no counts). 10,000 deliveries planned: 0.3 s, not 1.1 s row by row.
        assert _writes(sql), sql
        batch = [_params(row) for row in rows]
        if not batch:
            return 0
        returned = await self.connection.fetchmany(f"{dialect_sql(sql)} RETURNING 1", batch)
        self.wrote = self.wrote or bool(returned)
        return len(returned)


class PostgresDatabase(Database):
    """The PostgreSQL engine: a pool of connections for reads and transactions, and one more that
    LISTENs for the other processes' commits."""

    dialect = "postgresql"
    errors = CONNECT_ERRORS

    def __init__(
        self, pool: asyncpg.Pool, listener: asyncpg.Connection, url: str, schema: str, clock: Clock
    ) -> None:
        super().__init__(clock)
        self._pool = pool
        self._listener = listener
        self.url = url
        # Processes sharing the store share its schema: its name keys the channel and the locks, so
        # stores in other schemas of the same database (tests give each its own) never wait on each other.
        self._channel = f"citadel_{zlib.crc32(schema.encode()):08x}"
        self._write_key = zlib.crc32(f"citadel write {schema}".encode()) - 2**31
        self._migrate_key = zlib.crc32(f"citadel migrate {schema}".encode()) - 2**31
        self._token = uuid.uuid4().hex  # our own NOTIFYs carry it and are not news to us
        self._news = 0  # other processes' commits heard of
        self._closing = False
        self._writers = asyncio.Lock()
        self._relistening: asyncio.Task[None] | None = None

    def error(self, error: BaseException) -> StoreError:
        return url_error(self.url, error)

    @classmethod
    async def connect(cls, url: str, clock: Clock = utc_now) -> PostgresDatabase:
        """Connect to the database at `url` (a pool and a listening connection). StoreError, naming
        DATABASE_URL without its password, when the server cannot be reached or refuses."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=POOL_SIZE, timeout=CONNECT_TIMEOUT_S, command_timeout=None
            )
        except CONNECT_ERRORS as exc:
            raise url_error(url, exc) from None
        try:
            listener = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
        except CONNECT_ERRORS as exc:
            await pool.close()
            raise url_error(url, exc) from None
        try:
            schema = await listener.fetchval("SELECT current_schema()")
            if schema is None:
                raise StoreError(
                    f"DATABASE_URL {masked(url)} names no schema the user may use (search_path): create one, "
                    "or grant the user the public schema."
                )
            database = cls(pool, listener, url, schema, clock)
            await database._check_version()
            await database._listen(listener)
        except BaseException as exc:
            await listener.close()
            await pool.close()
            if isinstance(exc, CONNECT_ERRORS):
                raise url_error(url, exc) from None
            raise
        return database

    async def _check_version(self) -> None:
        version, latest = await self.schema_version(), latest_pg_schema()
        if version > latest:
            raise StoreError(
                f"DATABASE_URL {masked(self.url)} was written by a newer citadel-bot (schema {version}; this "
                f"version knows up to {latest}): run the newer version."
            )

    async def _listen(self, listener: asyncpg.Connection) -> None:
        self._listener = listener
        await listener.add_listener(self._channel, self._heard)
        listener.add_termination_listener(self._lost)

    def _heard(self, connection: object, pid: int, channel: str, payload: str) -> None:
        if payload == self._token:
            return  # our own commit: on_change has run already
        self._tell()

    def _tell(self) -> None:
        self._news += 1
        for listener in self.on_news:
            listener()

    def _lost(self, connection: object) -> None:
        """The listening connection is gone (the server restarted, a network cut): listen again, and
        count it as news, since commits meanwhile went unheard."""
        if not self._closing:
            self._relistening = asyncio.create_task(self._relisten(), name="listen again")

    async def _relisten(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                await self._listen(await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S))
            except CONNECT_ERRORS as exc:
                log.warning("%s; listening again in %.0f s", url_error(self.url, exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RELISTEN_DELAY_S)
                continue
            self._tell()
            return

    async def close(self) -> None:
        self._closing = True
        if self._relistening is not None:
            self._relistening.cancel()
        await self._listener.close()
        await self._pool.close()

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._pool.fetchrow(dialect_sql(sql), *_params(params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._pool.fetch(dialect_sql(sql), *_params(params)))

    async def schema_version(self) -> int:
        exists = await self._pool.fetchval("SELECT to_regclass($1) IS NOT NULL", SCHEMA_TABLE)
        if not exists:
            return 0
        return int(await self._pool.fetchval(f"SELECT version FROM {SCHEMA_TABLE}") or 0)

    async def data_version(self) -> int:
        return self._news

    async def checkpoint(self) -> None:
        """Nothing to do: the server keeps its own files whole."""

    @asynccontextmanager
    async def transaction(self, *, announce: bool = True, serial: bool = True) -> AsyncIterator[Transaction]:
        # This process's writers queue here, not on the server: one pool connection at most waits for
        # the advisory lock, and the others stay free for reads (a transaction's body may read too).
        async with (
            self._writers if serial else contextlib.nullcontext(),
            self._transaction(announce=announce, serial=serial) as tx,
        ):
            yield tx

    @asynccontextmanager
    async def _transaction(self, *, announce: bool, serial: bool) -> AsyncIterator[Transaction]:
        async with self._pool.acquire() as connection, connection.transaction():
            if serial:  # one writer at a time across every process, as on SQLite
                await connection.execute("SELECT pg_advisory_xact_lock($1)", self._write_key)
            tx = PostgresTransaction(connection, self.clock, announce=announce)
            try:
                yield tx
            finally:
                tx._finish()
            if tx.wrote:  # delivered to the listeners when (and only if) the transaction commits
                await connection.execute("SELECT pg_notify($1, $2)", self._channel, self._token)
        if tx.changed:
            self.after_change()

    async def migrate(self) -> int:
        """Apply every PostgreSQL migration newer than the database, each in its own transaction under an
        advisory lock, so processes starting together apply each once."""
        current = await self.schema_version()
        for number, path in pg_migrations():
            if number <= current:
                continue
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", self._migrate_key)
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)"
                )
                current = int(await connection.fetchval(f"SELECT max(version) FROM {SCHEMA_TABLE}") or 0)
                if number <= current:
                    continue
                await connection.execute(path.read_text(encoding="utf-8"))
                await connection.execute(f"DELETE FROM {SCHEMA_TABLE}")
                await connection.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES ($1)", number)
                current = number
        return current


def latest_pg_schema() -> int:
    found = pg_migrations()
    return found[-1][0] if found else 0


def url_error(url: str, error: BaseException) -> StoreError:
    """The operator's one line for an error met reaching or using the database at `url`, without its
    password (not even where the driver's message repeats it)."""
    where = f"DATABASE_URL {masked(url)}"
    password = urlsplit(url).password
    text = " ".join(str(error).split()) or type(error).__name__
    if password:
        text = text.replace(password, "***")
    if isinstance(error, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        line = f"{where} refused the user and password ({text}): check both in DATABASE_URL"
    elif isinstance(error, asyncpg.InvalidCatalogNameError):
        line = f"{where} names a database the server does not have ({text}): create it (createdb), or fix the URL"
    elif isinstance(error, asyncpg.InsufficientPrivilegeError):
        line = f"{where} may not be used by its user ({text}): grant the user the database and its schema"
    elif isinstance(error, OSError | TimeoutError | asyncpg.InterfaceError):
        line = f"{where} cannot be reached ({text}): check that PostgreSQL runs there and the host and port are right"
    else:
        line = f"{where} cannot be used ({text})"
    return StoreError(line + ".")


Tables = dict[str, list[dict[str, Any]]]

_COLUMNS_SQL = (
    "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
    "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
    "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.is_generated = 'NEVER' "
    "ORDER BY c.table_name, c.column_name"
)
_KEYS_SQL = (
    "SELECT i.indrelid::regclass::text AS table_name, a.attname, array_position(i.indkey::int2[], a.attnum) AS n "
    "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
    "WHERE i.indisprimary AND i.indrelid::regclass::text = ANY ($1::text[]) ORDER BY 1, 3"
)


async def dump(store: Any, skip_tables: frozenset[str], skip_columns: Any) -> tuple[int, Tables]:
    """The schema version and every row of every table of the PostgreSQL store but `skip_tables` and the
    schema-version table, each without `skip_columns[table]` and derived (generated) columns, in primary
    key order: from one snapshot (a repeatable-read, read-only transaction)."""
    database = store._database
    assert isinstance(database, PostgresDatabase)
    async with database._pool.acquire() as connection, connection.transaction(
        isolation="repeatable_read", readonly=True
    ):
        version = int(await connection.fetchval(f"SELECT max(version) FROM {SCHEMA_TABLE}") or 0)
        columns: dict[str, list[str]] = {}
        text: set[tuple[str, str]] = set()
        for row in await connection.fetch(_COLUMNS_SQL):
            if row["data_type"] == "text":
                text.add((row["table_name"], row["column_name"]))
            name = row["table_name"]
            kept = name not in skip_tables and name != SCHEMA_TABLE
            if kept and row["column_name"] not in skip_columns.get(name, ()):
                columns.setdefault(name, []).append(row["column_name"])
        keys: dict[str, list[str]] = {}
        for row in await connection.fetch(_KEYS_SQL, list(columns)):
            keys.setdefault(row["table_name"], []).append(row["attname"])
        tables: Tables = {}
        for name, names in sorted(columns.items()):
            listed = ", ".join(f'"{c}"' for c in names)
            # Text compared byte by byte, as SQLite does, whatever the database's collation: the same
            # rows give the same export from either engine.
            order = ", ".join(
                f'"{c}"' + (' COLLATE "C"' if (name, c) in text else "") for c in keys.get(name, names)
            )
            rows = await connection.fetch(f'SELECT {listed} FROM "{name}" ORDER BY {order}')
            tables[name] = [dict(row) for row in rows]
    return version, tables


async def load(store: Any, tables: Tables) -> None:
    """Insert `tables` (rows by table name, as `dump` gives them) into the PostgreSQL store in one
    transaction, foreign keys checked at its end, identity columns moved past the ids given."""
    database = store._database
    assert isinstance(database, PostgresDatabase)
    async with database.transaction() as tx:
        assert isinstance(tx, PostgresTransaction)
        connection = tx.connection
        await connection.execute("SET CONSTRAINTS ALL DEFERRED")
        for name, rows in tables.items():
            for columns in {tuple(row) for row in rows}:
                same = [tuple(row.values()) for row in rows if tuple(row) == columns]
                marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
                listed = ", ".join(f'"{c}"' for c in columns)
                await connection.executemany(f'INSERT INTO "{name}" ({listed}) VALUES ({marks})', same)
        identities = await connection.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name = 'id' AND is_identity = 'YES'"
        )
        for row in identities:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{row[0]}\"', 'id'), "
                f'coalesce((SELECT max(id) FROM "{row[0]}"), 0) + 1, false)'
            )
        tx.wrote = True
