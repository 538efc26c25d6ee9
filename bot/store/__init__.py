"""The SQLite store: one aiosqlite connection, pragmas, numbered migrations and every query. No Discord here."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import Clock, utc_now
from bot.facts import FIELDS, Entry, Fact

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """Base of the store's named errors; messages are safe to show to a user."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Unchanged(StoreError):
    """The write would store what is already there."""


class StaleEdit(StoreError):
    """Someone changed the fact since the editor looked at it; `current` is what is stored now."""

    def __init__(self, message: str, current: Fact | None) -> None:
        super().__init__(message)
        self.current = current


class HasFacts(StoreError):
    pass


class AlreadyDecided(StoreError):
    pass


class RateLimited(StoreError):
    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


@dataclass(frozen=True)
class Suggestion:
    id: int
    entry_slug: str
    entry_title: str
    fact: Fact
    user_id: int
    user_name: str
    guild_id: int | None
    created_at: str
    status: str
    decided_by: str | None
    reason: str
    revision_id: int | None
    review_channel_id: int | None
    review_message_id: int | None


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
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    who: str
    at: str
    reason: str


# What a revision records about a fact: its content and provenance, not its row bookkeeping.
_FACT_CONTENT = ("value", "note", "source", "source_date", "added_by", "added_at")


def fact_content(fact: Fact) -> dict[str, str]:
    data = asdict(fact)
    return {name: data[name] for name in _FACT_CONTENT}


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


