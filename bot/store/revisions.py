"""The append-only revision log: what a revision records, and recording one (with its change event)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from bot.facts import Entry, Fact
from bot.store.database import Row, Transaction, entry_id

ENTRY_FIELD = "_entry"  # the revisions of an entry's own attributes use this field name

# What a revision records about a fact: its content and provenance, not its row bookkeeping.
# The order is that of the columns put_fact writes. Revisions from before a key was added lack it: read
# them with .get() (confidence: confirmed; spoiler: False).
FACT_CONTENT = ("value", "note", "source", "source_date", "confidence", "added_by", "added_at", "spoiler")

REVISION_COLUMNS = "r.id, e.slug, r.field, r.key, r.action, r.old, r.new, r.who, r.at, r.reason"
REVISION_SQL = f"SELECT {REVISION_COLUMNS} FROM revisions r JOIN entries e ON e.id = r.entry_id"


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


def revision_from_row(row: Row) -> Revision:
    old, new = (json.loads(row[i]) if row[i] else None for i in (5, 6))
    return Revision(row[0], row[1], row[2], row[3], row[4], old, new, row[7], row[8], row[9])


def fact_content(fact: Fact) -> dict[str, str | bool]:
    data = asdict(fact)
    return {name: data[name] for name in FACT_CONTENT}


def entry_content(entry: Entry) -> dict[str, Any]:
    data = asdict(entry)
    data["aliases"] = list(entry.aliases)
    return data


def entry_from_content(data: dict[str, Any]) -> Entry:
    return Entry(**{**data, "aliases": tuple(data.get("aliases") or ())})


async def record_revision(
    tx: Transaction,
    entry: int,
    field: str,
    key: str,
    action: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    who: str,
    reason: str = "",
) -> int:
    """Append a revision of entry id `entry` and return its id. Unless the transaction is not news,
    its change event (the announcer's outbox) commits with it, or neither does."""
    revision = await tx.insert(
        "INSERT INTO revisions (entry_id, field, key, action, old, new, who, at, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry,
            field,
            key,
            action,
            json.dumps(old, ensure_ascii=False) if old else None,
            json.dumps(new, ensure_ascii=False) if new else None,
            who,
            tx.now(),
            reason,
        ),
    )
    if tx.announce:
        await tx.execute(
            "INSERT INTO change_events (entry_id, revision_id, created_at) VALUES (?, ?, ?)",
            (entry, revision, tx.now()),
        )
        tx.changed = True
    return revision


async def record_entry_revision(
    tx: Transaction, slug: str, action: str, old: Entry | None, new: Entry | None, who: str, reason: str = ""
) -> int:
    """A revision of an entry's own attributes (the entry may have just been removed)."""
    return await record_revision(
        tx, await entry_id(tx, slug, removed=True), ENTRY_FIELD, "", action,
        entry_content(old) if old else None, entry_content(new) if new else None, who, reason,
    )  # fmt: skip
