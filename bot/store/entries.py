"""Entries: reading them, and creating, changing, retiring and restoring them, each a revision."""

from __future__ import annotations

import json

from bot.errors import EntryExists, EntryNotFound, HasChildren, HasFacts, OwnParent, SameEntry
from bot.facts import Entry
from bot.store.database import Database, Reads, Row, Transaction, entry_id
from bot.store.facts import remove_fact
from bot.store.revisions import record_entry_revision

_ENTRY_SQL = (
    "SELECT e.slug, e.title, e.description, e.aliases, e.position, p.slug AS parent_slug, e.tvmaze_id, "
    "e.tvmaze_season, e.wikidata_id "
    "FROM entries e LEFT JOIN entries p ON p.id = e.parent_id WHERE e.removed_at IS NULL"
)


def entry_from_row(row: Row) -> Entry:
    return Entry(
        slug=row["slug"],
        title=row["title"],
        description=row["description"],
        aliases=tuple(json.loads(row["aliases"])),
        parent=row["parent_slug"],
        position=row["position"],
        tvmaze_id=row["tvmaze_id"],
        tvmaze_season=row["tvmaze_season"],
        wikidata_id=row["wikidata_id"],
    )


async def read_entry(reader: Reads, slug: str) -> Entry | None:
    """The entry `slug`, unless there is none or it was removed."""
    row = await reader.fetchone(f"{_ENTRY_SQL} AND e.slug = ?", (slug,))
    return entry_from_row(row) if row else None


async def upsert_entry(tx: Transaction, entry: Entry) -> None:
    """Create an entry or update its attributes (its parent must exist already), without a revision:
    the canon's loader and `restore_entry` record theirs."""
    parent_id = await entry_id(tx, entry.parent) if entry.parent else None
    now = tx.now()
    await tx.execute(
        "INSERT INTO entries (slug, title, description, aliases, parent_id, position, tvmaze_id, "
        "tvmaze_season, wikidata_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (slug) DO UPDATE SET title = excluded.title, description = excluded.description, "
        "aliases = excluded.aliases, parent_id = excluded.parent_id, position = excluded.position, "
        "tvmaze_id = excluded.tvmaze_id, tvmaze_season = excluded.tvmaze_season, "
        "wikidata_id = excluded.wikidata_id, updated_at = excluded.updated_at, removed_at = NULL",
        (
            entry.slug,
            entry.title,
            entry.description,
            json.dumps(list(entry.aliases)),
            parent_id,
            entry.position,
            entry.tvmaze_id,
            entry.tvmaze_season,
            entry.wikidata_id,
            now,
            now,
        ),
    )


async def create_entry(tx: Transaction, entry: Entry, who: str) -> int:
    if await read_entry(tx, entry.slug) is not None:
        raise EntryExists(entry.slug)
    await upsert_entry(tx, entry)
    return await record_entry_revision(tx, entry.slug, "add", None, entry, who)


async def change_entry(tx: Transaction, slug: str, entry: Entry, who: str, reason: str = "") -> int:
    old = await read_entry(tx, slug)
    if old is None:
        raise EntryNotFound(slug)
    if old == entry:
        raise SameEntry(old.title)
    if entry.parent == slug:
        raise OwnParent(slug)
    await upsert_entry(tx, entry)
    return await record_entry_revision(tx, slug, "edit", old, entry, who, reason)


async def retire_entry(tx: Transaction, slug: str, who: str, *, force: bool = False, reason: str = "") -> int:
    """Remove an entry: HasChildren while entries are under it; HasFacts while it has facts, unless
    `force` (then each fact is removed as a revision first)."""
    entry = await read_entry(tx, slug)
    if entry is None:
        raise EntryNotFound(slug)
    entry_key = await entry_id(tx, slug)
    children = await tx.fetchall(
        "SELECT slug FROM entries WHERE parent_id = ? AND removed_at IS NULL ORDER BY slug", (entry_key,)
    )
    if children:
        raise HasChildren(entry.title, children=tuple(row[0] for row in children))
    facts = await tx.fetchall("SELECT field, key FROM facts WHERE entry_id = ? ORDER BY id", (entry_key,))
    if facts and not force:
        raise HasFacts(entry.title, len(facts))
    for field, key in facts:
        await remove_fact(tx, slug, field, key, who, reason or "entry removed")
    await tx.execute("UPDATE entries SET removed_at = ? WHERE id = ?", (tx.now(), entry_key))
    return await record_entry_revision(tx, slug, "remove", entry, None, who, reason)


async def restore_entry(tx: Transaction, entry: Entry, who: str, reason: str = "") -> int:
    """Bring back a removed entry as it was (or add it): an addition in its history."""
    await upsert_entry(tx, entry)
    return await record_entry_revision(tx, entry.slug, "add", None, entry, who, reason)


class Entries:
    """`store.entries`: the franchise's entries; each method that writes is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[Entry]:
        """Every entry, in franchise order."""
        rows = await self._db.fetchall(f"{_ENTRY_SQL} ORDER BY e.position, e.slug")
        return [entry_from_row(row) for row in rows]

    async def get(self, slug: str) -> Entry | None:
        return await read_entry(self._db, slug)

    async def create(self, entry: Entry, who: str) -> int:
        """A new entry (EntryExists if the slug is taken); returns its revision."""
        async with self._db.transaction() as tx:
            return await create_entry(tx, entry, who)

    async def change(self, slug: str, entry: Entry, who: str, reason: str = "") -> int:
        """New attributes for an entry: EntryNotFound, SameEntry, or OwnParent if refused."""
        async with self._db.transaction() as tx:
            return await change_entry(tx, slug, entry, who, reason)

    async def retire(self, slug: str, who: str, *, force: bool = False, reason: str = "") -> int:
        """Remove an entry (see `retire_entry`); its history stays."""
        async with self._db.transaction() as tx:
            return await retire_entry(tx, slug, who, force=force, reason=reason)
