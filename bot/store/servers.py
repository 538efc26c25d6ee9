"""Servers' announcement settings, and the shards a process owns (which servers it announces to)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.store.database import Database
from bot.zones import DEFAULT_HOUR, DEFAULT_ZONE, PostingTime

DEFAULT_MILESTONES = (30, 14, 7, 3, 1, 0)


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
    # When its countdown started (it picked its channel): milestones that passed before are never its.
    # None: not known (saved without /announce channel), every milestone counts.
    countdown_since: str | None = None
    # When its countdowns go out: `post_hour`:00 on a milestone's day in its IANA zone `timezone`.
    timezone: str = DEFAULT_ZONE
    post_hour: int = DEFAULT_HOUR

    @property
    def posting(self) -> PostingTime:
        return PostingTime(self.timezone, self.post_hour)

    @property
    def active(self) -> bool:
        return self.channel_id is not None and self.paused_at is None

    @property
    def since(self) -> datetime | None:
        """`countdown_since` as an instant (None: every milestone counts)."""
        return datetime.fromisoformat(self.countdown_since) if self.countdown_since else None


def settings_from_row(row: aiosqlite.Row) -> GuildSettings:
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
        countdown_since=row["countdown_since"],
        timezone=row["timezone"],
        post_hour=row["post_hour"],
    )


class Servers:
    """`store.servers`: each server's announcement settings (the defaults for a server never set up)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._db.fetchone("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        return settings_from_row(row) if row else GuildSettings(guild_id)

    async def save(self, settings: GuildSettings) -> GuildSettings:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, channel_id, milestones, role_id, updates, events, failures, "
                "problem, paused_at, countdown_since, timezone, post_hour, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET channel_id = excluded.channel_id, "
                "milestones = excluded.milestones, role_id = excluded.role_id, updates = excluded.updates, "
                "events = excluded.events, failures = excluded.failures, problem = excluded.problem, "
                "paused_at = excluded.paused_at, countdown_since = excluded.countdown_since, "
                "timezone = excluded.timezone, post_hour = excluded.post_hour, "
                "updated_at = excluded.updated_at",
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
                    settings.countdown_since,
                    settings.timezone,
                    settings.post_hour,
                    tx.now(),
                ),
            )
        return settings

    async def subscribed(self, shards: Shards | None, *, updates_only: bool = False) -> list[GuildSettings]:
        """Servers with a channel set and not paused (in the given shards)."""
        sql = subscribed_sql("*", shards, updates_only=updates_only)
        return [settings_from_row(row) for row in await self._db.fetchall(sql + " ORDER BY guild_id")]


def subscribed_sql(columns: str, shards: Shards | None, *, updates_only: bool = False) -> str:
    """SELECT `columns` of the servers with a channel set and not paused (in the given shards)."""
    sql = f"SELECT {columns} FROM guild_settings WHERE channel_id IS NOT NULL AND paused_at IS NULL"
    if updates_only:
        sql += " AND updates = 1"
    if shards is not None:
        sql += f" AND {shards.sql()}"
    return sql
