"""HTTP for the sources: a sliding-window rate limiter, and a JSON GET whose every failure is one SourceError line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import aiohttp

from bot.facts import one_line
from bot.sources import SourceError

USER_AGENT = "citadel-bot (facts bot for Discord)"
RETRY_AFTER_DEFAULT = 5.0  # seconds, when a 429 gives no (readable) Retry-After
RETRY_AFTER_MAX = 60.0


class RateLimiter:
    """No more than `calls` requests start in any `period`-second sliding window.

    TVmaze allows 20 calls per 10 seconds per IP. `await limiter.acquire()` takes a slot that counts
    for `period` seconds from now. Used as `async with limiter:` around a request, the slot is held
    while the request runs and counts for `period` seconds from its end: then even a server that
    receives the requests late (network delay) never sees more than `calls` in a period. Waiters are
    served in turn; each waits (asyncio.sleep on the loop's monotonic clock) only until a slot frees.
    """

    def __init__(self, calls: int = 20, period: float = 10.0) -> None:
        if calls < 1 or period <= 0:
            raise ValueError("A rate limit needs at least 1 call in a period longer than 0 seconds.")
        self.calls, self.period = calls, period
        self._slots: list[float] = []  # when each recent request started (or ended); inf while one runs
        self._turn = asyncio.Lock()
        self._ended = asyncio.Event()

    async def acquire(self) -> None:
        """Wait for a slot; the request counts from now."""
        await self._take(held=False)

    async def __aenter__(self) -> None:
        await self._take(held=True)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._slots.remove(math.inf)
        self._slots.append(asyncio.get_running_loop().time())
        self._ended.set()

    async def _take(self, *, held: bool) -> None:
        loop = asyncio.get_running_loop()
        async with self._turn:
            while True:
                now = loop.time()
                self._slots = [t for t in self._slots if t > now - self.period]
                if len(self._slots) < self.calls:
                    self._slots.append(math.inf if held else now)
                    return
                first = min(self._slots)
                if first == math.inf:  # every slot is held by a running request: wait for one to end
                    self._ended.clear()
                    await self._ended.wait()
                else:  # an ending request never frees a slot sooner, so sleeping until then is enough
                    await asyncio.sleep(first + self.period - now)


def retry_after_seconds(header: str | None, now: datetime | None = None) -> float:
    """How long a 429 asks to wait: Retry-After in seconds or as an HTTP date, 0 to 60 s; 5 s if absent."""
    if header is None:
        return RETRY_AFTER_DEFAULT
    text = header.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return RETRY_AFTER_DEFAULT
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _kind(value: object) -> str:
    return "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else "a value"


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    limiter: RateLimiter | None,
    source_name: str,
    what: str,
    timeout: float,  # noqa: ASYNC109 - the HTTP request's own, handed to aiohttp
    retries_on_429: int = 2,
    expect: type[dict[str, Any]] | type[list[Any]] = dict,
) -> Any:
    """GET `url` and return its JSON: an object (or a list with expect=list).

    A 429 is retried (at most `retries_on_429` times) after its Retry-After. Every failure raises a
    one-line SourceError "<source_name>: <what> …": 404, another status, a timeout, a connection
    error, a body that is not JSON, or JSON of the wrong kind.
    """
    label = f"{source_name}: {what}"
    for retry in range(retries_on_429 + 1):
        status, retry_after, body = await _get(session, url, limiter, timeout, label)
        if status != 429 or retry == retries_on_429:
            break
        await asyncio.sleep(retry_after_seconds(retry_after))
    if status == 429:
        raise SourceError(f"{label} still rate limited (429) after {retries_on_429} retries")
    if status == 404:
        raise SourceError(f"{label} not found (404)")
    if not 200 <= status < 300:
        raise SourceError(f"{label} answered HTTP {status}")
    try:
        data = json.loads(body)
    except ValueError:  # JSONDecodeError, or bytes that are not text
        raise SourceError(f"{label} answered malformed JSON") from None
    if not isinstance(data, expect):
        raise SourceError(f"{label} answered unexpected JSON ({_kind(data)}, not {_kind(expect())})")
    return data


async def _get(
    session: aiohttp.ClientSession, url: str, limiter: RateLimiter | None, seconds: float, label: str
) -> tuple[int, str | None, bytes]:
    """(status, Retry-After, body) of one GET, within the limiter and `seconds`."""
    try:
        async with (
            limiter or contextlib.nullcontext(),
            session.get(
                url, headers={"User-Agent": USER_AGENT}, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as response,
        ):
            return response.status, response.headers.get("Retry-After"), await response.read()
    except TimeoutError:
        raise SourceError(f"{label} timed out after {seconds:g} s") from None
    except aiohttp.ClientError as error:
        raise SourceError(f"{label} failed: {one_line(str(error) or type(error).__name__, 100)}") from None
