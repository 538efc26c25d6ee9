"""The announcement outbox: change batches, deliveries (updates and milestones) and scheduled events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.errors import EntryNotFound
from bot.facts import CONFIRMED
from bot.store.database import Database, Transaction, entry_id
from bot.store.servers import Shards, subscribed_sql

PAUSE_AFTER_FAILURES = 3


@dataclass(frozen=True)
class Delivery:
    id: int
    kind: str
    guild_id: int
    channel_id: int
    batch_id: int | None
    entry_slug: str | None
    milestone: int | None
    premiere: str | None
    due_at: str
    nonce: str
    attempts: int
    status: str = "pending"
    message_id: int | None = None
    error: str = ""  # why it failed, or was skipped


@dataclass(frozen=True)
class Batch:
    id: int
    entry_slug: str
    changes: list[dict[str, Any]]


def nonce(*parts: object) -> str:
    """A deterministic nonce (Discord allows 25 characters): the same delivery always sends the same one."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:25]


_DELIVERY_SQL = (
    "SELECT d.id, d.kind, d.guild_id, d.channel_id, d.batch_id, e.slug AS entry_slug, d.milestone, d.premiere, "
    "d.due_at, d.nonce, d.attempts, d.status, d.message_id, d.error "
    "FROM deliveries d LEFT JOIN entries e ON e.id = d.entry_id"
)


def _delivery(row: Any) -> Delivery:
    return Delivery(*row)


# The outbox tables whose rows a process claims before sending them: posts, and members' DM reminders.
CLAIMED_TABLES = ("deliveries", "reminder_deliveries")
# What marking a claimed row (sent, failed, skipped, retried later) also does: it is no longer held.
UNCLAIMED = "claimed_by = NULL, claim_expires = NULL"


def narrowed(select: str, **equal: object) -> tuple[str, list[object]]:
    """`select` (of a table aliased `d`) narrowed to the rows whose columns equal the values given
    (None: any value), and its parameters."""
    given = {column: value for column, value in equal.items() if value is not None}
    where = "".join(f" AND d.{column} = ?" for column in given)
    return f"{select} WHERE TRUE{where}", list(given.values())


async def claim_rows(
    tx: Transaction, table: str, owner: str, ttl: timedelta, now: datetime, limit: int, where: str = ""
) -> list[int]:
    """Claim for `owner`, until `ttl` from now, up to `limit` pending rows of `table` due by `now` that
    nobody holds (or whose claim expired), soonest first; their ids. One UPDATE: of two processes
    racing for a row, exactly one gets it (on SQLite, as one writer at a time; on PostgreSQL the rows
    are taken FOR UPDATE SKIP LOCKED, so a row another claimer holds is passed over, not waited for).
    `where` narrows it (" AND ...")."""
    stamp = tx.now()
    until = (datetime.fromisoformat(stamp) + ttl).isoformat(timespec="seconds")
    rows = await tx.fetchall(
        f"UPDATE {table} SET claimed_by = ?, claim_expires = ? WHERE id IN ("
        f"SELECT id FROM {table} WHERE status = 'pending' AND due_at <= ? "
        f"AND (claimed_by IS NULL OR claim_expires <= ?){where} ORDER BY due_at, id LIMIT ?{tx.skip_locked}) "
        "RETURNING id",
        (owner, until, now.isoformat(timespec="seconds"), stamp, limit),
    )
    return [int(row[0]) for row in rows]


async def next_due(db: Database, table: str, where: str = "") -> datetime | None:
    """When the next pending row of `table` can be sent: its due time, or, while another process holds
    a live claim on it, when that claim expires (should that process die with it)."""
    row = await db.fetchone(
        "SELECT min(CASE WHEN claimed_by IS NOT NULL AND claim_expires > ? AND claim_expires > due_at "
        f"THEN claim_expires ELSE due_at END) FROM {table} WHERE status = 'pending'{where}",
        (db.now(),),
    )
    return datetime.fromisoformat(row[0]) if row and row[0] else None


