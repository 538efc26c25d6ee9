"""GET /healthz and GET /metrics, served with aiohttp on HTTP_HOST:HTTP_PORT while the bot runs.

/healthz answers 200 only when the bot is healthy, else 503, both with a small JSON body:

- before the first READY on every shard the bot is "starting";
- a process that holds no shard's lease (another process runs every shard it may run) is "standby", with
  200: it is ready to take over, and nothing of it is expected to run;
- every shard of this process (SHARD_IDS, or all of SHARD_COUNT or of Discord's recommended count) must
  be connected: launched, its websocket open, and its session live (READY or RESUMED since it last
  disconnected). A shard not launched yet, or reconnecting, is "shard N: not connected";
- the announcement scheduler must have run its first step, still be running, and be no more than
  SCHEDULER_WINDOW seconds behind its plan (how long past the moment it meant to wake it still sleeps:
  a blocked event loop or a stuck clock). It waits for the gateway and the command sync before its first
  step, so it is "not started yet" for the few seconds of the sync.

/metrics renders the bot's Metrics (bot/metrics.py) after setting what is read at scrape time: posts
pending and claimed (from the store, for this process's shards), the scheduler's lag, and each shard's
connection and heartbeat latency.
"""

from __future__ import annotations

import errno
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.config import ConfigError
from bot.metrics import CONTENT_TYPE, Metrics

if TYPE_CHECKING:
    from bot.client import CitadelBot

log = logging.getLogger(__name__)

SCHEDULER_WINDOW = 60.0  # seconds behind plan after which the scheduler is unhealthy
STARTING, OK, UNHEALTHY, STANDBY = "starting", "ok", "unhealthy", "standby"


@dataclass(frozen=True)
class ShardHealth:
    connected: bool
    latency: float  # seconds; +inf before the first heartbeat is acknowledged


@dataclass(frozen=True)
class Health:
    status: str  # STARTING, OK or UNHEALTHY
    problems: list[str]
    shards: dict[int, ShardHealth] = field(default_factory=dict)
    lag: float | None = None  # the scheduler's, None while it is not running
    window: float = SCHEDULER_WINDOW

    @property
    def http_status(self) -> int:
        return 200 if self.status in (OK, STANDBY) else 503

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "problems": self.problems,
            "shards": {
                str(shard_id): {
                    "connected": shard.connected,
                    "latency_seconds": round(shard.latency, 6) if math.isfinite(shard.latency) else None,
                }
                for shard_id, shard in self.shards.items()
            },
            "scheduler": {
                "running": self.lag is not None,
                "lag_seconds": None if self.lag is None else round(self.lag, 3),
                "window_seconds": self.window,
            },
        }


def check(bot: CitadelBot, window: float = SCHEDULER_WINDOW) -> Health:
    """The bot's health now, by the rules in this module's docstring."""
    if bot.standing_by():  # healthy: ready to take any shard whose lease comes free
        return Health(STANDBY, [], {}, None, window)
    problems: list[str] = []
    ids = bot.own_shard_ids()
    launched = bot.shards
    shards: dict[int, ShardHealth] = {}
    for shard_id in ids:
        info = launched.get(shard_id)
        connected = info is not None and not info.is_closed() and bot.gateway.live.get(shard_id, False)
        shards[shard_id] = ShardHealth(connected, info.latency if info is not None else math.inf)
        if not connected:
            problems.append(f"shard {shard_id}: not connected")
    lag = bot.announcer.lag()
    if lag is None:
        started = bot.announcer.steps > 0
        problems.append("scheduler stopped" if started else "scheduler not started yet")
    elif lag > window:
        problems.append(f"scheduler {lag:.0f} s behind plan (more than {window:.0f} s)")
    if not bot.gateway.connected.is_set():  # not discord.py's is_ready(): a RESUMEd start has no READY
        return Health(STARTING, ["not connected to Discord yet", *problems], shards, lag, window)
    return Health(UNHEALTHY if problems else OK, problems, shards, lag, window)


def cannot_listen(host: str, port: int, exc: OSError, empty: str) -> str:
    """The one line for a port the process cannot have; `empty` says what an empty HTTP_PORT does."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"HTTP_PORT {port} is already in use on {host}: stop what listens on {where}, or set "
            f"HTTP_PORT to a free port (or leave it empty {empty})."
        )
    reason = exc.strerror or str(exc)
    return (
        f"HTTP_PORT {port} cannot be opened on HTTP_HOST {host} ({reason}): set HTTP_HOST to "
        f"an address of this machine and HTTP_PORT to a free port (or leave it empty {empty})."
    )


async def listen(app: web.Application, host: str, port: int, empty: str) -> web.AppRunner:
    """`app` served on host:port; a port it cannot have is a ConfigError naming HTTP_PORT (see
    cannot_listen), with nothing left open."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(cannot_listen(host, port, exc, empty)) from None
    return runner


class HealthServer:
    """The HTTP side: `start()` listens (a port it cannot have stops the start with a ConfigError that
    names HTTP_PORT), `stop()` closes it."""

    def __init__(
        self,
        bot: CitadelBot,
        metrics: Metrics,
        host: str,
        port: int,
        *,
        window: float = SCHEDULER_WINDOW,
        routes: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.bot = bot
        self.routes = routes  # more of the port's routes (the public page), added after these two
        self.metrics = metrics
        self.host = host
        self.port = port
        self.window = window
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.scrape)
        if self.routes is not None:
            self.routes(app)
        self._runner = await listen(app, self.host, self.port, "to serve no /healthz and /metrics")
        served = "/healthz, /metrics and the public page" if self.routes else "/healthz and /metrics"
        log.info("serving %s on http://%s:%d", served, self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def check(self) -> Health:
        return check(self.bot, self.window)

    async def healthz(self, request: web.Request) -> web.Response:
        health = self.check()
        return web.json_response(
            health.body(), status=health.http_status, headers={"Cache-Control": "no-store"}
        )

    async def scrape(self, request: web.Request) -> web.Response:
        bot, metrics = self.bot, self.metrics
        try:
            counts = await bot.store.outbox.status_counts(bot.own_shards())
            metrics.set_posts(counts["pending"], counts["claimed"])
        except Exception as exc:  # the store is unwell: the rest of the scrape still says so much
            log.warning("/metrics could not count the posts waiting: %s", exc)
            metrics.set_posts(math.nan, math.nan)
        health = self.check()
        metrics.set_scheduler(health.lag)
        for shard_id, shard in health.shards.items():
            metrics.set_shard(shard_id, shard.connected, shard.latency)
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
