"""History: reading the revisions of entries and facts, and reverting one as a new revision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.errors import NothingToRevert, RevisionNotFound
from bot.facts import CONFIRMED, Fact
from bot.store.database import Database, Transaction, entry_id
from bot.store.entries import change_entry, restore_entry, retire_entry
from bot.store.facts import put_fact, remove_fact, stamped, stored_fact
from bot.store.revisions import (
    ENTRY_FIELD,
    REVISION_COLUMNS,
    REVISION_SQL,
    Revision,
    entry_from_content,
    revision_from_row,
)


class History:
    """`store.history`: the append-only log of every change to a fact or an entry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, revision_id: int) -> Revision | None:
        row = await self._db.fetchone(REVISION_SQL + " WHERE r.id = ?", (revision_id,))
        return revision_from_row(row) if row else None

    async def for_entry(self, slug: str, field: str | None = None) -> list[Revision]:
        """The history of an entry's facts (and of the entry itself), oldest first."""
        sql = REVISION_SQL + " WHERE e.slug = ?"
        params: list[str] = [slug]
        if field is not None:
            sql += " AND r.field = ?"
            params.append(field)
        return [revision_from_row(row) for row in await self._db.fetchall(sql + " ORDER BY r.id", params)]

    async def page(self, slug: str, before: int | None, size: int) -> list[Revision]:
        """Up to `size` revisions of an entry, newest first, older than revision `before` (None: the
        newest)."""
        sql = REVISION_SQL + " WHERE e.slug = ? AND r.id < ? ORDER BY r.id DESC LIMIT ?"
        rows = await self._db.fetchall(sql, (slug, before if before is not None else 2**63 - 1, size))
        return [revision_from_row(row) for row in rows]

    async def of_fields(self, fields: Sequence[str], slug: str | None = None) -> list[Revision]:
        """Every revision of these fields (of every entry, the removed ones too, or of one), oldest first."""
        marks = ", ".join("?" * len(fields))
        # From the entries, through the revisions_by_fact index (entry, field): not a scan of every revision.
        sql = (
            f"SELECT {REVISION_COLUMNS} FROM entries e CROSS JOIN revisions r ON r.entry_id = e.id "
            f"WHERE r.field IN ({marks})"
        )
        params: list[str] = list(fields)
        if slug is not None:
            sql += " AND e.slug = ?"
            params.append(slug)
        return [revision_from_row(row) for row in await self._db.fetchall(sql + " ORDER BY r.id", params)]

    async def latest(self) -> int:
        """The id of the newest revision (0 for none): it moves with every change to a fact or an entry."""
        row = await self._db.fetchone("SELECT max(id) FROM revisions")
        return int(row[0] or 0) if row else 0

    async def revert(self, revision_id: int, who: str) -> int:
        """A new revision that puts back what was there before `revision_id`: RevisionNotFound, or
        NothingToRevert when it is already so (and the refusals of the entry's own changes)."""
        reason = f"revert of #{revision_id}"
        async with self._db.transaction() as tx:
            row = await tx.fetchone(REVISION_SQL + " WHERE r.id = ?", (revision_id,))
            if row is None:
                raise RevisionNotFound(revision_id)
            target = revision_from_row(row)
            if target.field == ENTRY_FIELD:
                return await _revert_entry(tx, target, who, reason)
            revision = await _revert_fact(tx, target, who, reason)
        if revision is None:
            raise NothingToRevert(revision_id)
        return revision


async def _revert_fact(tx: Transaction, target: Revision, who: str, reason: str) -> int | None:
    if target.old is None:  # it was an addition: revert removes the fact
        return await remove_fact(tx, target.entry_slug, target.field, target.key, who, reason)
    old = target.old
    restored = Fact(
        target.field, old["value"], old["source"], old["source_date"], key=target.key, note=old["note"],
        confidence=old.get("confidence", CONFIRMED), spoiler=bool(old.get("spoiler", False)),
    )  # fmt: skip
    current = await stored_fact(tx, await entry_id(tx, target.entry_slug), target.field, target.key)
    if current is not None:
        restored = replace(restored, position=current["position"])
    return await put_fact(tx, target.entry_slug, stamped(restored, who, tx.now()), who, reason)


async def _revert_entry(tx: Transaction, target: Revision, who: str, reason: str) -> int:
    if target.old is None:  # it was an addition: revert removes the entry
        return await retire_entry(tx, target.entry_slug, who, reason=reason)
    old = entry_from_content(target.old)
    if target.new is None:  # it was a removal: bring the entry back as it was
        return await restore_entry(tx, old, who, reason)
    return await change_entry(tx, target.entry_slug, old, who, reason)