class Store:
    """All reads and writes of the bot's data. Open with `await Store.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock
        # One connection is shared by every coroutine; the lock keeps one write transaction at a time.
        self._write_lock = asyncio.Lock()
        # Called after a transaction that changed facts or entries commits (the scheduler wakes up).
        self.on_change: list[Callable[[], None]] = []
        self._changed = False
        self._announce = True

    @property
    def db(self) -> aiosqlite.Connection:
        """The shared connection, for the store's companion modules (bot/store/outbox.py)."""
        return self._db

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

    async def data_version(self) -> int:
        """Changes when another connection (another process sharing the file) commits; see on_change
        for this connection's own commits."""
        async with self._db.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than the database, each in its own transaction.

        The version is read again after taking the write lock, so processes sharing the file
        (one per group of shards) can start at the same time and apply each migration once."""
        current = await self.schema_version()
        for number, path in migrations():
            if number <= current:
                continue
            await self._db.execute("BEGIN IMMEDIATE")
            current = await self.schema_version()
            if number <= current:
                await self._db.execute("COMMIT")
                continue
            try:
                for statement in sql_statements(path.read_text(encoding="utf-8")):
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")  # the schema change and its version, together
            current = number
        return current

    @asynccontextmanager
    async def transaction(self, *, announce: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; rolled back on any exception. With `announce=False` its changes are
        history but not news (the first seeding of an empty store)."""
        async with self._write_lock:
            self._announce = announce
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._changed = False
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        if self._changed:
            self._changed = False
            for listener in self.on_change:
                listener()

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

    async def latest_revision(self) -> int:
        """The id of the newest revision (0 for none): it moves with every change to a fact or an entry."""
        async with self._db.execute("SELECT max(id) FROM revisions") as cursor:
            row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0

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
        "FROM entries e LEFT JOIN entries p ON p.id = e.parent_id WHERE e.removed_at IS NULL"
    )

    async def entries(self) -> list[Entry]:
        """Every entry, in franchise order."""
        async with self._db.execute(f"SELECT {self._ENTRY_COLUMNS} ORDER BY e.position, e.slug") as cursor:
            return [self._entry(row) for row in await cursor.fetchall()]

    async def entry(self, slug: str) -> Entry | None:
        async with self._db.execute(f"SELECT {self._ENTRY_COLUMNS} AND e.slug = ?", (slug,)) as cursor:
            row = await cursor.fetchone()
        return self._entry(row) if row else None

    FACTS_FOR_SQL = (
        "SELECT f.field, f.key, f.value, f.note, f.source, f.source_date, f.added_by, f.added_at, f.position, "
        "f.revision_id "
        "FROM facts f WHERE f.entry_id = (SELECT id FROM entries WHERE slug = ?) "
        "ORDER BY f.field, f.position, f.id"
    )

    async def facts_for(self, slug: str) -> list[Fact]:
        """The current facts of one entry (an index lookup: cost does not grow with other entries)."""
        async with self._db.execute(self.FACTS_FOR_SQL, (slug,)) as cursor:
            return [_fact(row) for row in await cursor.fetchall()]

    PREMIERES_SQL = (
        "SELECT e.slug, f.value FROM facts f JOIN entries e ON e.id = f.entry_id "
        "WHERE f.field = 'premiere' AND e.removed_at IS NULL ORDER BY e.position, e.slug"
    )

    async def premieres(self) -> list[tuple[str, str]]:
        """(entry slug, premiere value) of every entry with a premiere, in franchise order (through the
        facts_premieres index: the cost grows with the entries, not with the facts)."""
        async with self._db.execute(self.PREMIERES_SQL) as cursor:
            return [(row[0], row[1]) for row in await cursor.fetchall()]

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
        """The history of an entry's facts (and of the entry itself), oldest first."""
        sql = _REVISION_SQL + " WHERE e.slug = ?"
        params: list[str] = [slug]
        if field is not None:
            sql += " AND r.field = ?"
            params.append(field)
        async with self._db.execute(sql + " ORDER BY r.id", params) as cursor:
            return [_revision(row) for row in await cursor.fetchall()]

    async def count(self, table: str) -> int:
        """Rows in one of the store's tables (for tests, the CLI and the benchmark)."""
        if table not in (
            "entries",
            "facts",
            "revisions",
            "canon_files",
            "canon_facts",
            "meta",
            "suggestions",
        ):
            raise ValueError(f"unknown table {table!r}")
        async with self._db.execute(f"SELECT count(*) FROM {table}") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def query_plan(self, sql: str, params: Iterable[object]) -> list[str]:
        async with self._db.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params)) as cursor:
            return [row["detail"] for row in await cursor.fetchall()]

    # --- writing (call inside `transaction()`) ---------------------------------------------------

    async def _entry_id(self, db: aiosqlite.Connection, slug: str) -> int:
        async with db.execute(
            "SELECT id FROM entries WHERE slug = ? AND removed_at IS NULL", (slug,)
        ) as cursor:
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
            "position = excluded.position, updated_at = excluded.updated_at, removed_at = NULL",
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

    async def _stored_fact(
        self, db: aiosqlite.Connection, entry_id: int, field: str, key: str
    ) -> aiosqlite.Row | None:
        async with db.execute(
            "SELECT id, field, key, value, note, source, source_date, added_by, added_at, position, revision_id "
            "FROM facts WHERE entry_id = ? AND field = ? AND key = ?",
            (entry_id, field, key),
        ) as cursor:
            return await cursor.fetchone()

    async def put_fact(
        self,
        db: aiosqlite.Connection,
        slug: str,
        fact: Fact,
        who: str,
        reason: str = "",
        *,
        expected_revision: int | None = None,
    ) -> int | None:
        """Add or change one fact and record the revision; returns its id, or None if nothing changed.

        With `expected_revision`, the write happens only if the fact is still as the editor saw it
        (checked inside the transaction, so of two concurrent edits exactly one wins).
        """
        entry_id = await self._entry_id(db, slug)
        row = await self._stored_fact(db, entry_id, fact.field, fact.key)
        if expected_revision is not None and (row is None or row["revision_id"] != expected_revision):
            current = _fact(row) if row is not None else None
            who_changed = f" (revision #{row['revision_id']} by {row['added_by']})" if row is not None else ""
            raise StaleEdit(f"Someone changed this fact after you opened it{who_changed}.", current)
        new = fact_content(fact)
        if row is not None:
            old = {name: row[name] for name in _FACT_CONTENT}
            if all(old[k] == new[k] for k in _COMPARED):
                # Same statement from the same source: not a revision (order within a field is not content).
                await db.execute("UPDATE facts SET position = ? WHERE id = ?", (fact.position, row["id"]))
                return None
            revision = await self._revise(db, entry_id, fact.field, fact.key, "edit", old, new, who, reason)
            await db.execute(
                "UPDATE facts SET value = ?, note = ?, source = ?, source_date = ?, added_by = ?, added_at = ?, "
                "position = ?, revision_id = ? WHERE id = ?",
                (*(new[k] for k in _FACT_CONTENT), fact.position, revision, row["id"]),
            )
            return revision
        revision = await self._revise(db, entry_id, fact.field, fact.key, "add", None, new, who, reason)
        await db.execute(
            "INSERT INTO facts (entry_id, field, key, value, note, source, source_date, added_by, added_at, "
            "position, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, fact.field, fact.key, *(new[k] for k in _FACT_CONTENT), fact.position, revision),
        )
        return revision

    async def remove_fact(
        self, db: aiosqlite.Connection, slug: str, field: str, key: str, who: str, reason: str = ""
    ) -> int | None:
        """Remove one fact, recording the removal as a revision; None if there was no such fact."""
        entry_id = await self._entry_id(db, slug)
        row = await self._stored_fact(db, entry_id, field, key)
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
        revision = int(cursor.lastrowid or 0)
        # The outbox: the change and the event that announces it commit together, or neither does.
        if self._announce:
            await db.execute(
                "INSERT INTO change_events (entry_id, revision_id, created_at) VALUES (?, ?, ?)",
                (entry_id, revision, self.now()),
            )
            self._changed = True
        return revision

    # --- curation: one transaction per moderator action ----------------------------------------

    async def fact(self, slug: str, field: str, key: str) -> Fact | None:
        async with self._db.execute(
            "SELECT f.* FROM facts f JOIN entries e ON e.id = f.entry_id "
            "WHERE e.slug = ? AND e.removed_at IS NULL AND f.field = ? AND f.key = ?",
            (slug, field, key),
        ) as cursor:
            row = await cursor.fetchone()
        return _fact(row) if row else None

    async def revision(self, revision_id: int) -> Revision | None:
        async with self._db.execute(_REVISION_SQL + " WHERE r.id = ?", (revision_id,)) as cursor:
            row = await cursor.fetchone()
        return _revision(row) if row else None

    async def add_fact(self, slug: str, fact: Fact, who: str) -> int:
        """A new fact; AlreadyExists if the entry already has it (single-valued field or same item)."""
        async with self.transaction() as db:
            existing = await self._stored_fact(db, await self._entry_id(db, slug), fact.field, fact.key)
            if existing is not None:
                label = FIELDS[fact.field].label
                if existing["value"] == fact.value:
                    raise Unchanged(f"{label} already says “{fact.value}”.")
                raise AlreadyExists(
                    f"{label} already has “{existing['value']}”; use /fact edit to change it."
                )
            revision = await self.put_fact(db, slug, self._stamped(fact, who), who)
            assert revision is not None
            return revision

    async def edit_fact(
        self, slug: str, field: str, key: str, fact: Fact, who: str, *, expected_revision: int | None = None
    ) -> int:
        """Replace the fact at (field, key) with `fact`. A new item name for a multi-valued field is
        a removal of the old item and an addition of the new one, in the same transaction."""
        async with self.transaction() as db:
            entry_id = await self._entry_id(db, slug)
            row = await self._stored_fact(db, entry_id, field, key)
            if row is None:
                raise NotFound(
                    f"{slug} has no {FIELDS[field].label if field in FIELDS else field} fact to edit."
                )
            stamped = replace(self._stamped(fact, who), position=row["position"])
            if fact.key != key:
                if expected_revision is not None and row["revision_id"] != expected_revision:
                    raise StaleEdit("Someone changed this fact after you opened it.", _fact(row))
                if await self._stored_fact(db, entry_id, fact.field, fact.key) is not None:
                    raise AlreadyExists(f"{FIELDS[field].label} already lists “{fact.value}”.")
                await self.remove_fact(db, slug, field, key, who, "renamed")
                revision = await self.put_fact(db, slug, stamped, who)
            else:
                revision = await self.put_fact(db, slug, stamped, who, expected_revision=expected_revision)
            if revision is None:
                raise Unchanged(f"{FIELDS[field].label} already says exactly that, from the same source.")
            return revision

    async def delete_fact(self, slug: str, field: str, key: str, who: str, reason: str = "") -> int:
        async with self.transaction() as db:
            revision = await self.remove_fact(db, slug, field, key, who, reason)
        if revision is None:
            raise NotFound(f"{slug} has no such {FIELDS[field].label if field in FIELDS else field} fact.")
        return revision

    async def revert(self, revision_id: int, who: str) -> int:
        """A new revision that puts back what was there before `revision_id`."""
        target = await self.revision(revision_id)
        if target is None:
            raise NotFound(f"There is no revision #{revision_id}.")
        reason = f"revert of #{revision_id}"
        if target.field == ENTRY_FIELD:
            return await self._revert_entry(target, who, reason)
        async with self.transaction() as db:
            if target.old is None:  # it was an addition: revert removes the fact
                revision = await self.remove_fact(
                    db, target.entry_slug, target.field, target.key, who, reason
                )
            else:
                old = target.old
                restored = Fact(
                    target.field,
                    old["value"],
                    old["source"],
                    old["source_date"],
                    key=target.key,
                    note=old["note"],
                )
                current = await self._stored_fact(
                    db, await self._entry_id(db, target.entry_slug), target.field, target.key
                )
                if current is not None:
                    restored = replace(restored, position=current["position"])
                revision = await self.put_fact(
                    db, target.entry_slug, self._stamped(restored, who), who, reason
                )
        if revision is None:
            raise Unchanged(f"Nothing to revert: the fact is already as it was before #{revision_id}.")
        return revision

    def _stamped(self, fact: Fact, who: str) -> Fact:
        return replace(fact, added_by=who, added_at=self.now())

    # --- entries ---------------------------------------------------------------------------------

    async def _entry_revision(
        self,
        db: aiosqlite.Connection,
        slug: str,
        action: str,
        old: Entry | None,
        new: Entry | None,
        who: str,
        reason: str = "",
    ) -> int:
        async with db.execute("SELECT id FROM entries WHERE slug = ?", (slug,)) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return await self._revise(
            db, int(row[0]), ENTRY_FIELD, "", action,
            entry_content(old) if old else None, entry_content(new) if new else None, who, reason,
        )  # fmt: skip

    async def create_entry(self, entry: Entry, who: str) -> int:
        async with self.transaction() as db:
            if await self._entry_row(db, entry.slug) is not None:
                raise AlreadyExists(f"There is already an entry “{entry.slug}”.")
            await self.upsert_entry(db, entry)
            return await self._entry_revision(db, entry.slug, "add", None, entry, who)

    async def change_entry(self, slug: str, entry: Entry, who: str, reason: str = "") -> int:
        async with self.transaction() as db:
            old = await self._entry_row(db, slug)
            if old is None:
                raise NotFound(f"There is no entry “{slug}”.")
            if old == entry:
                raise Unchanged(f"{old.title} already looks exactly like that.")
            if entry.parent == slug:
                raise StoreError("An entry cannot be its own parent.")
            await self.upsert_entry(db, entry)
            return await self._entry_revision(db, slug, "edit", old, entry, who, reason)

    async def retire_entry(self, slug: str, who: str, *, force: bool = False, reason: str = "") -> int:
        """Remove an entry; refused while it has facts (unless `force`: then each is removed as a
        revision first) or entries under it."""
        async with self.transaction() as db:
            entry = await self._entry_row(db, slug)
            if entry is None:
                raise NotFound(f"There is no entry “{slug}”.")
            entry_id = await self._entry_id(db, slug)
            async with db.execute(
                "SELECT slug FROM entries WHERE parent_id = ? AND removed_at IS NULL ORDER BY slug",
                (entry_id,),
            ) as cursor:
                children = [row[0] for row in await cursor.fetchall()]
            if children:
                raise HasFacts(
                    f"{entry.title} has entries under it ({', '.join(children)}); move or remove them first."
                )
            async with db.execute(
                "SELECT field, key FROM facts WHERE entry_id = ? ORDER BY id", (entry_id,)
            ) as cursor:
                facts = [(row[0], row[1]) for row in await cursor.fetchall()]
            if facts and not force:
                raise HasFacts(f"{entry.title} still has {len(facts)} facts.")
            for field, key in facts:
                await self.remove_fact(db, slug, field, key, who, reason or "entry removed")
            await db.execute("UPDATE entries SET removed_at = ? WHERE id = ?", (self.now(), entry_id))
            return await self._entry_revision(db, slug, "remove", entry, None, who, reason)

    async def _entry_row(self, db: aiosqlite.Connection, slug: str) -> Entry | None:
        async with db.execute(f"SELECT {self._ENTRY_COLUMNS} AND e.slug = ?", (slug,)) as cursor:
            row = await cursor.fetchone()
        return self._entry(row) if row else None

    async def _revert_entry(self, target: Revision, who: str, reason: str) -> int:
        if target.old is None:
            return await self.retire_entry(target.entry_slug, who, reason=reason)
        old = entry_from_content(target.old)
        if target.new is None:  # it was a removal: bring the entry back as it was
            async with self.transaction() as db:
                await self.upsert_entry(db, old)
                return await self._entry_revision(db, old.slug, "add", None, old, who, reason)
        return await self.change_entry(target.entry_slug, old, who, reason)

    # --- suggestions -----------------------------------------------------------------------------

    async def add_suggestion(
        self,
        slug: str,
        fact: Fact,
        user_id: int,
        user_name: str,
        guild_id: int | None,
        *,
        limit: int,
        window: timedelta,
    ) -> Suggestion:
        """Record a member's suggestion; RateLimited once they made `limit` in the last `window`."""
        now = self._clock().astimezone(UTC)
        async with self.transaction() as db:
            entry_id = await self._entry_id(db, slug)
            async with db.execute(
                "SELECT created_at FROM suggestions WHERE user_id = ? AND created_at > ? ORDER BY created_at",
                (user_id, (now - window).isoformat(timespec="seconds")),
            ) as cursor:
                recent = [row[0] for row in await cursor.fetchall()]
            if len(recent) >= limit:
                retry_at = datetime.fromisoformat(recent[0]) + window
                raise RateLimited(f"You can make {limit} suggestions an hour.", retry_at)
            cursor = await db.execute(
                "INSERT INTO suggestions (entry_id, field, key, value, source, source_date, user_id, user_name, "
                "guild_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry_id,
                    fact.field,
                    fact.key,
                    fact.value,
                    fact.source,
                    fact.source_date,
                    user_id,
                    user_name,
                    guild_id,
                    now.isoformat(timespec="seconds"),
                ),  # fmt: skip
            )
            suggestion_id = int(cursor.lastrowid or 0)
        found = await self.suggestion(suggestion_id)
        assert found is not None
        return found

    async def suggestion(self, suggestion_id: int) -> Suggestion | None:
        async with self._db.execute(
            "SELECT s.*, e.slug AS entry_slug, e.title AS entry_title FROM suggestions s "
            "JOIN entries e ON e.id = s.entry_id WHERE s.id = ?",
            (suggestion_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        fact = Fact(row["field"], row["value"], row["source"], row["source_date"], key=row["key"])
        return Suggestion(
            row["id"], row["entry_slug"], row["entry_title"], fact, row["user_id"], row["user_name"],
            row["guild_id"], row["created_at"], row["status"], row["decided_by"], row["reason"],
            row["revision_id"], row["review_channel_id"], row["review_message_id"],
        )  # fmt: skip

    async def set_review_message(self, suggestion_id: int, channel_id: int, message_id: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE suggestions SET review_channel_id = ?, review_message_id = ? WHERE id = ?",
                (channel_id, message_id, suggestion_id),
            )

    async def decide_suggestion(
        self, suggestion_id: int, approve: bool, by: str, reason: str = ""
    ) -> Suggestion:
        """Approve (store the fact as a revision crediting the suggester) or reject, exactly once."""
        async with self.transaction() as db:
            async with db.execute("SELECT status FROM suggestions WHERE id = ?", (suggestion_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise NotFound(f"There is no suggestion #{suggestion_id}.")
            if row[0] != "pending":
                raise AlreadyDecided(f"Suggestion #{suggestion_id} was already {row[0]}.")
            revision = None
            if approve:
                pending = await self.suggestion(suggestion_id)  # same connection: sees this transaction
                assert pending is not None
                credit = (
                    f"{pending.user_name} ({pending.user_id}), suggestion #{suggestion_id} approved by {by}"
                )
                revision = await self.put_fact(
                    db, pending.entry_slug, self._stamped(pending.fact, credit), credit
                )
                if revision is None:
                    raise Unchanged(
                        "That fact is already stored exactly like this; reject the suggestion instead."
                    )
            await db.execute(
                "UPDATE suggestions SET status = ?, decided_by = ?, decided_at = ?, reason = ?, revision_id = ? "
                "WHERE id = ?",
                ("approved" if approve else "rejected", by, self.now(), reason, revision, suggestion_id),
            )
        decided = await self.suggestion(suggestion_id)
        assert decided is not None
        return decided

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


ENTRY_FIELD = "_entry"  # the revisions of an entry's own attributes use this field name
_REVISION_SQL = (
    "SELECT r.id, e.slug, r.field, r.key, r.action, r.old, r.new, r.who, r.at, r.reason "
    "FROM revisions r JOIN entries e ON e.id = r.entry_id"
)


def _revision(row: aiosqlite.Row) -> Revision:
    old, new = (json.loads(row[i]) if row[i] else None for i in (5, 6))
    return Revision(row[0], row[1], row[2], row[3], row[4], old, new, row[7], row[8], row[9])


def entry_content(entry: Entry) -> dict[str, Any]:
    data = asdict(entry)
    data["aliases"] = list(entry.aliases)
    return data


def entry_from_content(data: dict[str, Any]) -> Entry:
    return Entry(**{**data, "aliases": tuple(data.get("aliases") or ())})


def _fact(row: aiosqlite.Row) -> Fact:
    return Fact(**{name: row[name] for name in _FACT_FIELDS})


_FACT_FIELDS = (
    "field",
    "key",
    "value",
    "note",
    "source",
    "source_date",
    "added_by",
    "added_at",
    "position",
    "revision_id",
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