class Outbox:
    """`store.outbox`: change batches, milestone and update deliveries, and scheduled events."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- change updates --------------------------------------------------------------------------

    async def oldest_unbatched_change(self) -> datetime | None:
        row = await self._db.fetchone("SELECT min(created_at) FROM change_events WHERE batch_id IS NULL")
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def close_due_batches(self, now: datetime, settle: timedelta, shards: Shards | None) -> list[int]:
        """Turn the changes of every entry whose first unannounced change is `settle` old into one
        batch, with one delivery per subscribed server; all in one transaction per entry."""
        cutoff = (now - settle).isoformat(timespec="seconds")
        due_entries = await self._db.fetchall(
            "SELECT entry_id FROM change_events WHERE batch_id IS NULL GROUP BY entry_id HAVING min(created_at) <= ?",
            (cutoff,),
        )
        batches = []
        for (entry,) in due_entries:
            async with self._db.transaction() as tx:
                rows = await tx.fetchall(
                    "SELECT c.id, r.field, r.key, r.old, r.new FROM change_events c JOIN revisions r ON r.id = c.revision_id "
                    "WHERE c.entry_id = ? AND c.batch_id IS NULL ORDER BY c.id",
                    (entry,),
                )
                changes = summarize((row[1], row[2], row[3], row[4]) for row in rows)
                batch_id = await tx.insert(
                    "INSERT INTO update_batches (entry_id, created_at, changes) VALUES (?, ?, ?)",
                    (entry, tx.now(), json.dumps(changes, ensure_ascii=False)),
                )
                await tx.executemany(
                    "UPDATE change_events SET batch_id = ? WHERE id = ?", [(batch_id, row[0]) for row in rows]
                )
                if changes:
                    guilds = await tx.fetchall(
                        subscribed_sql("guild_id, channel_id", shards, updates_only=True)
                    )
                    due = now.isoformat(timespec="seconds")
                    await tx.executemany(
                        "INSERT OR IGNORE INTO deliveries (kind, guild_id, channel_id, batch_id, entry_id, due_at, nonce) "
                        "VALUES ('update', ?, ?, ?, ?, ?, ?)",
                        [(g, c, batch_id, entry, due, nonce("update", batch_id, g)) for g, c in guilds],
                    )
            batches.append(batch_id)
        return batches

    async def batch(self, batch_id: int) -> Batch | None:
        row = await self._db.fetchone(
            "SELECT b.id, e.slug, b.changes FROM update_batches b JOIN entries e ON e.id = b.entry_id WHERE b.id = ?",
            (batch_id,),
        )
        return Batch(row[0], row[1], json.loads(row[2])) if row else None

    async def recent_batches(self, limit: int, slug: str | None = None) -> list[tuple[Batch, datetime]]:
        """The newest batches that changed something (of every entry, or of one), newest first, each
        with when it was closed: the web's feed."""
        sql = (
            "SELECT b.id, e.slug, b.changes, b.created_at FROM update_batches b JOIN entries e ON e.id = b.entry_id "
            "WHERE b.changes != '[]'"
        )
        params: list[Any] = []
        if slug is not None:
            sql += " AND e.slug = ?"
            params.append(slug)
        rows = await self._db.fetchall(sql + " ORDER BY b.id DESC LIMIT ?", (*params, limit))
        return [(Batch(row[0], row[1], json.loads(row[2])), datetime.fromisoformat(row[3])) for row in rows]

    async def latest_batch(self) -> int:
        """The id of the newest batch (0 for none): it moves whenever a change is announced."""
        row = await self._db.fetchone("SELECT max(id) FROM update_batches")
        return int(row[0] or 0) if row else 0

    # --- milestones ------------------------------------------------------------------------------

    async def plan_milestone(
        self,
        entry_slug: str,
        milestone: int,
        premiere: str,
        due_at: datetime,
        guilds: Sequence[tuple[int, int]],
    ) -> int:
        """One delivery per server for this milestone of this premiere; existing ones are kept as they are."""
        async with self._db.transaction() as tx:
            try:
                entry = await entry_id(tx, entry_slug, removed=True)
            except EntryNotFound:
                return 0
            return await tx.executemany(
                "INSERT OR IGNORE INTO deliveries (kind, guild_id, channel_id, entry_id, milestone, premiere, due_at, nonce) "
                "VALUES ('milestone', ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g,
                        c,
                        entry,
                        milestone,
                        premiere,
                        due_at.isoformat(timespec="seconds"),
                        nonce("milestone", entry, milestone, premiere, g),
                    )
                    for g, c in guilds
                ],
            )

    # --- deliveries ------------------------------------------------------------------------------

    async def due_deliveries(self, now: datetime, shards: Shards | None, limit: int = 500) -> list[Delivery]:
        """Pending deliveries due by `now`, claimed or not (what is owed; `claim_due` takes them)."""
        sql = _DELIVERY_SQL + " WHERE d.status = 'pending' AND d.due_at <= ?"
        if shards is not None:
            sql += f" AND {shards.sql('d.guild_id')}"
        rows = await self._db.fetchall(
            sql + " ORDER BY d.due_at, d.id LIMIT ?", (now.isoformat(timespec="seconds"), limit)
        )
        return [_delivery(row) for row in rows]

    async def claim_due(
        self, now: datetime, shards: Shards | None, owner: str, ttl: timedelta, limit: int
    ) -> list[Delivery]:
        """Claim up to `limit` due deliveries for `owner` until `ttl` from now and return them: one
        UPDATE takes only those nobody holds (or whose claim expired), so of two processes racing for
        the same delivery exactly one gets it. Sending a claimed delivery is then this process's alone."""
        where = f" AND {shards.sql()}" if shards is not None else ""
        async with self._db.transaction(serial=False) as tx:
            ids = await claim_rows(tx, "deliveries", owner, ttl, now, limit, where)
            if not ids:
                return []
            claimed = await tx.fetchall(
                _DELIVERY_SQL + f" WHERE d.id IN ({', '.join('?' * len(ids))}) ORDER BY d.due_at, d.id", ids
            )
        return [_delivery(row) for row in claimed]

    async def release(self, owner: str) -> int:
        """Give up all of `owner`'s claims, on posts and on DMs: another process, or the next start,
        takes them. Returns how many pending deliveries were released."""
        released = 0
        async with self._db.transaction() as tx:
            for table in CLAIMED_TABLES:
                released += await tx.execute(f"UPDATE {table} SET {UNCLAIMED} WHERE claimed_by = ?", (owner,))
        return released

    async def renew(self, owner: str, ttl: timedelta) -> int:
        """Extend `owner`'s claims (posts and DMs) to `ttl` from now (its heartbeat does, so a live
        process never loses a claim it is still working through, however long Discord makes it wait).
        How many."""
        renewed = 0
        async with self._db.transaction() as tx:
            until = (datetime.fromisoformat(tx.now()) + ttl).isoformat(timespec="seconds")
            for table in CLAIMED_TABLES:
                renewed += await tx.execute(
                    f"UPDATE {table} SET claim_expires = ? WHERE claimed_by = ? AND status = 'pending'",
                    (until, owner),
                )
        return renewed

    async def claims(self) -> dict[str, int]:
        """Live claims on pending deliveries, by owner."""
        rows = await self._db.fetchall(
            "SELECT claimed_by, count(*) FROM deliveries WHERE status = 'pending' AND claimed_by IS NOT NULL "
            "AND claim_expires > ? GROUP BY claimed_by",
            (self._db.now(),),
        )
        return {row[0]: int(row[1]) for row in rows}

    async def next_delivery_due(self, shards: Shards | None) -> datetime | None:
        """When the next pending delivery can be sent (see `next_due`)."""
        return await next_due(self._db, "deliveries", f" AND {shards.sql()}" if shards is not None else "")

    async def deliveries(self, guild_id: int | None = None, status: str | None = None) -> list[Delivery]:
        sql, params = narrowed(_DELIVERY_SQL, guild_id=guild_id, status=status)
        return [_delivery(row) for row in await self._db.fetchall(sql + " ORDER BY d.due_at, d.id", params)]

    async def status_counts(self, shards: Shards | None = None) -> dict[str, int]:
        """How many deliveries are in each status (pending, sent, failed, skipped), and how many of the
        pending ones some process holds a live claim on ("claimed"): for /metrics."""
        where = f"WHERE {shards.sql()}" if shards is not None else ""
        rows = await self._db.fetchall(
            "SELECT status, count(*), sum(CASE WHEN claimed_by IS NOT NULL AND claim_expires > ? THEN 1 ELSE 0 END) "
            f"FROM deliveries {where} "
            "GROUP BY status",
            (self._db.now(),),
        )
        counts = dict.fromkeys(("pending", "claimed", "sent", "failed", "skipped"), 0)
        for status, number, claimed in rows:
            counts[status] = int(number)
            if status == "pending":
                counts["claimed"] = int(claimed or 0)
        return counts

    async def mark_sent(self, delivery: Delivery, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE deliveries SET status = 'sent', message_id = ?, sent_at = ?, attempts = attempts + 1, "
                "claimed_by = NULL, claim_expires = NULL WHERE id = ?",
                (message_id, tx.now(), delivery.id),
            )
            await tx.execute(
                "UPDATE guild_settings SET failures = 0, problem = '' WHERE guild_id = ? AND failures > 0",
                (delivery.guild_id,),
            )

    async def skip(self, delivery: Delivery, reason: str) -> None:
        """Not posted, and not a failure: the post is no longer current (the premiere moved, say)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE deliveries SET status = 'skipped', error = ?, claimed_by = NULL, claim_expires = NULL WHERE id = ?",
                (reason, delivery.id),
            )

    async def mark_failed(self, delivery: Delivery, problem: str, *, retry_at: datetime | None) -> bool:
        """Record a failed post. With `retry_at` it is tried again then; without, it is given up and
        counts towards pausing the server's announcements. Returns whether the server is now paused."""
        async with self._db.transaction() as tx:
            if retry_at is not None:
                await tx.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, error = ?, due_at = ?, claimed_by = NULL, "
                    "claim_expires = NULL WHERE id = ?",
                    (problem, retry_at.isoformat(timespec="seconds"), delivery.id),
                )
                return False
            await tx.execute(
                "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, error = ?, claimed_by = NULL, "
                "claim_expires = NULL WHERE id = ?",
                (problem, delivery.id),
            )
            await tx.execute(
                "UPDATE guild_settings SET failures = failures + 1, problem = ?, "
                "paused_at = CASE WHEN failures + 1 >= ? THEN ? ELSE paused_at END WHERE guild_id = ?",
                (problem, PAUSE_AFTER_FAILURES, tx.now(), delivery.guild_id),
            )
            row = await tx.fetchone(
                "SELECT paused_at FROM guild_settings WHERE guild_id = ?", (delivery.guild_id,)
            )
            return bool(row and row[0])

    # --- scheduled events ------------------------------------------------------------------------

    async def guild_events(self, guild_id: int) -> dict[str, tuple[int, str]]:
        rows = await self._db.fetchall(
            "SELECT e.slug, g.event_id, g.premiere FROM guild_events g JOIN entries e ON e.id = g.entry_id "
            "WHERE g.guild_id = ?",
            (guild_id,),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def save_guild_event(
        self, guild_id: int, entry_slug: str, event_id: int | None, premiere: str = ""
    ) -> None:
        """Remember the scheduled event a server has for an entry's premiere (forget it with None)."""
        async with self._db.transaction() as tx:
            try:
                entry = await entry_id(tx, entry_slug, removed=True)
            except EntryNotFound:
                if event_id is None:
                    return  # nothing can be stored for an entry that never was
                raise
            if event_id is None:
                await tx.execute(
                    "DELETE FROM guild_events WHERE guild_id = ? AND entry_id = ?", (guild_id, entry)
                )
                return
            await tx.execute(
                "INSERT INTO guild_events (guild_id, entry_id, event_id, premiere) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (guild_id, entry_id) DO UPDATE SET event_id = excluded.event_id, "
                "premiere = excluded.premiere",
                (guild_id, entry, event_id, premiere),
            )

    async def event_room(self, guild_id: int) -> EventRoom | None:
        """What the bot last counted of the server's scheduled events (None: never counted)."""
        row = await self._db.fetchone(
            "SELECT others, counted_at, held_back FROM guild_event_room WHERE guild_id = ?", (guild_id,)
        )
        return EventRoom(row[0], datetime.fromisoformat(row[1]), row[2]) if row else None

    async def save_event_room(self, guild_id: int, room: EventRoom) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_event_room (guild_id, others, counted_at, held_back) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET others = excluded.others, counted_at = excluded.counted_at, "
                "held_back = excluded.held_back",
                (guild_id, room.others, room.counted_at.isoformat(timespec="seconds"), room.held_back),
            )


