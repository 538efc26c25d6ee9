"""Servers' announcement settings, and the shards a process owns (which servers it announces to)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from bot.facts import SPOILER_DAYS
from bot.store.database import Database, Row
from bot.zones import DEFAULT_HOUR, DEFAULT_ZONE, PostingTime

DEFAULT_MILESTONES = (30, 14, 7, 3, 1, 0)


@dataclass(frozen=True)
class Shards:
    """The shards a process owns: it announces only to their servers (Discord's guild-to-shard rule)."""

    count: int
    ids: tuple[int, ...]

    def sql(self, column: str = "guild_id") -> str:
        if not self.ids:  # a standby process, with no shard of its own yet
            return "(1 = 0)"
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
    # Per-title followers' roles (/citadel follow); off: posts ping the opt-in role, as before.
    follow_roles: bool = True
    # How many days after a premiere spoilers stay hidden in this server's answers and posts.
    spoiler_days: int = SPOILER_DAYS
    # When its countdowns go out: `post_hour`:00 on a milestone's day in its IANA zone `timezone`.
    timezone: str = DEFAULT_ZONE
    post_hour: int = DEFAULT_HOUR
    # The language of its posts (a Discord locale, /announce language); None: the server's own.
    language: str | None = None
    # The server's own language (a Discord locale) as Discord last told it; None: not known yet.
    locale: str | None = None

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


def settings_from_row(row: Row) -> GuildSettings:
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
        follow_roles=bool(row["follow_roles"]),
        spoiler_days=row["spoiler_days"],
        timezone=row["timezone"],
        post_hour=row["post_hour"],
        language=row["language"],
        locale=row["locale"],
    )


def stored_row(settings: GuildSettings) -> dict[str, object]:
    """A server's settings as its guild_settings row holds them (the inverse of settings_from_row)."""
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    values["milestones"] = ",".join(map(str, settings.milestones))
    return {name: int(value) if isinstance(value, bool) else value for name, value in values.items()}


class Servers:
    """`store.servers`: each server's announcement settings (the defaults for a server never set up)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Every answer in a server reads its spoiler days, so they are all kept here: the servers whose
        # days are not the default (most have none: a server never set up has no row), read in one
        # query when first asked (None: not read yet). A server's settings are changed through `save`
        # in the process that runs its shard, which keeps this up to date; a process that takes a
        # shard from another forgets it all and reads it again.
        self._spoiler_days: dict[int, int] | None = None
        self._saves = 0  # spoiler days saved here: a read that overlapped one is read again

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._db.fetchone("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        return settings_from_row(row) if row else GuildSettings(guild_id)

    async def save(self, settings: GuildSettings) -> GuildSettings:
        row = stored_row(settings)
        columns = [*row, "updated_at"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "guild_id")
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO guild_settings ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT (guild_id) DO UPDATE SET {updates}",
                (*row.values(), tx.now()),
            )
        self._saves += 1
        if self._spoiler_days is not None:  # only the days that are not the default are kept
            self._spoiler_days.pop(settings.guild_id, None)
            if settings.spoiler_days != SPOILER_DAYS:
                self._spoiler_days[settings.guild_id] = settings.spoiler_days
        return settings

    async def remember_locale(self, guild_id: int, locale: str | None) -> None:
        """Keep the server's own language as Discord sent it now (only for a server with settings)."""
        if locale is None:
            return
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE guild_settings SET locale = ? WHERE guild_id = ? AND (locale IS NULL OR locale <> ?)",
                (locale, guild_id, locale),
            )

    async def spoiler_days(self, guild_id: int) -> int:
        """How long this server keeps spoilers hidden after a premiere (every answer in a server asks:
        from memory, with no query but the first)."""
        kept = self._spoiler_days
        while kept is None:
            saves = self._saves
            rows = await self._db.fetchall(
                "SELECT guild_id, spoiler_days FROM guild_settings WHERE spoiler_days <> ?", (SPOILER_DAYS,)
            )
            if saves == self._saves:  # else a save came meanwhile, which these rows may not show
                kept = self._spoiler_days = {int(row[0]): int(row[1]) for row in rows}
        return kept.get(guild_id, SPOILER_DAYS)

    def forget_kept(self) -> None:
        """Forget every server's kept spoiler days (read again when next asked)."""
        self._spoiler_days = None

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
