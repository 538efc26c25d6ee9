"""The announcement outbox: servers' settings, change batches and deliveries. All its SQL lives here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store import Store

DEFAULT_MILESTONES = (30, 14, 7, 3, 1, 0)
PAUSE_AFTER_FAILURES = 3


@dataclass(frozen=True)
class Shards:
    """The shards a process owns: it announces only to their servers (Discord's guild-to-shard rule)."""

    count: int
    ids: tuple[int, ...]

    def sql(self, column: str = "guild_id") -> str:
        return f"(({column} >> 22) % {int(self.count)}) IN ({', '.join(str(int(i)) for i in self.ids)})"

    def owns(self, guild_id: int) -> bool:
        return (guild_id >> 22) % self.count in self.ids


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    channel_id: int | None = None
    milestones: tuple[int, ...] = DEFAULT_MILESTONES
    role_id: int | None = None
    updates: bool = True
    events: bool = False
    failures: int = 0
    problem: str = ""
    paused_at: str | None = None

    @property
    def active(self) -> bool:
        return self.channel_id is not None and self.paused_at is None


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


@dataclass(frozen=True)
class Batch:
    id: int
    entry_slug: str
    changes: list[dict[str, Any]]


def nonce(*parts: object) -> str:
    """A deterministic nonce (Discord allows 25 characters): the same delivery always sends the same one."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:25]


def _settings(row: Any) -> GuildSettings:
    return GuildSettings(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        milestones=tuple(int(m) for m in row["milestones"].split(",") if m != ""),
        role_id=row["role_id"],
        updates=bool(row["updates"]),
        events=bool(row["events"]),
        failures=row["failures"],
        problem=row["problem"],
        paused_at=row["paused_at"],
    )


_DELIVERY_SQL = (
    "SELECT d.id, d.kind, d.guild_id, d.channel_id, d.batch_id, e.slug AS entry_slug, d.milestone, d.premiere, "
    "d.due_at, d.nonce, d.attempts, d.status, d.message_id FROM deliveries d LEFT JOIN entries e ON e.id = d.entry_id"
)


def _delivery(row: Any) -> Delivery:
    return Delivery(*row)


class Outbox:
    """Reads and writes of the announcement tables, sharing the store's connection and transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- per-server settings ---------------------------------------------------------------------

    async def settings(self, guild_id: int) -> GuildSettings:
        async with self.store.db.execute(
            "SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _settings(row) if row else GuildSettings(guild_id)

    async def save_settings(self, settings: GuildSettings) -> GuildSettings:
        async with self.store.transaction() as db:
            await db.execute(
                "INSERT INTO guild_settings (guild_id, channel_id, milestones, role_id, updates, events, failures, "
                "problem, paused_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE "
                "SET channel_id = excluded.channel_id, milestones = excluded.milestones, role_id = excluded.role_id, "
                "updates = excluded.updates, events = excluded.events, failures = excluded.failures, "
                "problem = excluded.problem, paused_at = excluded.paused_at, updated_at = excluded.updated_at",
                (
                    settings.guild_id,
                    settings.channel_id,
                    ",".join(map(str, settings.milestones)),
                    settings.role_id,
                    int(settings.updates),
                    int(settings.events),
                    settings.failures,
                    settings.problem,
                    settings.paused_at,
                    self.store.now(),
                ),  # fmt: skip
            )
        return settings

    async def subscribed(self, shards: Shards | None, *, updates_only: bool = False) -> list[GuildSettings]:
        """Servers with a channel set and not paused (in the given shards)."""
        sql = "SELECT * FROM guild_settings WHERE channel_id IS NOT NULL AND paused_at IS NULL"
        if updates_only:
            sql += " AND updates = 1"
        if shards is not None:
            sql += f" AND {shards.sql()}"
        async with self.store.db.execute(sql + " ORDER BY guild_id") as cursor:
            return [_settings(row) for row in await cursor.fetchall()]

    # --- change updates --------------------------------------------------------------------------

    async def oldest_unbatched_change(self) -> datetime | None:
        async with self.store.db.execute(
            "SELECT min(created_at) FROM change_events WHERE batch_id IS NULL"
        ) as cursor:
            row = await cursor.fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def close_due_batches(self, now: datetime, settle: timedelta, shards: Shards | None) -> list[int]:
        """Turn the changes of every entry whose first unannounced change is `settle` old into one
        batch, with one delivery per subscribed server; all in one transaction per entry."""
        cutoff = (now - settle).isoformat(timespec="seconds")
        async with self.store.db.execute(
            "SELECT entry_id FROM change_events WHERE batch_id IS NULL GROUP BY entry_id HAVING min(created_at) <= ?",
            (cutoff,),
        ) as cursor:
            entry_ids = [row[0] for row in await cursor.fetchall()]
        batches = []
        for entry_id in entry_ids:
            async with self.store.transaction() as db:
                async with db.execute(
                    "SELECT c.id, r.field, r.key, r.old, r.new FROM change_events c JOIN revisions r ON r.id = c.revision_id "
                    "WHERE c.entry_id = ? AND c.batch_id IS NULL ORDER BY c.id",
                    (entry_id,),
                ) as cursor:
                    rows = await cursor.fetchall()
                changes = summarize((row[1], row[2], row[3], row[4]) for row in rows)
                cursor = await db.execute(
                    "INSERT INTO update_batches (entry_id, created_at, changes) VALUES (?, ?, ?)",
                    (entry_id, self.store.now(), json.dumps(changes, ensure_ascii=False)),
                )
                batch_id = int(cursor.lastrowid or 0)
                await db.executemany(
                    "UPDATE change_events SET batch_id = ? WHERE id = ?", [(batch_id, row[0]) for row in rows]
                )
                if changes:
                    sql = "SELECT guild_id, channel_id FROM guild_settings WHERE channel_id IS NOT NULL AND paused_at IS NULL AND updates = 1"
                    if shards is not None:
                        sql += f" AND {shards.sql()}"
                    async with db.execute(sql) as cursor:
                        guilds = await cursor.fetchall()
                    due = now.isoformat(timespec="seconds")
                    await db.executemany(
                        "INSERT OR IGNORE INTO deliveries (kind, guild_id, channel_id, batch_id, entry_id, due_at, nonce) "
                        "VALUES ('update', ?, ?, ?, ?, ?, ?)",
                        [(g, c, batch_id, entry_id, due, nonce("update", batch_id, g)) for g, c in guilds],
                    )
            batches.append(batch_id)
        return batches

    async def batch(self, batch_id: int) -> Batch | None:
        async with self.store.db.execute(
            "SELECT b.id, e.slug, b.changes FROM update_batches b JOIN entries e ON e.id = b.entry_id WHERE b.id = ?",
            (batch_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return Batch(row[0], row[1], json.loads(row[2])) if row else None

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
        async with self.store.transaction() as db:
            async with db.execute("SELECT id FROM entries WHERE slug = ?", (entry_slug,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return 0
            before = db.total_changes
            await db.executemany(
                "INSERT OR IGNORE INTO deliveries (kind, guild_id, channel_id, entry_id, milestone, premiere, due_at, nonce) "
                "VALUES ('milestone', ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g,
                        c,
                        row[0],
                        milestone,
                        premiere,
                        due_at.isoformat(timespec="seconds"),
                        nonce("milestone", row[0], milestone, premiere, g),
                    )
                    for g, c in guilds
                ],  # fmt: skip
            )
            return db.total_changes - before

    # --- deliveries ------------------------------------------------------------------------------

    async def due_deliveries(self, now: datetime, shards: Shards | None, limit: int = 500) -> list[Delivery]:
        sql = _DELIVERY_SQL + " WHERE d.status = 'pending' AND d.due_at <= ?"
        if shards is not None:
            sql += f" AND {shards.sql('d.guild_id')}"
        async with self.store.db.execute(
            sql + " ORDER BY d.due_at, d.id LIMIT ?", (now.isoformat(timespec="seconds"), limit)
        ) as cursor:
            return [_delivery(row) for row in await cursor.fetchall()]

    async def next_delivery_due(self, shards: Shards | None) -> datetime | None:
        sql = "SELECT min(due_at) FROM deliveries WHERE status = 'pending'"
        if shards is not None:
            sql += f" AND {shards.sql()}"
        async with self.store.db.execute(sql) as cursor:
            row = await cursor.fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def deliveries(self, guild_id: int | None = None, status: str | None = None) -> list[Delivery]:
        sql, params = _DELIVERY_SQL + " WHERE 1", []
        if guild_id is not None:
            sql += " AND d.guild_id = ?"
            params.append(guild_id)
        if status is not None:
            sql += " AND d.status = ?"
            params.append(status)
        async with self.store.db.execute(sql + " ORDER BY d.due_at, d.id", params) as cursor:
            return [_delivery(row) for row in await cursor.fetchall()]

    async def mark_sent(self, delivery: Delivery, message_id: int) -> None:
        async with self.store.transaction() as db:
            await db.execute(
                "UPDATE deliveries SET status = 'sent', message_id = ?, sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                (message_id, self.store.now(), delivery.id),
            )
            await db.execute(
                "UPDATE guild_settings SET failures = 0, problem = '' WHERE guild_id = ? AND failures > 0",
                (delivery.guild_id,),
            )

    async def skip(self, delivery: Delivery, reason: str) -> None:
        """Not posted, and not a failure: the post is no longer current (the premiere moved, say)."""
        async with self.store.transaction() as db:
            await db.execute(
                "UPDATE deliveries SET status = 'skipped', error = ? WHERE id = ?", (reason, delivery.id)
            )

    async def mark_failed(self, delivery: Delivery, problem: str, *, retry_at: datetime | None) -> bool:
        """Record a failed post. With `retry_at` it is tried again then; without, it is given up and
        counts towards pausing the server's announcements. Returns whether the server is now paused."""
        async with self.store.transaction() as db:
            if retry_at is not None:
                await db.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, error = ?, due_at = ? WHERE id = ?",
                    (problem, retry_at.isoformat(timespec="seconds"), delivery.id),
                )
                return False
            await db.execute(
                "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, error = ? WHERE id = ?",
                (problem, delivery.id),
            )
            await db.execute(
                "UPDATE guild_settings SET failures = failures + 1, problem = ?, "
                "paused_at = CASE WHEN failures + 1 >= ? THEN ? ELSE paused_at END WHERE guild_id = ?",
                (problem, PAUSE_AFTER_FAILURES, self.store.now(), delivery.guild_id),
            )
            async with db.execute(
                "SELECT paused_at FROM guild_settings WHERE guild_id = ?", (delivery.guild_id,)
            ) as cursor:
                row = await cursor.fetchone()
            return bool(row and row[0])

    # --- scheduled events ------------------------------------------------------------------------

    async def guild_events(self, guild_id: int) -> dict[str, tuple[int, str]]:
        async with self.store.db.execute(
            "SELECT e.slug, g.event_id, g.premiere FROM guild_events g JOIN entries e ON e.id = g.entry_id "
            "WHERE g.guild_id = ?",
            (guild_id,),
        ) as cursor:
            return {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}

    async def save_guild_event(
        self, guild_id: int, entry_slug: str, event_id: int | None, premiere: str = ""
    ) -> None:
        async with self.store.transaction() as db:
            if event_id is None:
                await db.execute(
                    "DELETE FROM guild_events WHERE guild_id = ? AND entry_id = (SELECT id FROM entries WHERE slug = ?)",
                    (guild_id, entry_slug),
                )
                return
            await db.execute(
                "INSERT INTO guild_events (guild_id, entry_id, event_id, premiere) "
                "VALUES (?, (SELECT id FROM entries WHERE slug = ?), ?, ?) ON CONFLICT (guild_id, entry_id) "
                "DO UPDATE SET event_id = excluded.event_id, premiere = excluded.premiere",
                (guild_id, entry_slug, event_id, premiere),
            )


def summarize(revisions: Iterable[tuple[str, str, str | None, str | None]]) -> list[dict[str, Any]]:
    """Net changes per fact over a batch of revisions: the first old value and the last new one.

    A fact changed and changed back within the batch is not a change."""
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
            }
        )
    return changes


def _shown(content: dict[str, Any] | None) -> str | None:
    if content is None:
        return None
    return str(content.get("value") or content.get("title") or "")


def _same(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    if old is None or new is None:
        return old is new
    keys = ("value", "title", "source", "source_date", "note")
    return all(old.get(k) == new.get(k) for k in keys)
