"""Pacing announcement posts by what Discord says, under its global limit of 50 requests a second.

Discord sends no header for the global limit on success, so the pacer counts: every REST request the
bot makes goes through discord.py's aiohttp session, whose trace (`Pacer.trace`, passed to the client
as `http_trace=`) shows the pacer each request's start, its end and the response headers. Interaction
callbacks and token-authorised webhook routes (follow-ups) are exempt from the global limit, as on
Discord, and not counted; the gateway and the CDN are not REST and not counted either.

The window arithmetic. Discord counts a request when it arrives, in windows of one second; the bot
only knows that it arrived between the request's start and its response. Take any window [t, t + 1)
on Discord's side and, of the requests that arrived in it, the one the bot started last, at s: every
other one was started before s and arrived after t > s - 1, so at s it was either still in flight or
had been answered less than a second before. Hence the rule: **a request occupies the budget from the
moment a slot is handed out for it until one second after its response**, and a new slot is handed
out only while fewer than the budget are occupied. However Discord's windows fall (fixed, opened by
the first request after the last one ended as in the fake, or sliding), and however the network delay
varies, no window then receives more than the budget. The price of that certainty is each request's
round trip: a slot is busy for 1 s + the time from slot to answer, so the rate is budget / (1 s + that
time): 48.6 posts a second over loopback (49 slots, about 5 ms from slot to answer). A plain count of send times in a sliding second is faster by that round trip
but lets a window catch requests of two seconds whenever the delay varies (a request delayed by a
busy event loop, the next one not), and then Discord answers 429.

Slots are also spread out (at least half of window / budget apart, 10 ms, or 1 / ANNOUNCE_RATE):
handed out in a burst, posts queue up on their way out (rendering, the database, the event loop), and
every millisecond queued is a millisecond more that a slot stays busy.

The budget starts at Discord's documented 50 a second, less `headroom` slots left to the bot's other
traffic (a slash command that DMs, a review post), which is counted the same way, so the announcer
only fills what the rest leaves. A 429 with global scope (X-RateLimit-Global, X-RateLimit-Scope:
global, or "global": true in the body: another process on the same token, or a lower limit) stops
every slot for its Retry-After and lowers the budget by a tenth; it grows back by one a minute.

Per-route buckets are discord.py's job (it waits out X-RateLimit-Remaining 0 by itself); the pacer
notes exhausted buckets too, so `slot(channel_id)` can wait for that channel's message bucket instead
of handing out a slot that would sit in discord.py's bucket lock. In a fan-out every server has its own
channel, so that rarely matters.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import logging
import re
from types import SimpleNamespace

import aiohttp

log = logging.getLogger(__name__)

GLOBAL_LIMIT = 50  # requests a second per bot token, Discord's documented default
WINDOW = 1.0  # seconds
HEADROOM = 1  # slots of the budget the announcer leaves to the bot's other requests
EPSILON = 0.002  # seconds added to every occupancy, for clock and rounding differences
CLAIM_TIMEOUT = 10.0  # a slot handed out whose request never started is given back after this long
RECOVER_EVERY = 60.0  # after a global 429, the budget grows back by one per this many seconds
MIN_BUDGET = 5
# Slots at least this share of window / budget apart (half: up to twice the budget's rate for a moment).
# At 1.0 the spacing would be as fast as the budget itself, and its jitter and the budget's would add up
# to lost slots (47.3 posts a second instead of 48.6, measured); at 0 the first window goes in one burst.
SPACING = 0.5

# The REST path below /api or /api/vN; None for anything else (the gateway, the CDN).
_REST = re.compile(r"/api(?:/v\d+)?(/.*)$")
# Exempt from the global limit: interaction callbacks and the routes authorised by a webhook token.
_EXEMPT = re.compile(r"^/(?:interactions/\d+/[^/]+/callback|webhooks/\d+/[^/]+(?:/.*)?)$")
_MAJOR = re.compile(r"^/(?:channels|guilds|webhooks)/(\d+)")
_ID = re.compile(r"/\d+(?=/|$)")


def rest_path(url: str) -> str | None:
    """The path of a Discord REST request below /api/vN, or None if `url` is not one."""
    match = _REST.search(url.split("?", 1)[0])
    return match[1] if match else None


def is_exempt(path: str) -> bool:
    """Whether Discord leaves this REST path out of the global limit."""
    return _EXEMPT.match(path) is not None


def bucket_key(method: str, path: str) -> tuple[str, str, str]:
    """What one per-route bucket is keyed by: method, route with ids taken out, major id."""
    major = _MAJOR.match(path)
    return method, _ID.sub("/{id}", path), major[1] if major else ""


class _Claim:
    """A slot handed out: it counts until its request starts, or is given back unused."""

    __slots__ = ("granted_at",)

    def __init__(self, granted_at: float) -> None:
        self.granted_at = granted_at


# The slot the current task (and any task it starts) was handed: its next request is that slot's.
_CLAIM: contextvars.ContextVar[_Claim | None] = contextvars.ContextVar("pacer_claim", default=None)


class Pacer:
    """Hands out slots for posts so that all of the bot's REST requests stay under the global limit.

    `limit` requests per `window` seconds (Discord's: 50 per second); `ceiling`, if given, is a rate
    the announcer must not exceed even when Discord would allow more (ANNOUNCE_RATE)."""

    def __init__(
        self,
        *,
        limit: int = GLOBAL_LIMIT,
        window: float = WINDOW,
        headroom: int = HEADROOM,
        ceiling: float | None = None,
    ) -> None:
        self.limit = limit
        self.window = window
        self.headroom = headroom
        self.budget = limit  # lowered by global 429s
        self.interval = 1.0 / ceiling if ceiling else 0.0
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_start)
        self.trace.on_request_end.append(self._on_end)
        self.trace.on_request_exception.append(self._on_exception)
        # What occupies the budget: slots handed out whose request has not started (oldest first),
        # requests in flight, and the moments answered requests stop counting (a heap).
        self._pending: dict[_Claim, None] = {}
        self._in_flight = 0
        self._expiries: list[float] = []
        self._task_claims: dict[asyncio.Task[object], _Claim] = {}
        self.blocked_until = 0.0  # loop time until which no slot is handed out, after a global 429
        self._next_paced = 0.0  # the earliest next slot: spaced by the ceiling, or by SPACING
        self._lowered_at: float | None = None
        self._buckets: dict[tuple[str, str, str], float] = {}  # exhausted route buckets -> reset
        self._turn = asyncio.Lock()  # one waiter at a time, first come first served
        self._changed = asyncio.Event()
        # What was seen, for logs, metrics and tests.
        self.counted = 0
        self.exempt = 0
        self.global_429s = 0
        self.route_429s = 0

    # --- what occupies the budget ----------------------------------------------------------------

    def occupied(self, at: float | None = None) -> int:
        """Slots busy now (or at loop time `at`, as far as known now): handed out and not started, in
        flight, or answered less than a window before."""
        now = asyncio.get_running_loop().time()
        self._forget(now)
        answered = len(self._expiries) if at is None else sum(1 for end in self._expiries if end > at)
        return len(self._pending) + self._in_flight + answered

    def _forget(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0] <= now:
            heapq.heappop(expiries)
        while self._pending:
            oldest = next(iter(self._pending))
            if oldest.granted_at + CLAIM_TIMEOUT > now:
                break
            self._release(oldest)
        if self._lowered_at is not None and now - self._lowered_at >= RECOVER_EVERY:
            self.budget = min(self.limit, self.budget + 1)
            self._lowered_at = None if self.budget == self.limit else now

    def _next_change(self) -> float | None:
        """When the occupancy next drops by itself (an answered request's second ends, a slot times out)."""
        times = [self._expiries[0]] if self._expiries else []
        if self._pending:
            times.append(next(iter(self._pending)).granted_at + CLAIM_TIMEOUT)
        return min(times, default=None)

    def _release(self, claim: _Claim) -> None:
        if claim in self._pending:  # not started yet (and handed out by this pacer)
            del self._pending[claim]
            self._changed.set()

    def _task_done(self, task: asyncio.Task[object]) -> None:
        claim = self._task_claims.pop(task, None)
        if claim is not None:
            self._release(claim)  # the task ended without sending: nothing arrived at Discord

    def bucket_free_at(self, channel_id: int) -> float:
        """When the message bucket of this channel has room again (0.0: it has now, or unknown)."""
        return self._buckets.get(("POST", "/channels/{id}/messages", str(channel_id)), 0.0)

    # --- handing out slots -----------------------------------------------------------------------

    async def slot(self, channel_id: int | None = None) -> None:
        """Return once the announcer may send one more post (to `channel_id`, if given). The slot is
        the next request this task makes; if it makes none, the slot is given back when the task ends
        or asks for another."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        previous = _CLAIM.get()
        if previous is not None:
            self._release(previous)  # asked again without sending: the last one was not used
        if channel_id is not None:  # waited for outside the turn: one full channel holds up no other
            free_at = self.bucket_free_at(channel_id)
            if free_at > loop.time():
                await asyncio.sleep(free_at - loop.time())
        async with self._turn:
            while True:
                now = loop.time()
                self._forget(now)
                not_before = max(self.blocked_until, self._next_paced)
                if now >= not_before:
                    if self.occupied() < self.budget - self.headroom:
                        break
                    wake = self._next_change()  # None: all of it is in flight; its answers wake us
                else:
                    wake = not_before
                await self._wait(loop, wake)
            claim = _Claim(now)
            self._pending[claim] = None
            # Spread over the window rather than all at once: a burst of posts queues up on the way
            # (rendering, the database, the event loop), and time queued is time a slot stays busy.
            spacing = max(self.interval, SPACING * self.window / self.budget)
            self._next_paced = max(now, self._next_paced) + spacing
        _CLAIM.set(claim)
        if task is not None:
            if task not in self._task_claims:
                task.add_done_callback(self._task_done)
            self._task_claims[task] = claim

    async def _wait(self, loop: asyncio.AbstractEventLoop, until: float | None) -> None:
        self._changed.clear()
        timer = loop.call_at(until, self._changed.set) if until is not None else None
        try:
            await self._changed.wait()
        finally:
            if timer is not None:
                timer.cancel()

    # --- what the trace shows --------------------------------------------------------------------

    async def _on_start(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        path = rest_path(str(params.url))
        ctx.path = path
        ctx.counted = ctx.was_counted = path is not None and not is_exempt(path)
        if not ctx.counted:
            if path is not None:
                self.exempt += 1
            return
        self.counted += 1
        claim = _CLAIM.get()
        if claim is not None:
            # The slot handed out for this request, if it was not used yet: now it is in flight.
            self._pending.pop(claim, None)
        self._in_flight += 1

    def _ended(self, ctx: SimpleNamespace) -> None:
        if getattr(ctx, "counted", False):
            ctx.counted = False
            self._in_flight -= 1
            heapq.heappush(self._expiries, asyncio.get_running_loop().time() + self.window + EPSILON)
            self._changed.set()

    async def _on_exception(
        self,
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        self._ended(ctx)  # it may have arrived: it counts for a window from now

    async def _on_end(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        self._ended(ctx)
        path = getattr(ctx, "path", None)
        if path is None or not getattr(ctx, "was_counted", False):
            return  # not Discord's, or exempt (the members' answers): nothing the pacer paces
        response = params.response
        headers = response.headers
        now = asyncio.get_running_loop().time()
        if response.status == 429:
            scope = headers.get("X-RateLimit-Scope", "").lower()
            is_global = headers.get("X-RateLimit-Global", "").lower() == "true" or scope == "global"
            retry_after = _seconds(headers.get("Retry-After"))
            if not scope or is_global:  # the body says what the headers may not
                body = await _json_body(response)
                is_global = is_global or body.get("global") is True
                retry_after = _seconds(body.get("retry_after")) or retry_after
            if is_global:
                self._global_limited(now, retry_after or 1.0)
            else:
                self.route_429s += 1
        remaining, reset_after = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset-After")
        if remaining is not None and reset_after is not None:
            key = bucket_key(params.method, path)
            if remaining == "0" or response.status == 429:
                if len(self._buckets) > 4096:
                    self._buckets = {k: at for k, at in self._buckets.items() if at > now}
                self._buckets[key] = now + (_seconds(reset_after) or 0.0)
            else:
                self._buckets.pop(key, None)

    def _global_limited(self, now: float, retry_after: float) -> None:
        self.global_429s += 1
        self.blocked_until = max(self.blocked_until, now + retry_after)
        self.budget = max(MIN_BUDGET, self.budget - max(1, self.budget // 10))
        self._lowered_at = now
        log.warning(
            "Discord's global rate limit was hit: announcements wait %.2f s and use %d requests a second",
            retry_after,
            self.budget - self.headroom,
        )


def _seconds(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


async def _json_body(response: aiohttp.ClientResponse) -> dict[str, object]:
    """The JSON body of a 429 (aiohttp keeps it, so discord.py reads the same bytes after us)."""
    try:
        body = await response.json(content_type=None)
    except (aiohttp.ClientError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


class Spacing:
    """At most `rate` a second, evenly spaced, first come first served: a ceiling for one kind of
    request (members' DMs) inside the pacer's budget."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0  # loop time of the earliest next turn
        self._turn = asyncio.Lock()

    async def wait(self) -> None:
        """Return at this caller's turn, `interval` after the last one's."""
        async with self._turn:
            loop = asyncio.get_running_loop()
            if self._next > loop.time():
                await asyncio.sleep(self._next - loop.time())
            self._next = loop.time() + self.interval
