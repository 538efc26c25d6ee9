"""Which engine the tests run on: SQLite files in tmp_path, or, when CITADEL_TEST_DATABASE_URL names a
PostgreSQL server (`python -m tests.postgres python -m pytest` starts one), a fresh empty schema per
store in one database of that server. Tests about SQLite's own files (a damaged file, WAL, checkpoints,
the online backup) are marked `sqlite_only`."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

URL_ENV = "CITADEL_TEST_DATABASE_URL"
SERVER_URL = os.environ.get(URL_ENV) or None
POSTGRES = SERVER_URL is not None
ENGINE = "postgresql" if POSTGRES else "sqlite"
TEST_DATABASE = "citadel_tests"

sqlite_only = pytest.mark.skipif(POSTGRES, reason="about SQLite's own files; runs in the SQLite run")
postgres_only = pytest.mark.skipif(
    not POSTGRES, reason="needs PostgreSQL: run `python -m tests.postgres python -m pytest`"
)

_numbers = itertools.count(1)


def with_database(url: str, database: str, **query: str) -> str:
    """`url` pointed at another database, with these query parameters (server settings) added."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query)) | query
    return urlunsplit(parts._replace(path=f"/{database}", query=urlencode(params)))


class _Admin:
    """One superuser connection, on a loop in its own thread, so that sync and async code alike (fixtures,
    make_settings) can make a schema without an event loop of their own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="postgres admin").start()
        self.connection: Any = None

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _setup(self) -> None:
        import asyncpg

        server = await asyncpg.connect(self.url)
        try:
            if not await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", TEST_DATABASE):
                await server.execute(f"CREATE DATABASE {TEST_DATABASE}")
        finally:
            await server.close()
        self.connection = await asyncpg.connect(with_database(self.url, TEST_DATABASE))
        # What the schema's first migration would create; made once here, as a database's owner would.
        await self.connection.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")

    async def _fetchval(self, url: str, sql: str) -> Any:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            return await connection.fetchval(sql)
        finally:
            await connection.close()

    async def _fetch(self, url: str, sql: str) -> list[dict[str, Any]]:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            return [dict(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    async def _schema(self, name: str) -> None:
        if self.connection is None:
            await self._setup()
        await self.connection.execute(f"CREATE SCHEMA {name}")


_admin: _Admin | None = None


def new_database(tmp_path: Path, name: str = "citadel") -> Path | str:
    """Where a new, empty store goes: a SQLite file in tmp_path, or a DATABASE_URL of a new schema."""
    global _admin
    if SERVER_URL is None:
        return tmp_path / f"{name}.sqlite3"
    if _admin is None:
        _admin = _Admin(SERVER_URL)
    schema = f"t{os.getpid()}_{next(_numbers)}"
    _admin.run(_admin._schema(schema))
    return with_database(SERVER_URL, TEST_DATABASE, search_path=schema)


def fetchval(url: str, sql: str) -> Any:
    """The first value `sql` reads from the PostgreSQL store at `url`, on a connection of its own (a
    test's look into a store, which the bot never needs): callable from sync and async code alike."""
    global _admin
    if _admin is None:
        _admin = _Admin(url)
    return _admin.run(_admin._fetchval(url, sql))


def fetch(url: str, sql: str) -> list[dict[str, Any]]:
    """The rows `sql` reads from the PostgreSQL store at `url` (see `fetchval`)."""
    global _admin
    if _admin is None:
        _admin = _Admin(url)
    return list(_admin.run(_admin._fetch(url, sql)))


def execute(url: str, sql: str) -> None:
    """Run one statement on the PostgreSQL store at `url`, on a connection of its own (see `fetchval`)."""
    fetch(url, sql)


def admin_url() -> str:
    """The test database's superuser URL (no schema chosen)."""
    assert SERVER_URL is not None
    return with_database(SERVER_URL, TEST_DATABASE)
