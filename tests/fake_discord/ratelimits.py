"""Discord's REST rate limits, emulated: a global per-token limit and per-route buckets split by major id.

The model (opt-in with ``FakeDiscord(rate_limits=True)`` or a ``RateLimits``):

* Global: at most ``global_limit`` requests per ``global_window`` seconds per Authorization header, in
  fixed windows. A window opens with the first request after the previous one ended, so
  ``retry_after`` is exactly "until this window ends". Interaction callbacks and the token-authorised
  webhook routes are exempt, as on Discord. A request refused with a global 429 uses up nothing.
* Per route: a bucket per (route, major parameter), again a fixed window opened by its first request.
  Every request that reaches a limited route uses one slot, whatever its answer (Discord counts 4xx
  answers too). ``X-RateLimit-Bucket`` is one hash per route, the same for every channel, exactly as
  Discord sends it: clients (discord.py included) key their buckets by hash plus major parameter, and
  a hash that changed per channel would look to them like a route whose limits keep changing.

Both are O(1) per request: one dict lookup and a couple of float comparisons.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

# discord.py treats a 429 without ``Via`` as a Cloudflare ban and gives up instead of retrying.
VIA = "1.1 google"
RATE_LIMITED_MESSAGE = "You are being rate limited."
# Path parameters Discord treats as "major": a bucket is per route *and* per value of this parameter.
MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id")


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """``limit`` requests per ``window`` seconds, per value of the route's major parameter."""

    limit: int
    window: float


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits to emulate. The defaults are Discord's; tests shorten windows to stay quick."""

    global_limit: int = 50
    global_window: float = 1.0
    message_limit: int = 5  # POST /channels/{channel_id}/messages, per channel
    message_window: float = 5.0
    # More route buckets, keyed by (METHOD, the fake's route template).
    extra_routes: Mapping[tuple[str, str], RouteLimit] = field(default_factory=dict)

    def routes(self) -> dict[tuple[str, str], RouteLimit]:
        table = {
            ("POST", "/channels/{channel_id}/messages"): RouteLimit(self.message_limit, self.message_window)
        }
        table.update(self.extra_routes)
        return table


@functools.lru_cache(maxsize=1024)  # asked on every response; the routes are few
def bucket_hash(method: str, template: str) -> str:
    """A stable, opaque X-RateLimit-Bucket for a route (the same with rate limits on or off)."""
    return hashlib.blake2s(f"{method} {template}".encode(), digest_size=8).hexdigest()


def _ceil_ms(seconds: float) -> float:
    # Rounded up: a client that waits exactly what it was told must never arrive a hair early.
    return math.ceil(seconds * 1000) / 1000


@dataclass(slots=True)
class _Window:
    resets_at: float  # time.monotonic()
    used: int = 0


@dataclass(frozen=True, slots=True)
class BucketState:
    """What a request to a limited route saw: for the X-RateLimit-* headers, or the 429."""

    limit: int
    remaining: int
    reset_after: float
    hash: str
    limited: bool

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{time.time() + self.reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.reset_after:.3f}",
            "X-RateLimit-Bucket": self.hash,
        }
        if self.limited:
            headers.update(
                {
                    "Retry-After": str(max(1, math.ceil(self.reset_after))),
                    "X-RateLimit-Scope": "user",
                    "Via": VIA,
                }
            )
        return headers

    def body(self) -> dict[str, object]:
        return {"message": RATE_LIMITED_MESSAGE, "retry_after": self.reset_after, "global": False, "code": 0}


def global_limit_answer(retry_after: float) -> tuple[dict[str, object], dict[str, str]]:
    """The body and headers of a global 429."""
    body = {"message": RATE_LIMITED_MESSAGE, "retry_after": retry_after, "global": True, "code": 0}
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Global": "true",
        "X-RateLimit-Scope": "global",
        "Via": VIA,
    }
    return body, headers


class RateLimiter:
    """The counters behind ``RateLimits``; one per FakeDiscord."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.routes = limits.routes()
        self._hashes = {key: bucket_hash(*key) for key in self.routes}
        self._global: dict[str, _Window] = {}
        self._buckets: dict[tuple[str, str, str], _Window] = {}

    def check_global(self, key: str, now: float) -> float | None:
        """Count one request against ``key``'s global limit; the retry_after if it is over the limit."""
        window = self._global.get(key)
        if window is None or now >= window.resets_at:
            window = self._global[key] = _Window(now + self.limits.global_window)
        if window.used >= self.limits.global_limit:
            return _ceil_ms(window.resets_at - now)
        window.used += 1
        return None

    def take(self, method: str, template: str, params: Mapping[str, str], now: float) -> BucketState | None:
        """Use one slot of the route's bucket; None for routes without a per-route limit."""
        limit = self.routes.get((method, template))
        if limit is None:
            return None
        major = next((params[name] for name in MAJOR_PARAMETERS if name in params), "")
        key = (method, template, major)
        window = self._buckets.get(key)
        if window is None or now >= window.resets_at:
            window = self._buckets[key] = _Window(now + limit.window)
        reset_after = _ceil_ms(window.resets_at - now)
        digest = self._hashes[(method, template)]
        if window.used >= limit.limit:
            return BucketState(limit.limit, 0, reset_after, digest, limited=True)
        window.used += 1
        return BucketState(limit.limit, limit.limit - window.used, reset_after, digest, limited=False)
