"""The announcement scheduler: one task that sleeps until the next due item (or until woken by a change),
turns changes into update batches, plans milestone posts, and delivers them exactly once.

Delivery is at-least-once towards Discord and exactly-once as seen by users: every send carries a
deterministic nonce (discord.py then sets enforce_nonce), so a retry after a crash between the send
and its mark returns the message already posted instead of a second one.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
import discord

from bot.announcements import Premiere, due_milestone, milestone_times, premiere_moment, upcoming_milestones
from bot.clock import Timer, stop_task
from bot.pacing import Pacer
from bot.posts import Posts, Stale
from bot.presence import STALE
from bot.render import to_embed
from bot.store import Store
from bot.store.outbox import Delivery
from bot.store.servers import GuildSettings, Shards
from bot.zones import PostingTime

log = logging.getLogger(__name__)

CONCURRENCY = 32  # posts in flight: ~48 a second at Discord's real round trips (a few hundred ms)
# Deliveries are claimed this many at a time (a couple of seconds of posts at Discord's pace), each claim
# a lease this long, renewed by the process's heartbeat (bot/presence.py): a process killed while
# holding claims frees them when they expire, or at once when the next start on its machine sees it
# is gone.
CLAIM_BATCH = 100
CLAIM_TTL = STALE
MAX_ATTEMPTS = 5
RETRY_AFTER_ERROR = timedelta(seconds=30)
EVENT_LENGTH = timedelta(hours=2)
_ALWAYS = datetime.min.replace(tzinfo=UTC)  # the countdown start of a server that never recorded one


def _countdown_start(settings: GuildSettings) -> datetime:
    return settings.since or _ALWAYS


# What servers share to have the same milestone times: their milestones, zone and posting hour.
_Timing = tuple[tuple[int, ...], PostingTime]


@dataclass(frozen=True)
class _Audience:
    """The servers that share one milestone setting, zone and hour, in the order their countdowns started."""

    starts: list[datetime]
    guilds: list[tuple[int, int]]  # (guild, channel), in the same order

    def subscribed_by(self, at: datetime) -> list[tuple[int, int]]:
        """The servers whose countdown had started by `at`: a milestone then is theirs."""
        return self.guilds[: bisect.bisect_right(self.starts, at)]


@dataclass(frozen=True)
class StopReport:
    """What stopping the scheduler did: posts it finished sending meanwhile, and claims it gave back."""

    finished: int
    released: int
    cut_off: int = (
        0  # sends Discord had not answered when the grace ran out (released: their nonce makes a retry safe)
    )


@dataclass(frozen=True)
class PremiereEvent:
    """A Discord scheduled event for one premiere, as the scheduler wants it."""

    name: str
    start: datetime
    end: datetime
    location: str
    description: str


@dataclass(frozen=True)
class Outgoing:
    """A post as it goes out: its nonce makes a retry after a crash return the message already posted."""

    content: str | None
    embed: discord.Embed
    nonce: str
    allowed_mentions: discord.AllowedMentions


class Sender(Protocol):
    """What the scheduler needs of Discord (bot/client.py implements it with discord.py)."""

    async def post(self, guild_id: int, channel_id: int, message: Outgoing) -> int:
        """Send a message; its id."""
        ...

    async def create_event(self, guild_id: int, event: PremiereEvent) -> int:
        """Create an external scheduled event; its id."""
        ...

    async def move_event(self, guild_id: int, event_id: int, event: PremiereEvent) -> None: ...

    async def cancel_event(self, guild_id: int, event_id: int) -> None: ...


class Announcer:
    """The scheduler. It depends on the store, a clock, something that sends, and the posts' renderer;
    `ready` is awaited before the first step (the gateway connected and the commands synced)."""

    def __init__(
        self,
        store: Store,
        clock: Timer,
        sender: Sender,
        posts: Posts,
        *,
        settle: timedelta,
        rate: float | None = None,
        shards: Callable[[], Shards | None],
        ready: Callable[[], Awaitable[object]],
        owner: str = "announcer",
        pacer: Pacer | None = None,
        on_posted: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.owner = owner  # the name its delivery claims carry (this process's, see bot/presence.py)
        self.on_posted = on_posted  # told "sent", "failed" or "skipped" for each delivery (metrics)
        self.stopping = False  # set by stop(): no new delivery is claimed or started
        self.sent = 0  # posts sent since start
        self.sending = 0  # posts handed to Discord and not yet answered
        self.outbox = store.outbox
        self.clock = clock
        self.sender = sender
        self.posts = posts
        self.settle = settle
        self.default_time = posts.default_time  # DEFAULT_PREMIERE_TIME: the start of a premiere event
        # Paces posts under Discord's limits (the bot's is fed by its HTTP trace); `rate` is a ceiling.
        self.pacer = pacer or Pacer(ceiling=rate)
        self.shards = shards
        self._ready = ready
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.steps = 0  # how many times the scheduler woke up and worked (idle-CPU checks read it)
        # Whether the scheduler is asleep, and until when: `settled()` reads them.
        self._asleep = False
        self._sleeping_until: datetime | None = None
        self._turned = asyncio.Event()  # set whenever the scheduler falls asleep or wakes up

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.task is None:
            self.store.on_change.append(self.poke)
            self.task = asyncio.create_task(self._run(), name="announcer")

    async def stop(self, grace: float = 0.0) -> StopReport:
        """Stop: claim and start no more deliveries, give those being sent up to `grace` seconds to
        finish, then end the scheduler and release every claim it still holds, so the next start (or
        another process) sends those posts: none is lost, none repeated."""
        if self.task is None:
            return StopReport(0, 0)
        self.store.on_change.remove(self.poke)
        self.stopping = True
        sent_before = self.sent
        self.wake.set()
        if grace > 0:
            await asyncio.wait({self.task}, timeout=grace)
        cut_off = self.sending
        try:
            await stop_task(self.task)
        finally:
            self.task = None
            released = await self.outbox.release(self.owner)
        return StopReport(self.sent - sent_before, released, cut_off)

    def poke(self) -> None:
        """Something changed (a fact, a server's settings): look again now instead of at the planned time."""
        self.wake.set()

    async def _run(self) -> None:
        await self._ready()
        while not self.stopping:
            self.wake.clear()
            try:
                next_at = await self.step()
            except Exception:  # one bad step must not end announcements for good
                log.exception("announcer step failed; trying again in %s", RETRY_AFTER_ERROR)
                next_at = self.clock() + RETRY_AFTER_ERROR
            await self._sleep(next_at)

    async def _sleep(self, until: datetime | None) -> None:
        self._asleep, self._sleeping_until = True, until
        self._turned.set()
        try:
            await self.clock.sleep_until(until, self.wake)
        finally:
            self._asleep = False
            self._turned.set()

    def lag(self) -> float | None:
        """Seconds the scheduler is behind its plan: how long past the moment it meant to wake it still
        sleeps (a blocked loop, a stuck step), 0.0 when on time, None before its first step (it waits
        for the gateway and the command sync) or once stopped. /healthz and /metrics read it."""
        if self.task is None or self.task.done() or self.steps == 0:
            return None
        until = self._sleeping_until
        if not self._asleep or until is None:
            return 0.0
        return max(0.0, (self.clock() - until).total_seconds())

    def _is_settled(self) -> bool:
        until = self._sleeping_until
        return self._asleep and not self.wake.is_set() and (until is None or self.clock() < until)

    async def settled(self) -> None:
        """Return once the scheduler has done everything due at the clock's current time (and every
        change it was poked for) and sleeps: what tests wait on instead of sleeping."""
        while not self._is_settled():
            self._turned.clear()
            await self._turned.wait()

    # --- one step --------------------------------------------------------------------------------

    async def step(self) -> datetime | None:
        """Do everything due now; return when something is next due (None: nothing planned)."""
        self.steps += 1
        now, shards = self.clock(), self.shards()
        await self.outbox.close_due_batches(now, self.settle, shards)
        subscribed = await self.store.servers.subscribed(shards)
        # Read once a step, and only when some server listens: milestones and events both need them.
        premieres = await self.store.facts.premieres() if subscribed else []
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
        """Create the deliveries of every milestone due now; return when the next one falls due.

        Servers are grouped by their milestones, zone and posting hour (most share a few), so the
        arithmetic runs once per premiere and group; a group is ordered by when each server's countdown
        started, so the servers a due milestone is for (those subscribed by its time) are a prefix,
        found by bisection."""
        audiences: dict[_Timing, _Audience] = {}
        for settings in sorted(subscribed, key=_countdown_start):
            assert settings.channel_id is not None
            audience = audiences.setdefault((settings.milestones, settings.posting), _Audience([], []))
            audience.starts.append(_countdown_start(settings))
            audience.guilds.append((settings.guild_id, settings.channel_id))
        next_due: datetime | None = None
        for slug, value in premieres:
            premiere = Premiere.read(value)
            if premiere is None:
                continue
            for (milestones, posting), audience in audiences.items():
                times = milestone_times(premiere, milestones, posting)
                days = due_milestone(times, now)
                if days is not None and (guilds := audience.subscribed_by(times[days])):
                    await self.outbox.plan_milestone(slug, days, value, now, guilds)
                ahead = upcoming_milestones(times, now)
                if ahead and (next_due is None or ahead[0][0] < next_due):
                    next_due = ahead[0][0]
        return next_due

    # --- delivery --------------------------------------------------------------------------------

    async def deliver(self, now: datetime, shards: Shards | None, settings: dict[int, GuildSettings]) -> int:
        """Claim the due deliveries a batch at a time and send them, CONCURRENCY at a time and paced
        under Discord's limits; until none is left or the scheduler is stopping (what it claimed and
        did not start then is released by `stop`)."""
        sent_before = self.sent
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with semaphore:
                if self.stopping:
                    return
                await self._pace()
                if not self.stopping:
                    await self.send(delivery, settings.get(delivery.guild_id), now)

        while not self.stopping and (
            batch := await self.outbox.claim_due(now, shards, self.owner, CLAIM_TTL, CLAIM_BATCH)
        ):
            await asyncio.gather(*(one(d) for d in batch))
        return self.sent - sent_before

    async def _pace(self) -> None:
        await self.pacer.slot()

    async def send(self, delivery: Delivery, settings: GuildSettings | None, now: datetime) -> int:
        """Post one delivery; returns 1 if it was posted."""
        if settings is None or not settings.active:
            await self._skip(delivery, "announcements are off")
            return 0
        # Rendered now, as it is sent: a post held up (downtime, a rate limit, a crash) counts from now.
        card = await self.posts.render(delivery, now, settings)
        if isinstance(card, Stale):
            await self._skip(delivery, card.reason)
            return 0
        role = settings.role_id
        try:
            # Only the server's opt-in role is ever pinged; the post's own text pings nobody.
            mentions = (
                discord.AllowedMentions(everyone=False, users=False, roles=[discord.Object(role)])
                if role
                else discord.AllowedMentions.none()
            )
            outgoing = Outgoing(f"<@&{role}>" if role else None, to_embed(card), delivery.nonce, mentions)
            self.sending += 1
            try:
                message_id = await self.sender.post(delivery.guild_id, delivery.channel_id, outgoing)
            finally:
                self.sending -= 1
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
                self._told("retried")
            return 0
        await self.outbox.mark_sent(delivery, message_id)
        self.sent += 1
        self._told("sent")
        return 1

    def _told(self, outcome: str) -> None:
        if self.on_posted is not None:
            self.on_posted(outcome)

    async def _skip(self, delivery: Delivery, reason: str) -> None:
        await self.outbox.skip(delivery, reason)
        self._told("skipped")

    async def _failed(self, delivery: Delivery, problem: str) -> None:
        self._told("failed")
        if await self.outbox.mark_failed(delivery, problem, retry_at=None):
            log.warning(
                "announcements paused in server %d after repeated failures: %s", delivery.guild_id, problem
            )

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
        for slug, (event_id, _) in existing.items():
            if slug not in wanted:
                await self.sender.cancel_event(guild_id, event_id)
                await self.outbox.save_guild_event(guild_id, slug, None)
        for slug, (value, moment) in wanted.items():
            entry = await self.store.entries.get(slug)
            if entry is None:
                continue
            event = PremiereEvent(
                name=f"{entry.title} premieres"[:100],
                start=moment,
                end=moment + EVENT_LENGTH,
                location="Prime Video",
                description=f"Everything known: /citadel {slug}",
            )
            if slug not in existing:
                event_id = await self.sender.create_event(guild_id, event)
                await self.outbox.save_guild_event(guild_id, slug, event_id, value)
            elif existing[slug][1] != value:
                await self.sender.move_event(guild_id, existing[slug][0], event)
                await self.outbox.save_guild_event(guild_id, slug, existing[slug][0], value)
