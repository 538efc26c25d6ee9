"""What the announcements look like when they are sent: a delivery, or a milestone still ahead, as a Card
read from the store at that moment (so every post is true when it is sent)."""

from __future__ import annotations

from datetime import datetime, time

from bot.announcements import (
    command_mention,
    countdown_card,
    premiere_moment,
    upcoming_milestones,
    update_card,
)
from bot.render import Card
from bot.store import Store
from bot.store.outbox import Delivery
from bot.store.servers import GuildSettings

CITADEL_COMMAND_KEY = "citadel_command_id"  # meta: the synced /citadel's id, for clickable mentions


class Posts:
    def __init__(self, store: Store, default_time: time) -> None:
        self.store = store
        self.default_time = default_time

    async def mention(self, slug: str) -> str:
        command_id = await self.store.meta.get(CITADEL_COMMAND_KEY)
        return command_mention(slug, int(command_id) if command_id else None)

    async def render(self, delivery: Delivery, now: datetime) -> Card | None:
        """The post as it will look, or None if it is no longer current (the premiere moved, the entry went)."""
        slug = delivery.entry_slug
        entry = await self.store.entries.get(slug) if slug else None
        if entry is None:
            return None
        if delivery.kind == "update":
            batch = await self.store.outbox.batch(delivery.batch_id or 0)
            return update_card(entry, batch.changes, now, await self.mention(entry.slug)) if batch else None
        facts = await self.store.facts.for_entry(entry.slug)
        premiere = next((f.value for f in facts if f.field == "premiere"), None)
        if premiere != delivery.premiere:  # re-armed for the new date; this one is stale
            return None
        moment = premiere_moment(premiere or "", self.default_time)
        if moment is None or delivery.milestone is None:
            return None
        return countdown_card(entry, facts, delivery.milestone, moment, await self.mention(entry.slug))

    async def upcoming(
        self, settings: GuildSettings, now: datetime, count: int = 3
    ) -> list[tuple[datetime, Card]]:
        """The next posts this server will get, with their times, as they will look."""
        found: list[tuple[datetime, Card]] = []
        for delivery in await self.store.outbox.deliveries(settings.guild_id, status="pending"):
            card = await self.render(delivery, now)
            if card is not None:
                found.append((max(datetime.fromisoformat(delivery.due_at), now), card))
        for slug, value in await self.store.facts.premieres():
            moment = premiere_moment(value, self.default_time)
            entry = await self.store.entries.get(slug)
            if moment is None or entry is None:
                continue
            facts = await self.store.facts.for_entry(slug)
            for when, days in upcoming_milestones(moment, settings.milestones, now)[:count]:
                found.append((when, countdown_card(entry, facts, days, moment, await self.mention(slug))))
        found.sort(key=lambda pair: pair[0])
        return found[:count]
