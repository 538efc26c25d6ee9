"""What the announcements look like when they are sent: a delivery, or a milestone still ahead, as a Card
read from the store at that moment (so every post is true when it is sent), or why it is not sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from bot import spoilers
from bot.announcements import (
    command_mention,
    countdown_card,
    milestone_at,
    premiere_moment,
    upcoming_milestones,
    update_card,
)
from bot.facts import SPOILER_DAYS, Entry
from bot.render import Card
from bot.store import Store
from bot.store.outbox import Delivery
from bot.store.servers import GuildSettings

CITADEL_COMMAND_KEY = "citadel_command_id"  # meta: the synced /citadel's id, for clickable mentions


@dataclass(frozen=True)
class Stale:
    """A delivery that is not posted after all, and why (what the outbox records as skipped)."""

    reason: str


class Posts:
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

    async def render(
        self,
        delivery: Delivery,
        now: datetime,
        milestones: Sequence[int] = (),
        spoiler_days: int = SPOILER_DAYS,
    ) -> Card | Stale:
        """The post as it reads at `now`, when it is sent (not when it was planned), or why it no longer
        goes out. A countdown is stale when its premiere moved or passed, or when a later milestone of
        the server's `milestones` has passed too (that one is posted instead: one count, not two).
        Spoilers are hidden until `spoiler_days` after the entry's premiere."""
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
            hide = spoilers.hidden(premiere, spoiler_days, now, self.default_time)
            return update_card(entry, batch.changes, now, await self.mention(entry.slug), hide_spoilers=hide)
        if delivery.milestone is None:
            return Stale("not a milestone")
        return await self.countdown(entry, delivery.milestone, delivery.premiere, now, milestones)

    async def countdown(
        self, entry: Entry, days: int, planned_for: str | None, now: datetime, milestones: Sequence[int]
    ) -> Card | Stale:
        """The `days` milestone's countdown to the premiere `planned_for`, as it reads at `now` (a server's
        post or a member's DM), or why it no longer goes out: the premiere moved or passed, or a later
        milestone of `milestones` has passed too (that one goes out instead: one count, not two)."""
        facts = await self.store.facts.for_entry(entry.slug)
        premiere = next((f.value for f in facts if f.field == "premiere"), None)
        moment = premiere_moment(premiere or "", self.default_time)
        if premiere != planned_for or moment is None:  # re-armed for the new date; this one is stale
            return Stale("the premiere moved")
        card = countdown_card(entry, facts, moment, now, await self.mention(entry.slug), on_the_day=days == 0)
        if card is None:
            return Stale("the premiere has passed")
        later = [m for m in milestones if m < days and milestone_at(moment, m) <= now]
        if later:
            return Stale(f"the {min(later)}-day milestone has passed too; it is posted instead")
        return card

    async def upcoming(
        self, settings: GuildSettings, now: datetime, count: int = 3
    ) -> list[tuple[datetime, Card]]:
        """The next posts this server will get, with their times, as they will read then."""
        found: list[tuple[datetime, Card]] = []
        for delivery in await self.store.outbox.deliveries(settings.guild_id, status="pending"):
            when = max(datetime.fromisoformat(delivery.due_at), now)
            card = await self.render(delivery, when, settings.milestones, settings.spoiler_days)
            if isinstance(card, Card):
                found.append((when, card))
        for slug, value in await self.store.facts.premieres():
            moment = premiere_moment(value, self.default_time)
            entry = await self.store.entries.get(slug)
            if moment is None or entry is None:
                continue
            facts, mention = await self.store.facts.for_entry(slug), await self.mention(slug)
            for when, days in upcoming_milestones(moment, settings.milestones, now)[:count]:
                ahead = countdown_card(entry, facts, moment, when, mention, on_the_day=days == 0)
                if ahead is not None:
                    found.append((when, ahead))
        found.sort(key=lambda pair: pair[0])
        return found[:count]
