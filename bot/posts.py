"""What the announcements look like when they are sent: a delivery, or a milestone still ahead, as a Card
read from the store at that moment (so every post is true when it is sent), or why it is not sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from bot import spoilers
from bot.announcements import (
    Premiere,
    command_mention,
    countdown_card,
    milestone_times,
    upcoming_milestones,
    update_card,
)
from bot.errors import InputError
from bot.facts import Entry, one_line
from bot.i18n import ENGLISH, LANGUAGES, reading, tr
from bot.render import Card
from bot.store import Store
from bot.store.outbox import Delivery
from bot.store.servers import GuildSettings, Servers
from bot.zones import PostingTime

CITADEL_COMMAND_KEY = "citadel_command_id"  # meta: the synced /citadel's id, for clickable mentions
SERVER_LANGUAGE = "server"  # /announce language's value for "the server's own language"
POST_LANGUAGES = (*LANGUAGES, ENGLISH)  # the languages a server's posts can be in (Discord locales)


def read_language(value: str) -> str | None:
    """/announce language's value as GuildSettings.language keeps it: a Discord locale the bot speaks, or
    None for the server's own (SERVER_LANGUAGE). InputError for anything else (Discord offers only the
    choices, but a client can send any text)."""
    if value == SERVER_LANGUAGE:
        return None
    if value in POST_LANGUAGES:
        return value
    raise InputError(
        tr("“{value}” is not a language I post in; pick one from the list.", value=one_line(value, 40))
    )


def post_language(settings: GuildSettings, server_locale: str | None) -> str | None:
    """The language a server's posts are in: the one it chose, else its own (the `preferred_locale`
    Discord gives for it). `reading` says English for a locale the bot does not speak."""
    return settings.language or server_locale


async def own_language(
    settings: GuildSettings,
    told: str | None,
    ask: Callable[[int], Awaitable[str | None]],
    servers: Servers,
) -> str | None:
    """`post_language`, with the server's own language found without a copy of the server (the bot keeps
    none): `told` (Discord sent it with an interaction just now), else the one kept from an admin's
    earlier /announce command, else asked of Discord (`ask`, one request) and kept."""
    if settings.language:
        return settings.language
    locale = told or settings.locale or await ask(settings.guild_id)
    if locale != settings.locale:
        await servers.remember_locale(settings.guild_id, locale)
    return locale


@dataclass(frozen=True)
class Stale:
    """A delivery that is not posted after all, and why (what the outbox records as skipped)."""

    reason: str


class Posts:
    """`default_time` (DEFAULT_PREMIERE_TIME) is not used for posts: a server's countdowns go out at its
    own hour and zone (GuildSettings.posting); it is kept here for the scheduled events."""

    def __init__(self, store: Store, default_time: time) -> None:
        self.store = store
        self.default_time = default_time

    async def mention(self, slug: str) -> str:
        command_id = await self.store.meta.get(CITADEL_COMMAND_KEY)
        return command_mention(slug, int(command_id) if command_id else None)

    async def ping(self, settings: GuildSettings, slug: str | None) -> int | None:
        """The one role a post about `slug` pings in the server: the title's followers' role where the
        server has one (and follow roles on), else the server's opt-in role, else none."""
        if settings.follow_roles and slug is not None:
            followers = await self.store.follower_roles.get(settings.guild_id, slug)
            if followers is not None:
                return followers
        return settings.role_id

    async def render(self, delivery: Delivery, now: datetime, settings: GuildSettings) -> Card | Stale:
        """The post as it reads at `now`, when it is sent (not when it was planned), in the server's
        zone and with its spoilers hidden as the server chose, or why it no longer goes out (see
        `countdown`)."""
        slug = delivery.entry_slug
        entry = await self.store.entries.get(slug) if slug else None
        if entry is None:
            return Stale("the entry was removed")
        if delivery.kind == "update":
            batch = await self.store.outbox.batch(delivery.batch_id or 0)
            if batch is None:
                return Stale("the update's changes are gone")
            facts = await self.store.facts.for_entry(entry.slug)
            premiere = next((f.value for f in facts if f.field == "premiere"), None)
            hide = spoilers.hidden(premiere, settings.spoiler_days, now, self.default_time)
            return update_card(entry, batch.changes, now, await self.mention(entry.slug), hide_spoilers=hide)
        if delivery.milestone is None:
            return Stale("not a milestone")
        return await self.countdown(
            entry, delivery.milestone, delivery.premiere, now, settings.milestones, settings.posting
        )

    async def countdown(
        self,
        entry: Entry,
        days: int,
        planned_for: str | None,
        now: datetime,
        milestones: Sequence[int],
        posting: PostingTime,
    ) -> Card | Stale:
        """The `days` milestone's countdown to the premiere `planned_for`, as it reads at `now` in the
        zone of `posting` (a server's post or a member's DM), or why it no longer goes out: the premiere
        moved or passed, or a later milestone of `milestones` has passed too (that one goes out instead:
        one count, not two)."""
        facts = await self.store.facts.for_entry(entry.slug)
        premiere = next((f.value for f in facts if f.field == "premiere"), None)
        dated = Premiere.read(premiere or "")
        if premiere != planned_for or dated is None:  # re-armed for the new date; this one is stale
            return Stale("the premiere moved")
        mention = await self.mention(entry.slug)
        card = countdown_card(entry, facts, dated, now, posting.zone, mention, on_the_day=days == 0)
        if card is None:
            return Stale("the premiere has passed")
        times = milestone_times(dated, milestones, posting)
        later = [m for m, at in times.items() if m < days and at <= now]
        if later:
            return Stale(f"the {min(later)}-day milestone has passed too; it is posted instead")
        return card

    async def upcoming(
        self, settings: GuildSettings, now: datetime, count: int = 3, server_locale: str | None = None
    ) -> list[tuple[datetime, Card]]:
        """The next posts this server will get, with their times, as they will read then (in its
        language: the one it chose, else `server_locale`, its own)."""
        with reading(post_language(settings, server_locale)):
            return await self._upcoming(settings, now, count)

    async def _upcoming(
        self, settings: GuildSettings, now: datetime, count: int
    ) -> list[tuple[datetime, Card]]:
        found: list[tuple[datetime, Card]] = []
        for delivery in await self.store.outbox.deliveries(settings.guild_id, status="pending"):
            when = max(datetime.fromisoformat(delivery.due_at), now)
            card = await self.render(delivery, when, settings)
            if isinstance(card, Card):
                found.append((when, card))
        posting = settings.posting
        for slug, value in await self.store.facts.premieres():
            premiere = Premiere.read(value)
            entry = await self.store.entries.get(slug)
            if premiere is None or entry is None:
                continue
            facts, mention = await self.store.facts.for_entry(slug), await self.mention(slug)
            times = milestone_times(premiere, settings.milestones, posting)
            for when, days in upcoming_milestones(times, now)[:count]:
                ahead = countdown_card(
                    entry, facts, premiere, when, posting.zone, mention, on_the_day=days == 0
                )
                if ahead is not None:
                    found.append((when, ahead))
        found.sort(key=lambda pair: pair[0])
        return found[:count]
