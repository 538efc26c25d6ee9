"""Each server's announcement settings, and what it will be sent next: `/announce` reads and writes
through here; the scheduler (bot/announcer.py) is poked after every change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.announcements import parse_milestones
from bot.posts import Posts, own_language, read_language
from bot.render import Card
from bot.spoilers import read_days
from bot.store import Store
from bot.store.servers import GuildSettings
from bot.zones import check_hour, find_zone

# The server's own language as Discord sent it with the admin's command being handled (cogs/announce.py
# sets it before each /announce command runs, in the task that runs it): kept with whatever the command
# saves, and never written on its own, so a refused command still changes nothing.
told_locale: ContextVar[str | None] = ContextVar("told_locale", default=None)


class Announcements:
    def __init__(
        self,
        store: Store,
        posts: Posts,
        poke: Callable[[], None],
        ask_locale: Callable[[int], Awaitable[str | None]],
    ) -> None:
        self.store = store
        self.posts = posts
        self.poke = poke
        self.ask_locale = ask_locale  # a server's own language, asked of Discord

    async def server_language(self, guild_id: int, told: str | None = None) -> str | None:
        """The language everything the whole server reads is in (posts, events, the followers' roles'
        names, the review channel's posts): the one /announce language chose, else the server's own
        (`told` with an interaction, else kept, else asked of Discord: see own_language)."""
        return await own_language(await self.settings(guild_id), told, self.ask_locale, self.store.servers)

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self.store.servers.get(guild_id)

    async def change(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Save the server's settings with `changes` (GuildSettings fields); the scheduler looks again."""
        current = await self.settings(guild_id)
        settings = replace(current, **changes, locale=told_locale.get() or current.locale)
        await self.store.servers.save(settings)
        self.poke()
        return settings

    async def post_in(self, guild_id: int, channel_id: int) -> GuildSettings:
        """Post in this channel; picking a channel also resumes announcements paused after failures.

        The server's countdown starts now (milestones that passed before are not its), unless it was
        already running and only the channel moves: then it keeps what it was due."""
        current = await self.settings(guild_id)
        since = current.countdown_since if current.active else self.store.now()
        return await self.change(
            guild_id, channel_id=channel_id, failures=0, problem="", paused_at=None, countdown_since=since
        )

    async def milestones(self, guild_id: int, days: str) -> GuildSettings:
        return await self.change(guild_id, milestones=parse_milestones(days))

    async def spoilers(self, guild_id: int, days: int) -> GuildSettings:
        """Keep spoilers hidden until `days` after each premiere (InputError outside 0..365)."""
        return await self.change(guild_id, spoiler_days=read_days(days))

    async def events_held_back(self, guild_id: int) -> int:
        """How many premieres have no event in the server because Discord's cap of 100 is reached."""
        room = await self.store.outbox.event_room(guild_id)
        return room.held_back if room else 0

    async def posting(
        self, guild_id: int, *, zone: str | None = None, hour: int | None = None
    ) -> GuildSettings:
        """Post countdowns in this IANA zone (a name in any case, or a city only one zone has) and at
        this hour (0-23) there. InputError, and nothing saved, for a zone or an hour that is neither."""
        changes: dict[str, Any] = {}
        if zone is not None:
            changes["timezone"] = find_zone(zone)
        if hour is not None:
            changes["post_hour"] = check_hour(hour)
        return await self.change(guild_id, **changes)

    async def language(self, guild_id: int, value: str) -> GuildSettings:
        """Post in this language (a Discord locale the bot speaks), or in the server's own for "server".
        InputError, and nothing saved, for anything else."""
        return await self.change(guild_id, language=read_language(value))

    async def upcoming(
        self, settings: GuildSettings, now: datetime, count: int = 3, server_locale: str | None = None
    ) -> list[tuple[datetime, Card]]:
        """The next posts, as they will read (in the server's language: see Posts.upcoming)."""
        return await self.posts.upcoming(settings, now, count, server_locale)
