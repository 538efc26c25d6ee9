"""What the bot counts and measures, in Prometheus' terms, on a registry of its own (never the global
default one): the tree records every slash command and autocomplete it answers, the scheduler every
post, the watcher every round; what is read at scrape time (posts waiting, the scheduler's lag, the
shards) is set by the health server just before it renders the registry (bot/health.py).

Every metric is named citadel_*; the registry also carries prometheus_client's process_*, python_gc_*
and python_info collectors.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.utils import floatToGoString

# Outcomes of an interaction: answered; refused with one line saying why (a check, a typed error, an
# option it could not read, a command Discord has but the bot does not); failed unexpectedly (logged).
OK, REFUSED, ERROR = "ok", "refused", "error"
POST_OUTCOMES = ("sent", "failed", "skipped", "retried")  # retried: failed, to be tried again
# Answers take about a millisecond; Discord gives up on an interaction answered after 3 seconds.
ANSWER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # Prometheus' text format, as generate_latest writes it


class Answers:
    """A counter of answers by command and outcome and a histogram of their seconds by command, kept as
    plain numbers and made into Prometheus' metrics at scrape time: recording one is two dictionary
    lookups, a bisection and two additions (prometheus_client's Counter and Histogram take a lock and
    a call per bucket, a noticeable share of a 0.3 ms answer). Recorded and scraped on the event loop's
    thread only."""

    def __init__(self, counter: str, counter_help: str, histogram: str, histogram_help: str) -> None:
        self.names = (counter, counter_help, histogram, histogram_help)
        self.counts: dict[tuple[str, str], int] = {}
        # Per command: how many fell in each bucket (not cumulative; +Inf last), then the sum of seconds.
        self.timings: dict[str, list[float]] = {}

    def record(self, command: str, outcome: str, seconds: float) -> None:
        key = (command, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1
        timing = self.timings.get(command)
        if timing is None:
            timing = self.timings[command] = [0] * (len(ANSWER_BUCKETS) + 1) + [0.0]
        timing[bisect_left(ANSWER_BUCKETS, seconds)] += 1  # a bucket counts what is <= its bound
        timing[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        counter, counter_help, histogram, histogram_help = self.names
        counts = CounterMetricFamily(counter, counter_help, labels=("command", "outcome"))
        for (command, outcome), count in self.counts.items():
            counts.add_metric([command, outcome], count)
        yield counts
        timings = HistogramMetricFamily(histogram, histogram_help, labels=("command",))
        bounds = [floatToGoString(b) for b in (*ANSWER_BUCKETS, math.inf)]
        for command, timing in self.timings.items():
            cumulative = list(zip(bounds, accumulate(timing[:-1]), strict=True))
            timings.add_metric([command], cumulative, sum_value=timing[-1])
        yield timings


class Metrics:
    """The bot's metrics. Recording is cheap (an addition or two), so it happens on every interaction;
    `exposition()` renders everything in Prometheus' text format."""

    def __init__(self) -> None:
        # Without this every counter and histogram carries a *_created twin, doubling the scrape.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.commands = Answers(
            "citadel_interactions",
            "Slash commands answered, by command and outcome (ok, refused, error)",
            "citadel_answer_duration_seconds",
            "Seconds from receiving a slash command to having answered it (the handler returned)",
        )
        r.register(self.commands)
        self.autocompletes = Answers(
            "citadel_autocomplete",
            "Autocomplete requests, by command and outcome (ok: choices sent, error: none sent)",
            "citadel_autocomplete_duration_seconds",
            "Seconds from receiving an autocomplete request to having answered it",
        )
        r.register(self.autocompletes)
        self.posts = Counter(
            "citadel_posts",
            "Announcement deliveries this process tried, by outcome (sent, failed, skipped, retried)",
            ("outcome",),
            registry=r,
        )
        for outcome in POST_OUTCOMES:
            self.posts.labels(outcome)  # shown as 0 from the start
        self.posts_pending = Gauge(
            "citadel_posts_pending",
            "Deliveries waiting to be posted to this process's servers (claimed ones included)",
            registry=r,
        )
        self.posts_claimed = Gauge(
            "citadel_posts_claimed",
            "Pending deliveries of this process's servers that a process holds a live claim on",
            registry=r,
        )
        self.scheduler_lag = Gauge(
            "citadel_scheduler_lag_seconds",
            "Seconds the announcement scheduler is behind its plan (NaN while it is not running)",
            registry=r,
        )
        self.scheduler_running = Gauge(
            "citadel_scheduler_running",
            "1 once the announcement scheduler has run its first step and until it stops, else 0",
            registry=r,
        )
        self.shard_connected = Gauge(
            "citadel_shard_connected",
            "1 while a shard of this process has a live gateway session (READY or RESUMED), else 0",
            ("shard",),
            registry=r,
        )
        self.shard_latency = Gauge(
            "citadel_shard_latency_seconds",
            "Seconds between a shard's last heartbeat and its acknowledgement (+Inf before the first)",
            ("shard",),
            registry=r,
        )
        self.watcher_rounds = Counter(
            "citadel_watcher_rounds",
            "Rounds of the watcher of public sources, by source and outcome (ok: every entry read)",
            ("source", "outcome"),
            registry=r,
        )
        self.answers = 0  # interactions recorded (commands and autocompletes): what tests wait on
        self._waiters: list[asyncio.Future[None]] = []

    # --- recorded as things happen ----------------------------------------------------------------

    def answered(self, command: str, outcome: str, seconds: float) -> None:
        """A slash command was handled: `outcome` is OK, REFUSED or ERROR."""
        self.commands.record(command, outcome, seconds)
        self._answered()

    def autocompleted(self, command: str, ok: bool, seconds: float) -> None:
        self.autocompletes.record(command, OK if ok else ERROR, seconds)
        self._answered()

    def posted(self, outcome: str) -> None:
        """One delivery tried: "sent", "failed", "skipped" or "retried" (the scheduler's on_posted)."""
        self.posts.labels(outcome).inc()

    def watcher_round(self, source: str, ok: bool) -> None:
        """One round of a source finished; `ok` if it read every entry it knows."""
        self.watcher_rounds.labels(source, OK if ok else "failed").inc()

    def _answered(self) -> None:
        self.answers += 1
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_for_answers(self, count: int) -> None:
        """Return once `count` interactions have been recorded since the bot was made."""
        while self.answers < count:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    # --- read at scrape time ----------------------------------------------------------------------

    def set_posts(self, pending: float, claimed: float) -> None:
        self.posts_pending.set(pending)
        self.posts_claimed.set(claimed)

    def set_scheduler(self, lag: float | None) -> None:
        self.scheduler_running.set(0 if lag is None else 1)
        self.scheduler_lag.set(math.nan if lag is None else lag)

    def set_shard(self, shard: int, connected: bool, latency: float) -> None:
        self.shard_connected.labels(str(shard)).set(1 if connected else 0)
        self.shard_latency.labels(str(shard)).set(latency)

    def exposition(self) -> bytes:
        """Everything, in Prometheus' text format (served with CONTENT_TYPE)."""
        return generate_latest(self.registry)
