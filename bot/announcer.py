"""The announcement scheduler: one task that sleeps until the next due item (or until woken by a change),
turns changes into update batches, plans milestone posts, and delivers them exactly once.

Delivery is at-least-once towards Discord and exactly-once as seen by users: every send carries a
deterministic nonce (discord.py then sets enforce_nonce), so a retry after a crash between the send
and its mark returns the message already posted instead of a second one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.announcements import (
    command_mention,
    countdown_card,
    due_milestone,
    premiere_moment,
    upcoming_milestones,
    update_card,
)
from bot.render import Card, to_embed
from bot.store.outbox import Delivery, GuildSettings, Outbox, Shards

if TYPE_CHECKING:
    from bot.client import CitadelBot

log = logging.getLogger(__name__)

CONCURRENCY = 8
MAX_ATTEMPTS = 5
RETRY_AFTER_ERROR = timedelta(seconds=30)
EVENT_LENGTH = timedelta(hours=2)
CITADEL_COMMAND_KEY = "citadel_command_id"


class Announcer:
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.outbox = Outbox(bot.store)
        self.clock = bot.clock
        self.settle = timedelta(seconds=bot.settings.update_settle_seconds)
        self.default_time = bot.settings.default_premiere_time
        self.interval = 1.0 / bot.settings.announce_rate
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.steps = 0  # how many times the scheduler woke up and worked (idle-CPU checks read it)
        self._next_slot = 0.0
        bot.store.on_change.append(self.poke)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name="announcer")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    def poke(self) -> None:
        """Something changed (a fact, a server's settings): look again now instead of at the planned time."""
        self.wake.set()

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        await self.bot.sync_finished.wait()  # posts link to /citadel <entry> by the synced command's id
        while True:
            self.wake.clear()
            try:
                next_at = await self.step()
            except Exception:  # one bad step must not end announcements for good
                log.exception("announcer step failed; trying again in %s", RETRY_AFTER_ERROR)
                next_at = self.clock() + RETRY_AFTER_ERROR
            await self.clock.sleep_until(next_at, self.wake)

    def shards(self) -> Shards | None:
        """The shards this process owns, or None when it runs them all (SHARD_IDS unset)."""
        ids = self.bot.settings.shard_ids
        count = self.bot.shard_count
        if ids is None or not count:
            return None
        return Shards(count, tuple(ids))

    # --- one step --------------------------------------------------------------------------------

    async def step(self) -> datetime | None:
        """Do everything due now; return when something is next due (None: nothing planned)."""
        self.steps += 1
        now, shards = self.clock(), self.shards()
        await self.outbox.close_due_batches(now, self.settle, shards)
        subscribed = await self.outbox.subscribed(shards)
        # Read once a step, and only when some server listens: milestones and events both need them.
        premieres = await self.bot.store.premieres() if subscribed else []
        next_milestone = await self.plan_milestones(now, subscribed, premieres)
        await self.deliver(now, shards, {s.guild_id: s for s in subscribed})
        await self.sync_events([s for s in subscribed if s.events], premieres)
        candidates = [next_milestone, await self.outbox.next_delivery_due(shards)]
        if (oldest := await self.outbox.oldest_unbatched_change()) is not None:
            candidates.append(oldest + self.settle)
        return min((c for c in candidates if c is not None), default=None)

    async def plan_milestones(
        self, now: datetime, subscribed: list[GuildSettings], premieres: list[tuple[str, str]]
    ) -> datetime | None:
        """Create the deliveries of every milestone due now; return when the next one falls due."""
        by_config: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for settings in subscribed:
            assert settings.channel_id is not None
            by_config.setdefault(settings.milestones, []).append((settings.guild_id, settings.channel_id))
        next_due: datetime | None = None
        for slug, value in premieres:
            moment = premiere_moment(value, self.default_time)
            if moment is None:
                continue
            for config, guilds in by_config.items():
                days = due_milestone(moment, config, now)
                if days is not None:
                    await self.outbox.plan_milestone(slug, days, value, now, guilds)
                ahead = upcoming_milestones(moment, config, now)
                if ahead and (next_due is None or ahead[0][0] < next_due):
                    next_due = ahead[0][0]
        return next_due

    # --- delivery --------------------------------------------------------------------------------

    async def deliver(self, now: datetime, shards: Shards | None, settings: dict[int, GuildSettings]) -> int:
        """Send every due delivery, CONCURRENCY at a time and no faster than ANNOUNCE_RATE."""
        sent = 0
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            nonlocal sent
            async with semaphore:
                await self._pace()
                sent += await self.send(delivery, settings.get(delivery.guild_id), now)

        while batch := await self.outbox.due_deliveries(now, shards):
            await asyncio.gather(*(one(d) for d in batch))
            if len(batch) < 500:
                break
        return sent

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        slot = max(self._next_slot, loop.time())
        self._next_slot = slot + self.interval
        if slot > loop.time():
            await asyncio.sleep(slot - loop.time())

    async def send(self, delivery: Delivery, settings: GuildSettings | None, now: datetime) -> int:
        """Post one delivery; returns 1 if it was posted."""
        card = await self.render(delivery, now)
        if card is None or settings is None or not settings.active:
            await self.outbox.skip(delivery, "no longer current" if card is None else "announcements are off")
            return 0
        role = settings.role_id
        channel = self.bot.get_partial_messageable(delivery.channel_id, guild_id=delivery.guild_id)
        try:
            message = await channel.send(
                content=f"<@&{role}>" if role else None,
                embed=to_embed(card),
                nonce=delivery.nonce,
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, users=False, roles=[discord.Object(role)]
                )
                if role
                else discord.AllowedMentions.none(),
            )
        except discord.Forbidden as exc:
            problem = f"I can't post in <#{delivery.channel_id}>: {exc.text or 'Missing Permissions'} (Discord {exc.code})."
            await self._failed(delivery, problem)
            return 0
        except discord.NotFound as exc:
            problem = f"The channel <#{delivery.channel_id}> no longer exists (Discord {exc.code})."
            await self._failed(delivery, problem)
            return 0
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            if delivery.attempts + 1 >= MAX_ATTEMPTS:
                await self._failed(delivery, f"Posting failed {MAX_ATTEMPTS} times: {exc}")
            else:
                retry_at = now + RETRY_AFTER_ERROR * 2**delivery.attempts
                await self.outbox.mark_failed(delivery, str(exc), retry_at=retry_at)
            return 0
        await self.outbox.mark_sent(delivery, message.id)
        return 1

    async def _failed(self, delivery: Delivery, problem: str) -> None:
        if await self.outbox.mark_failed(delivery, problem, retry_at=None):
            log.warning(
                "announcements paused in server %d after repeated failures: %s", delivery.guild_id, problem
            )

    async def mention(self, slug: str) -> str:
        command_id = await self.bot.store.get_meta(CITADEL_COMMAND_KEY)
        return command_mention(slug, int(command_id) if command_id else None)

    async def render(self, delivery: Delivery, now: datetime) -> Card | None:
        """The post as it will look, or None if it is no longer current (the premiere moved, the entry went)."""
        slug = delivery.entry_slug
        entry = await self.bot.store.entry(slug) if slug else None
        if entry is None:
            return None
        if delivery.kind == "update":
            batch = await self.outbox.batch(delivery.batch_id or 0)
            return update_card(entry, batch.changes, now, await self.mention(entry.slug)) if batch else None
        facts = await self.bot.store.facts_for(entry.slug)
        premiere = next((f.value for f in facts if f.field == "premiere"), None)
        if premiere != delivery.premiere:  # re-armed for the new date; this one is stale
            return None
        moment = premiere_moment(premiere or "", self.default_time)
        if moment is None or delivery.milestone is None:
            return None
        return countdown_card(entry, facts, delivery.milestone, moment, await self.mention(entry.slug))

    # --- what a server will get next -------------------------------------------------------------

    async def upcoming(
        self, settings: GuildSettings, now: datetime, count: int = 3
    ) -> list[tuple[datetime, Card]]:
        """The next posts this server will get, with their times, as they will look."""
        found: list[tuple[datetime, Card]] = []
        for delivery in await self.outbox.deliveries(settings.guild_id, status="pending"):
            card = await self.render(delivery, now)
            if card is not None:
                found.append((max(datetime.fromisoformat(delivery.due_at), now), card))
        for slug, value in await self.bot.store.premieres():
            moment = premiere_moment(value, self.default_time)
            entry = await self.bot.store.entry(slug)
            if moment is None or entry is None:
                continue
            facts = await self.bot.store.facts_for(slug)
            for when, days in upcoming_milestones(moment, settings.milestones, now)[:count]:
                found.append((when, countdown_card(entry, facts, days, moment, await self.mention(slug))))
        found.sort(key=lambda pair: pair[0])
        return found[:count]

    # --- Discord scheduled events ----------------------------------------------------------------

    async def sync_events(self, servers: list[GuildSettings], premieres: list[tuple[str, str]]) -> None:
        """For servers that turned events on: one external event per premiere known to the day and
        still ahead; moved when the date moves, cancelled when it is no longer known."""
        if not servers:
            return
        now = self.clock()
        wanted: dict[str, tuple[str, datetime]] = {}
        for slug, value in premieres:
            moment = premiere_moment(value, self.default_time)
            if moment is not None and moment > now:
                wanted[slug] = (value, moment)
        for settings in servers:
            existing = await self.outbox.guild_events(settings.guild_id)
            try:
                await self._sync_guild_events(settings.guild_id, wanted, existing)
            except discord.HTTPException as exc:
                log.warning("could not sync scheduled events in %d: %s", settings.guild_id, exc)

    async def _sync_guild_events(
        self, guild_id: int, wanted: dict[str, tuple[str, datetime]], existing: dict[str, tuple[int, str]]
    ) -> None:
        http = self.bot.http
        for slug, (event_id, _) in existing.items():
            if slug not in wanted:
                await http.edit_scheduled_event(guild_id, event_id, status=4)  # cancelled
                await self.outbox.save_guild_event(guild_id, slug, None)
        for slug, (value, moment) in wanted.items():
            entry = await self.bot.store.entry(slug)
            if entry is None:
                continue
            times = {
                "scheduled_start_time": moment.isoformat(),
                "scheduled_end_time": (moment + EVENT_LENGTH).isoformat(),
            }
            if slug not in existing:
                data = await http.create_guild_scheduled_event(
                    guild_id,
                    name=f"{entry.title} premieres"[:100],
                    privacy_level=2,
                    entity_type=3,
                    entity_metadata={"location": "Prime Video"},
                    description=f"Everything known: /citadel {slug}",
                    **times,
                )
                await self.outbox.save_guild_event(guild_id, slug, int(data["id"]), value)
            elif existing[slug][1] != value:
                await http.edit_scheduled_event(guild_id, existing[slug][0], **times)
                await self.outbox.save_guild_event(guild_id, slug, existing[slug][0], value)
