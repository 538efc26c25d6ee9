"""The SQLite store: one aiosqlite connection, pragmas, numbered migrations and every query. No Discord here."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path

import aiosqlite

from bot.clock import Clock, utc_now
from bot.facts import Entry, Fact

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """Base of the store's named errors; messages are safe to show to a user."""


class NotFound(StoreError):
    pass


@dataclass(frozen=True)
class SearchHit:
    entry_slug: str
    entry_title: str
    field: str
    value: str
    note: str
    source: str
    source_date: str


@dataclass(frozen=True)
class Revision:
    id: int
    entry_slug: str
    field: str
    key: str
    action: str
    old: dict[str, str] | None
    new: dict[str, str] | None
    who: str
    at: str
    reason: str


# What a revision records about a fact: its content and provenance, not its row bookkeeping.
_FACT_CONTENT = ("value", "note", "source", "source_date", "added_by", "added_at")


def fact_content(fact: Fact) -> dict[str, str]:
    data = asdict(fact)
    return {name: data[name] for name in _FACT_CONTENT}


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered migration files, in order; numbers must run 1, 2, 3… without gaps."""
    found = sorted((int(m[1]), p) for p in directory.iterdir() if (m := _MIGRATION_NAME.match(p.name)))
    for expected, (number, path) in enumerate(found, start=1):
        if number != expected:
            raise RuntimeError(f"migration {path.name} is out of sequence: expected number {expected:04d}")
    return found


class Store:
    """All reads and writes of the bot's data. Open with `await Store.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock
        # One connection is shared by every coroutine; the lock keeps one write transaction at a time.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, clock: Clock = utc_now) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        store = cls(db, clock)
        try:
            await store.migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    # --- schema ----------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than the database, each in its own transaction."""
        current = await self.schema_version()
        for number, path in migrations():
            if number <= current:
                continue
            sql = path.read_text(encoding="utf-8")
            # executescript runs the whole file; wrapping it makes the schema and its version atomic.
            await self._db.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            current = number
        return current

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; rolled back on any exception."""
        async with self._write_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    def now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="seconds")

    # --- metadata --------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return row["value"] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- reading ---------------------------------------------------------------------------------

    @staticmethod
    def _entry(row: aiosqlite.Row) -> Entry:
        return Entry(
            slug=row["slug"],
            title=row["title"],
            description=row["description"],
            aliases=tuple(json.loads(row["aliases"])),
            parent=row["parent_slug"],
            position=row["position"],
        )

    _ENTRY_COLUMNS = (
        "e.slug, e.title, e.description, e.aliases, e.position, p.slug AS parent_slug "
        "FROM entries e LEFT JOIN entries p ON p.id = e.parent_id"
    )

    async def entries(self) -> list[Entry]:
        """Every entry, in franchise order."""
        async with self._db.execute(f"SELECT {self._ENTRY_COLUMNS} ORDER BY e.position, e.slug") as cursor:
            return [self._entry(row) for row in await cursor.fetchall()]

    async def entry(self, slug: str) -> Entry | None:
        async with self._db.execute(f"SELECT {self._ENTRY_COLUMNS} WHERE e.slug = ?", (slug,)) as cursor:
            row = await cursor.fetchone()
        return self._entry(row) if row else None

    FACTS_FOR_SQL = (
        "SELECT f.field, f.key, f.value, f.note, f.source, f.source_date, f.added_by, f.added_at, f.position "
        "FROM facts f WHERE f.entry_id = (SELECT id FROM entries WHERE slug = ?) "
        "ORDER BY f.field, f.position, f.id"
    )

    async def facts_for(self, slug: str) -> list[Fact]:
        """The current facts of one entry (an index lookup: cost does not grow with other entries)."""
        async with self._db.execute(self.FACTS_FOR_SQL, (slug,)) as cursor:
            return [Fact(**dict(row)) for row in await cursor.fetchall()]

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Facts whose text matches every word of `query` (prefix match on the last), best first."""
        match = fts_query(query)
        if not match:
            return []
        sql = (
            "SELECT e.slug, e.title, f.field, f.value, f.note, f.source, f.source_date FROM facts_fts "
            "JOIN facts f ON f.id = facts_fts.rowid JOIN entries e ON e.id = f.entry_id "
            "WHERE facts_fts MATCH ? ORDER BY bm25(facts_fts), e.position, f.id LIMIT ?"
        )
        async with self._db.execute(sql, (match, limit)) as cursor:
            return [SearchHit(*row) for row in await cursor.fetchall()]

    async def revisions_for(self, slug: str, field: str | None = None) -> list[Revision]:
        sql = (
            "SELECT r.id, e.slug, r.field, r.key, r.action, r.old, r.new, r.who, r.at, r.reason "
            "FROM revisions r JOIN entries e ON e.id = r.entry_id WHERE e.slug = ?"
        )
        params: list[str] = [slug]
        if field is not None:
            sql += " AND r.field = ?"
            params.append(field)
        async with self._db.execute(sql + " ORDER BY r.id", params) as cursor:
            rows = await cursor.fetchall()
        return [
            Revision(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                json.loads(row[5]) if row[5] else None,
                json.loads(row[6]) if row[6] else None,
                row[7],
                row[8],
                row[9],
            )  # fmt: skip
            for row in rows
        ]

    async def count(self, table: str) -> int:
        """Rows in one of the store's tables (for tests, the CLI and the benchmark)."""
        if table not in ("entries", "facts", "revisions", "canon_files", "canon_facts", "meta"):
            raise ValueError(f"unknown table {table!r}")
        async with self._db.execute(f"SELECT count(*) FROM {table}") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def query_plan(self, sql: str, params: Iterable[object]) -> list[str]:
        async with self._db.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params)) as cursor:
            return [row["detail"] for row in await cursor.fetchall()]

    # --- writing (call inside `transaction()`) ---------------------------------------------------

    async def _entry_id(self, db: aiosqlite.Connection, slug: str) -> int:
        async with db.execute("SELECT id FROM entries WHERE slug = ?", (slug,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"There is no entry {slug!r}.")
        return int(row[0])

    async def upsert_entry(self, db: aiosqlite.Connection, entry: Entry) -> None:
        """Create an entry or update its attributes (its parent must exist already)."""
        parent_id = await self._entry_id(db, entry.parent) if entry.parent else None
        now = self.now()
        await db.execute(
            "INSERT INTO entries (slug, title, description, aliases, parent_id, position, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET title = excluded.title, "
            "description = excluded.description, aliases = excluded.aliases, parent_id = excluded.parent_id, "
            "position = excluded.position, updated_at = excluded.updated_at",
            (
                entry.slug,
                entry.title,
                entry.description,
                json.dumps(list(entry.aliases)),
                parent_id,
                entry.position,
                now,
                now,
            ),  # fmt: skip
        )

    async def put_fact(
        self, db: aiosqlite.Connection, slug: str, fact: Fact, who: str, reason: str = ""
    ) -> int | None:
        """Add or change one fact and record the revision; returns its id, or None if nothing changed."""
        entry_id = await self._entry_id(db, slug)
        async with db.execute(
            "SELECT id, value, note, source, source_date, added_by, added_at FROM facts "
            "WHERE entry_id = ? AND field = ? AND key = ?",
            (entry_id, fact.field, fact.key),
        ) as cursor:
            row = await cursor.fetchone()
        new = fact_content(fact)
        if row is not None:
            old = {name: row[name] for name in _FACT_CONTENT}
            if all(old[k] == new[k] for k in _COMPARED):
                # Same statement from the same source: not a revision (order within a field is not content).
                await db.execute("UPDATE facts SET position = ? WHERE id = ?", (fact.position, row["id"]))
                return None
            await db.execute(
                "UPDATE facts SET value = ?, note = ?, source = ?, source_date = ?, added_by = ?, added_at = ?, "
                "position = ? WHERE id = ?",
                (*(new[k] for k in _FACT_CONTENT), fact.position, row["id"]),
            )
            return await self._revise(db, entry_id, fact.field, fact.key, "edit", old, new, who, reason)
        await db.execute(
            "INSERT INTO facts (entry_id, field, key, value, note, source, source_date, added_by, added_at, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, fact.field, fact.key, *(new[k] for k in _FACT_CONTENT), fact.position),
        )
        return await self._revise(db, entry_id, fact.field, fact.key, "add", None, new, who, reason)

    async def remove_fact(
        self, db: aiosqlite.Connection, slug: str, field: str, key: str, who: str, reason: str = ""
    ) -> int | None:
        """Remove one fact, recording the removal as a revision; None if there was no such fact."""
        entry_id = await self._entry_id(db, slug)
        async with db.execute(
            "SELECT id, value, note, source, source_date, added_by, added_at FROM facts "
            "WHERE entry_id = ? AND field = ? AND key = ?",
            (entry_id, field, key),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        await db.execute("DELETE FROM facts WHERE id = ?", (row["id"],))
        old = {name: row[name] for name in _FACT_CONTENT}
        return await self._revise(db, entry_id, field, key, "remove", old, None, who, reason)

    async def _revise(
        self,
        db: aiosqlite.Connection,
        entry_id: int,
        field: str,
        key: str,
        action: str,
        old: dict[str, str] | None,
        new: dict[str, str] | None,
        who: str,
        reason: str,
    ) -> int:
        cursor = await db.execute(
            "INSERT INTO revisions (entry_id, field, key, action, old, new, who, at, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry_id,
                field,
                key,
                action,
                json.dumps(old, ensure_ascii=False) if old else None,
                json.dumps(new, ensure_ascii=False) if new else None,
                who,
                self.now(),
                reason,
            ),  # fmt: skip
        )
        return int(cursor.lastrowid or 0)

    # --- canon snapshot --------------------------------------------------------------------------

    async def canon_digests(self) -> dict[str, str]:
        async with self._db.execute("SELECT name, digest FROM canon_files") as cursor:
            return {row["name"]: row["digest"] for row in await cursor.fetchall()}

    async def canon_snapshot(
        self, db: aiosqlite.Connection, name: str
    ) -> dict[tuple[str, str], dict[str, str]]:
        async with db.execute("SELECT field, key, fact FROM canon_facts WHERE file = ?", (name,)) as cursor:
            return {(row["field"], row["key"]): json.loads(row["fact"]) for row in await cursor.fetchall()}

    async def save_canon_snapshot(
        self, db: aiosqlite.Connection, name: str, digest: str, entry: Entry, facts: Iterable[Fact]
    ) -> None:
        await db.execute("DELETE FROM canon_facts WHERE file = ?", (name,))
        await db.execute(
            "INSERT INTO canon_files (name, digest, entry) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, entry = excluded.entry",
            (name, digest, json.dumps(asdict(entry), ensure_ascii=False)),
        )
        await db.executemany(
            "INSERT INTO canon_facts (file, field, key, fact) VALUES (?, ?, ?, ?)",
            [(name, f.field, f.key, json.dumps(canon_fact_content(f), ensure_ascii=False)) for f in facts],
        )


# Two facts are the same when they say the same thing from the same source; who added it and when
# are provenance of the current row, not a reason for a new revision.
_COMPARED = ("value", "note", "source", "source_date")


def canon_fact_content(fact: Fact) -> dict[str, str]:
    return {name: getattr(fact, name) for name in _COMPARED}


_FTS_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """Turn what a user typed into a safe FTS5 query: every word quoted, the last one as a prefix."""
    words = _FTS_WORD.findall(text)[:12]
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)
