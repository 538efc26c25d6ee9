"""The announcement scheduler: one task that sleeps until the next due item (or until woken by a change),
turns changes into update batches, plans milestone posts, and delivers them exactly once.

Delivery is at-least-once towards Discord and exactly-once as seen by users: every send carries a
deterministic nonce (discord.py then sets enforce_nonce), so a retry after a crash between the send
and its mark returns the message already posted instead of a second one.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

import aiohttp
import discord

from bot.announcements import (
    EVERYTHING_KNOWN,
    Premiere,
    due_milestone,
    milestone_times,
    premiere_moment,
    upcoming_milestones,
)
from bot.clock import Timer, stop_task
from bot.i18n import reading, tr
from bot.pacing import Pacer, Spacing
from bot.posts import Posts, Stale, own_language
from bot.presence import STALE
from bot.reminders import REMINDER_POSTING, dm_text
from bot.render import to_embed
from bot.store import Store
from bot.store.outbox import Delivery, EventRoom
from bot.store.reminders import Reminder, ReminderDelivery
from bot.store.servers import GuildSettings, Shards
from bot.zones import PostingTime

log = logging.getLogger(__name__)
T = TypeVar("T")

CONCURRENCY = 32  # posts in flight: ~48 a second at Discord's real round trips (a few hundred ms)
# Deliveries are claimed this many at a time (a couple of seconds of posts at Discord's pace), each claim
# a lease this long, renewed by the process's heartbeat (bot/presence.py): a process killed while
# holding claims frees them when they expire, or at once when the next start on its machine sees it
# is gone.
CLAIM_BATCH = 100
CLAIM_TTL = STALE
MAX_ATTEMPTS = 5
RETRY_AFTER_ERROR = timedelta(seconds=30)
# Members' DM reminders: Discord publishes no limit for DMs, but watches them for spam (opening many DMs
# quickly gets a bot limited or flagged), so they have a ceiling of their own, far under the 50 requests a
# second of the global limit: DM_RATE a second, at most two requests each (opening the DM channel, once
# per member, and the message). A step sends at most DM_BATCH of them, so a long queue of DMs holds up the
# servers' posts by a few seconds at most.
DM_RATE = 2.0
DM_BATCH = 10
CANNOT_DM = 50007  # Discord's code for "Cannot send messages to this user": their DMs are closed to the bot
EVENT_LENGTH = timedelta(hours=2)
EVENT_CAP = 100  # Discord's limit on a server's uncompleted scheduled events, whoever made them
MAX_EVENTS_ERROR = 30038  # Discord's error code when that limit is reached
# How old the bot's count of a server's events may be when it makes one: a server's events are listed
# at most this often (and only when the bot has an event to make there).
RECOUNT_AFTER = timedelta(hours=1)
_ALWAYS = datetime.min.replace(tzinfo=UTC)  # the countdown start of a server that never recorded one


def retry_time(attempts: int, now: datetime) -> datetime | None:
    """When a send that failed for the `attempts`+1-th time is tried again (backing off), or None when it
    is given up."""
    return None if attempts + 1 >= MAX_ATTEMPTS else now + RETRY_AFTER_ERROR * 2**attempts


def _countdown_start(settings: GuildSettings) -> datetime:
    return settings.since or _ALWAYS


# What servers share to have the same milestone times: their milestones, zone and posting hour.
_Timing = tuple[tuple[int, ...], PostingTime]


@dataclass(frozen=True)
class _Audience(Generic[T]):
    """The servers that share one milestone setting, zone and hour (or the members who share one
    reminder), in the order their countdowns started."""

    starts: list[datetime]
    members: list[T]  # (guild, channel) or a member's id, in the same order

    def subscribed_by(self, at: datetime) -> list[T]:
        """Those whose countdown had started by `at`: a milestone then is theirs."""
        return self.members[: bisect.bisect_right(self.starts, at)]


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
    entry_slug: str | None = None  # the entry it is about: its Follow button goes with it


class Sender(Protocol):
    """What the scheduler needs of Discord (bot/client.py implements it with discord.py)."""

    async def post(self, guild_id: int | None, channel_id: int, message: Outgoing) -> int:
        """Send a message (guild_id None: in a DM channel); its id."""
        ...

    async def open_dm(self, user_id: int) -> int:
        """Open (or find) the DM channel with a member; its id."""
        ...

    async def create_event(self, guild_id: int, event: PremiereEvent) -> int:
        """Create an external scheduled event; its id."""
        ...

    async def move_event(self, guild_id: int, event_id: int, event: PremiereEvent) -> None: ...

    async def cancel_event(self, guild_id: int, event_id: int) -> None: ...

    async def delete_event(self, guild_id: int, event_id: int) -> None: ...

    async def uncompleted_events(self, guild_id: int) -> set[int]:
        """The ids of the server's scheduled and active events, whoever made them (one list request)."""
        ...

    async def server_locale(self, guild_id: int) -> str | None:
        """The server's own language, as Discord gives it now (the guild's `preferred_locale`)."""
        ...


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
        dm_spacing: Spacing | None = None,
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
        self.dm_spacing = dm_spacing or Spacing(
            DM_RATE
        )  # DMs: a low ceiling of their own, within the pacer's
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
        # DMs belong to shard 0 (as on Discord): one process sends them all, under one DM ceiling.
        dms = shards is None or 0 in shards.ids
        reminders = await self.store.reminders.active() if dms else []
        # Read once a step, and only when someone listens: milestones, events and reminders need them.
        premieres = await self.store.facts.premieres() if subscribed or reminders else []
        next_milestone = await self.plan_milestones(now, subscribed, premieres)
        await self.deliver(now, shards, {s.guild_id: s for s in subscribed})
        next_event_end = await self.sync_events([s for s in subscribed if s.events], premieres)
        candidates = [next_milestone, next_event_end, await self.outbox.next_delivery_due(shards)]
        if dms:
            candidates.append(await self.plan_reminders(now, reminders, premieres))
            await self.deliver_reminders(now)
            candidates.append(await self.store.reminders.next_due())
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
        audiences: dict[_Timing, _Audience[tuple[int, int]]] = {}
        for settings in sorted(subscribed, key=_countdown_start):
            assert settings.channel_id is not None
            audience = audiences.setdefault((settings.milestones, settings.posting), _Audience([], []))
            audience.starts.append(_countdown_start(settings))
            audience.members.append((settings.guild_id, settings.channel_id))
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

    async def language(self, settings: GuildSettings) -> str | None:
        """The language of a server's posts and events (see own_language)."""
        return await own_language(settings, None, self._ask_locale, self.store.servers)

    async def _ask_locale(self, guild_id: int) -> str | None:
        # A request to Discord like a post (once a server, for those whose language is not known yet),
        # paced with the posts so that a fan-out to them stays within Discord's global limit: it takes
        # a slot of its own (a slot is the next request its task makes).
        await self._pace()
        return await self.sender.server_locale(guild_id)

    async def send(self, delivery: Delivery, settings: GuildSettings | None, now: datetime) -> int:
        """Post one delivery; returns 1 if it was posted."""
        if settings is None or not settings.active:
            await self._skip(delivery, "announcements are off")
            return 0
        # In the server's language: the post, and what /announce status shows if it cannot be sent.
        asks = settings.language is None and settings.locale is None  # a request to Discord first
        language = await self.language(settings)
        if asks:  # that request took the slot this post was given: the post waits for one of its own
            await self._pace()
        with reading(language):
            return await self._send(delivery, settings, now)

    async def _send(self, delivery: Delivery, settings: GuildSettings, now: datetime) -> int:
        # Rendered now, as it is sent: a post held up (downtime, a rate limit, a crash) counts from now.
        card = await self.posts.render(delivery, now, settings)
        if isinstance(card, Stale):
            await self._skip(delivery, card.reason)
            return 0
        role = await self.posts.ping(settings, delivery.entry_slug)
        try:
            # Only that one role is ever pinged; the post's own text pings nobody.
            mentions = (
                discord.AllowedMentions(everyone=False, users=False, roles=[discord.Object(role)])
                if role
                else discord.AllowedMentions.none()
            )
            outgoing = Outgoing(
                f"<@&{role}>" if role else None, to_embed(card), delivery.nonce, mentions, delivery.entry_slug
            )
            self.sending += 1
            try:
                message_id = await self.sender.post(delivery.guild_id, delivery.channel_id, outgoing)
            finally:
                self.sending -= 1
        except discord.Forbidden as exc:
            problem = tr(
                "I can't post in {channel}: {reason} (Discord {code}).",
                channel=f"<#{delivery.channel_id}>",
                reason=exc.text or "Missing Permissions",
                code=exc.code,
            )
            await self._failed(delivery, problem)
            return 0
        except discord.NotFound as exc:
            problem = tr(
                "The channel {channel} no longer exists (Discord {code}).",
                channel=f"<#{delivery.channel_id}>",
                code=exc.code,
            )
            await self._failed(delivery, problem)
            return 0
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            retry_at = retry_time(delivery.attempts, now)
            if retry_at is None:
                await self._failed(
                    delivery, tr("Posting failed {count} times: {error}", count=MAX_ATTEMPTS, error=exc)
                )
            else:
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

    # --- members' DM reminders -------------------------------------------------------------------

    async def plan_reminders(
        self, now: datetime, reminders: list[Reminder], premieres: list[tuple[str, str]]
    ) -> datetime | None:
        """Plan the DM of every member's milestone due now, as for servers (the latest passed one,
        only while fresh; a moved premiere is a new one; a premiere not known to the day waits); return
        when the next one falls due. Members are grouped by entry and milestones, in the order they
        asked, so those a due milestone is for (who had asked by its time) are a prefix."""
        values = dict(premieres)
        audiences: dict[tuple[str, tuple[int, ...]], _Audience[int]] = {}
        for reminder in sorted(reminders, key=lambda r: r.started):
            audience = audiences.setdefault((reminder.entry_slug, reminder.milestones), _Audience([], []))
            audience.starts.append(reminder.started)
            audience.members.append(reminder.user_id)
        next_due: datetime | None = None
        for (slug, milestones), audience in audiences.items():
            value = values.get(slug)
            premiere = Premiere.read(value) if value else None
            if value is None or premiere is None:
                continue
            times = milestone_times(premiere, milestones, REMINDER_POSTING)
            days = due_milestone(times, now)
            if days is not None and (users := audience.subscribed_by(times[days])):
                await self.store.reminders.plan(slug, days, value, now, users)
            ahead = upcoming_milestones(times, now)
            if ahead and (next_due is None or ahead[0][0] < next_due):
                next_due = ahead[0][0]
        return next_due

    async def deliver_reminders(self, now: datetime) -> None:
        """Send up to DM_BATCH due DMs, one at a time, under DM_RATE and the global pacer (what is left
        is due at once, so the next step goes on after the servers' posts have had their turn)."""
        for delivery in await self.store.reminders.claim_due(now, self.owner, CLAIM_TTL, DM_BATCH):
            if self.stopping:
                return  # the rest of the claims are released by stop()
            await self.dm_spacing.wait()
            await self._pace()
            if self.stopping:
                return
            await self.send_reminder(delivery, now)

    async def send_reminder(self, delivery: ReminderDelivery, now: datetime) -> int:
        """DM one member their reminder, rendered now; returns 1 if it was sent. Closed DMs (50007) stop
        the member's reminders for good: never retried, recorded for /citadel remind to say."""
        # Read now, not when claimed: an earlier DM of the same batch may have opened their channel, or
        # found their DMs closed (then this one was skipped with the rest of theirs).
        recipient = await self.store.reminders.recipient(delivery.user_id)
        if recipient.closed_at is not None:
            return 0
        mine = await self.store.reminders.of_member(delivery.user_id)
        reminder = next((r for r in mine if r.entry_slug == delivery.entry_slug), None)
        entry = await self.store.entries.get(delivery.entry_slug)
        if reminder is None or entry is None:
            await self.store.reminders.skip(delivery, "the reminder was cancelled")
            return 0
        # In the member's language (the one they asked in), the countdown card too.
        with reading(reminder.locale):
            card = await self.posts.countdown(
                entry, delivery.milestone, delivery.premiere, now, reminder.milestones, REMINDER_POSTING
            )
            if isinstance(card, Stale):
                await self.store.reminders.skip(delivery, card.reason)
                return 0
            outgoing = Outgoing(
                dm_text(entry.title), to_embed(card), delivery.nonce, discord.AllowedMentions.none()
            )
        try:
            self.sending += 1
            try:
                channel_id = recipient.dm_channel_id
                if channel_id is None:
                    channel_id = await self.sender.open_dm(delivery.user_id)
                    await self.store.reminders.opened(delivery.user_id, channel_id)
                message_id = await self.sender.post(None, channel_id, outgoing)
            finally:
                self.sending -= 1
        except discord.Forbidden as exc:
            problem = f"Discord refused the DM: {exc.text or 'Forbidden'} (Discord {exc.code})."
            if exc.code == CANNOT_DM:
                log.info("member %d has closed DMs; their reminders stop", delivery.user_id)
                await self.store.reminders.closed(delivery, problem)
            else:
                await self.store.reminders.fail(delivery, problem)
            return 0
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            retry_at = retry_time(delivery.attempts, now)
            if retry_at is None:
                await self.store.reminders.fail(delivery, f"The DM failed {MAX_ATTEMPTS} times: {exc}")
            else:
                await self.store.reminders.retry(delivery, str(exc), retry_at)
            return 0
        await self.store.reminders.mark_sent(delivery, message_id)
        self.sent += 1
        return 1

    # --- Discord scheduled events ----------------------------------------------------------------

    async def sync_events(
        self, servers: list[GuildSettings], premieres: list[tuple[str, str]]
    ) -> datetime | None:
        """For servers that turned events on: one external event per premiere known to the day, for as
        many of the soonest as Discord's cap leaves room for; moved when the date moves, cancelled when
        it is no longer known, deleted once it has ended. Returns when the next of its events ends."""
        if not servers:
            return None
        now = self.clock()
        wanted: dict[str, tuple[str, datetime]] = {}
        for slug, value in premieres:
            moment = premiere_moment(value, self.default_time)
            if moment is not None and moment + EVENT_LENGTH > now:
                wanted[slug] = (value, moment)
        ends: list[datetime] = []
        for settings in servers:
            try:
                with reading(await self.language(settings)):  # an event's name and description: the server's
                    ends += await self._sync_guild_events(settings.guild_id, wanted, now)
            except discord.HTTPException as exc:
                log.warning("could not sync scheduled events in %d: %s", settings.guild_id, exc)
        return min(ends, default=None)

    async def _sync_guild_events(
        self, guild_id: int, wanted: dict[str, tuple[str, datetime]], now: datetime
    ) -> list[datetime]:
        """One server's events brought in line with `wanted`; the ends of the events it keeps."""
        existing = await self.outbox.guild_events(guild_id)
        for slug, (event_id, value) in list(existing.items()):
            moment = premiere_moment(value, self.default_time)
            if moment is not None and moment + EVENT_LENGTH <= now:  # over: it no longer takes room
                await self._forget_event(guild_id, slug, self.sender.delete_event(guild_id, event_id))
                del existing[slug]
        # The soonest premieres first; a premiere that has begun keeps its event, none is made for one.
        candidates = sorted(
            (moment, slug) for slug, (_, moment) in wanted.items() if slug in existing or moment > now
        )
        room = await self._event_room(guild_id, existing, [slug for _, slug in candidates], now)
        kept = {slug for _, slug in candidates[:room]}
        for slug, (event_id, _) in list(existing.items()):
            if slug not in kept:  # no longer known to the day, or a sooner premiere needs its room
                await self._forget_event(guild_id, slug, self.sender.cancel_event(guild_id, event_id))
                del existing[slug]
        held = len(candidates) - len(kept)
        for moment, slug in candidates[:room]:
            value = wanted[slug][0]
            if slug in existing and existing[slug][1] == value:
                continue
            entry = await self.store.entries.get(slug)
            if entry is None:
                continue
            event = PremiereEvent(
                name=tr("{title} premieres", title=entry.title)[:100],
                start=moment,
                end=moment + EVENT_LENGTH,
                location="Prime Video",
                description=tr(EVERYTHING_KNOWN, command=f"/citadel {slug}"),
            )
            if slug in existing:
                await self.sender.move_event(guild_id, existing[slug][0], event)
                await self.outbox.save_guild_event(guild_id, slug, existing[slug][0], value)
                continue
            try:
                event_id = await self.sender.create_event(guild_id, event)
            except discord.HTTPException as exc:
                if exc.code != MAX_EVENTS_ERROR:
                    raise
                # Others made events since the bot counted: the server is full until it counts again.
                held += sum(1 for _, later in candidates[:room] if later not in existing)
                await self.outbox.save_event_room(guild_id, EventRoom(EVENT_CAP - len(existing), now, held))
                log.info("scheduled events in %d: Discord's cap was reached before the bot's count", guild_id)
                break
            existing[slug] = (event_id, value)
            await self.outbox.save_guild_event(guild_id, slug, event_id, value)
        else:
            await self._held_back(guild_id, held)
        return [moment + EVENT_LENGTH for moment, slug in candidates if slug in existing]

    async def _forget_event(self, guild_id: int, slug: str, change: Awaitable[None]) -> None:
        """Cancel or delete one of the bot's events and forget it; one already gone is forgotten too."""
        with contextlib.suppress(discord.NotFound):
            await change
        await self.outbox.save_guild_event(guild_id, slug, None)

    async def _event_room(
        self, guild_id: int, existing: dict[str, tuple[int, str]], candidates: list[str], now: datetime
    ) -> int:
        """How many premieres the bot may have events for in the server. Discord is asked (one list of
        the server's events) only when an event is to be made and the last count is RECOUNT_AFTER old:
        not every step, and not every server."""
        saved = await self.outbox.event_room(guild_id)
        if all(slug in existing for slug in candidates):
            return len(candidates)  # nothing to make: the events the bot has are all it needs
        if saved is None or now - saved.counted_at >= RECOUNT_AFTER:
            ours = {event_id for event_id, _ in existing.values()}
            others = len(await self.sender.uncompleted_events(guild_id) - ours)
            saved = EventRoom(others, now, saved.held_back if saved else 0)
            await self.outbox.save_event_room(guild_id, saved)
        return max(EVENT_CAP - saved.others, 0)

    async def _held_back(self, guild_id: int, held: int) -> None:
        """Record how many premieres the cap holds back (for /announce status), when it changed."""
        saved = await self.outbox.event_room(guild_id)
        if saved is not None and saved.held_back != held:
            await self.outbox.save_event_room(guild_id, replace(saved, held_back=held))
        elif saved is None and held:
            await self.outbox.save_event_room(guild_id, EventRoom(0, self.clock(), held))