@dataclass(frozen=True)
class EventRoom:
    """A server's scheduled events as the bot last counted them: how many uncompleted ones others made,
    when it listed them, and how many premieres Discord's cap left without an event."""

    others: int
    counted_at: datetime
    held_back: int = 0


def summarize(revisions: Iterable[tuple[str, str, str | None, str | None]]) -> list[dict[str, Any]]:
    """Net changes per fact over a batch of revisions: the first old value and the last new one, each
    with its confidence ("confidence": the new fact's, or the old one's if it was removed;
    "old_confidence": the old fact's, None if it was added) and whether either value is a spoiler
    ("spoiler"). Revisions from before confidences and spoilers were recorded have neither: those facts
    were confirmed, and no spoilers.

    A fact changed and changed back within the batch is not a change; a change of confidence alone is,
    but a change of the spoiler mark alone is not news."""
    net: dict[tuple[str, str], dict[str, Any]] = {}
    for field, key, old, new in revisions:
        old_data, new_data = (json.loads(x) if x else None for x in (old, new))
        item = net.setdefault((field, key), {"field": field, "key": key, "old": old_data})
        item["new"] = new_data
    changes = []
    for item in net.values():
        old, new = item["old"], item["new"]
        if _same(old, new):
            continue
        latest = new or old or {}
        changes.append(
            {
                "field": item["field"],
                "key": item["key"],
                "old": _shown(old),
                "new": _shown(new),
                "source": latest.get("source", ""),
                "source_date": latest.get("source_date", ""),
                "confidence": _confidence(latest),
                "old_confidence": _confidence(old) if old is not None else None,
                # Either value was a spoiler: both are hidden in the post while the server hides them.
                "spoiler": any(bool(c.get("spoiler")) for c in (old, new) if c is not None),
            }
        )
    return changes


def _shown(content: dict[str, Any] | None) -> str | None:
    if content is None:
        return None
    return str(content.get("value") or content.get("title") or "")


def _confidence(content: dict[str, Any]) -> str:
    return str(content.get("confidence") or CONFIRMED)


def _same(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    if old is None or new is None:
        return old is new
    keys = ("value", "title", "source", "source_date", "note")
    return all(old.get(k) == new.get(k) for k in keys) and _confidence(old) == _confidence(new)
