"""citadel-bot against the floor at 10,000 and 100,000 servers, both sharded the same way, and the time
until every shard answers after a restart (issue 15, sections 3 and 4).

    .venv/bin/python -m benchmarks.scale                      # 10,000 and 100,000 servers, the restart
    .venv/bin/python -m benchmarks.scale --quick              # 5,000 servers, short phases
    .venv/bin/python -m benchmarks.scale --servers 20000 --no-restart

For each number of servers N, one fake Discord of N guilds per bot (in this process; 1 shard per 1,000
servers is what its /gateway/bot recommends, as Discord does, and every bot runs that many), and three
bots as separate processes, started a second apart so their start-ups overlap (each spends most of it
waiting out discord.py's 5 s between IDENTIFYs, which at 100 shards is over 8 minutes):

- the floor (`python -m benchmarks.floor_bot`, the GUILDS intent: today's floor);
- citadel-bot (`python -m bot`) with the shipped canon;
- the floor with no intents (FLOOR_INTENTS=none): no GUILD_CREATE, no guild cache, when the fake
  honours the intent.

It measures the seconds from each process's start until the first and the last of its shards answered
a `/citadel diana` sent to one server of that shard; resident memory once start-up is done; then, one
bot at a time while the others idle, in three rounds (each starting with the next bot, so a busy minute
on a shared machine slows all alike), `/citadel diana` latency p50/p99 (sequential and 50 in flight,
over servers of every shard) and answers per second with 50 in flight, each figure the median of its
rounds; and resident memory after the load. Memory per server
is (RSS after start-up at N - RSS after start-up at 1 server) / N, the 1-server figure from a start of
the same bot against a 1-guild fake at the beginning of the run.

The restart: citadel-bot at 10,000 servers (10 shards), until every shard answers; SIGTERM (it must
exit 0); started again on the same store and the same fake; the seconds until every shard answers again,
and how many shards RESUMEd rather than IDENTIFYing.

Prints one table per N and the restart, and writes benchmarks/results/scale.json. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.bench import (
    FLOOR,
    IN_FLIGHT,
    OURS,
    RESULTS,
    BotDied,
    BotSpec,
    alive,
    answered,
    code_version,
    cpu_seconds,
    drop,
    fmt,
    forget,
    is_embed,
    latency_run,
    machine,
    median_of,
    ratio,
    rss_mb,
    send_diana,
    settle,
    start_bot,
    stop,
    throughput_run,
    warm_up,
)
from benchmarks.bench import build_canon_store as build_canon
from tests.fake_discord import FakeDiscord
from tests.harness import TOKEN

SERVERS_PER_SHARD = 1_000  # Discord's recommendation (GET /gateway/bot), and what both bots run
FLOOR_NONE = BotSpec("floor_none", "floor, no intents", "benchmarks.floor_bot", env={"FLOOR_INTENTS": "none"})
BOTS = (FLOOR, OURS, FLOOR_NONE)
STAGGER = 1.0  # seconds between the bots' starts: their imports do not compete for the two cores
PROBE_WAIT = 5.0  # seconds a shard gets to answer one probe before it is sent another
START_LIMIT = 1_800.0  # seconds a start may take before the run gives up on it
STOP_LIMIT = 60.0  # seconds a graceful stop may take before SIGKILL
GUILDS_INTENT = 1 << 0
# The targets, ours / floor: (figure, limit, higher is better).
TARGETS = (
    ("diana_sequential.p50", 1.1, False),
    ("diana_sequential.p99", 1.1, False),
    ("diana_in_flight.p50", 1.1, False),
    ("diana_in_flight.p99", 1.1, False),
    ("throughput.per_second", 0.95, True),
    ("rss_start_mb", 1.1, False),
    ("rss_load_mb", 1.1, False),
)


@dataclass(frozen=True)
class Counts:
    """How much of each measurement to do; `--quick` shortens everything to try the benchmark out."""

    rounds: int = 3  # the bots are loaded in turn, this many times; each figure is the median of its rounds
    interactions: int = 5_000  # per round, sequential and again 50 in flight (1,000 took 0.4 s: too noisy)
    throughput_seconds: float = 10.0  # per round
    restart_servers: int = 10_000

    @classmethod
    def quick(cls) -> Counts:
        return cls(rounds=2, interactions=200, throughput_seconds=3.0, restart_servers=5_000)


def shards_for(servers: int) -> int:
    return max(1, math.ceil(servers / SERVERS_PER_SHARD))


def new_fake(servers: int, shards: int | None = None) -> FakeDiscord:
    """A fake Discord of `servers` guilds recommending `shards` shards (by default 1 per 1,000 servers)."""
    shards = shards or shards_for(servers)
    return FakeDiscord(guilds=servers, token=TOKEN, recommended_shards=shards, validate=False)


def connected_shards(fake: FakeDiscord) -> int:
    """Shards whose session has a live socket."""
    return sum(1 for s in fake.shard_sessions.values() if s.connection is not None and not s.invalidated)


async def every_shard_answers(fake: FakeDiscord, started: float, popen: Any, run_dir: Path) -> dict[str, Any]:
    """Seconds from `started` (just before Popen) until each shard answered a `/citadel diana` sent to
    the first server of that shard, sent once the shard's session is connected (and the commands are
    synced: the fake refuses to invoke an unknown command) and sent again if no answer comes within
    PROBE_WAIT seconds. All shards are probed together."""
    shards = fake.recommended_shards
    answers: dict[int, float] = {}
    probes = 0

    async def probe(shard: int) -> None:
        nonlocal probes
        guild = next(fake.guilds_for_shard(shard, shards)).id

        def ready() -> bool:
            session = fake.shard_sessions.get(shard)
            return (
                bool(fake.syncs)
                and session is not None
                and not session.invalidated
                and session.connection is not None
                and session.ready_at is not None
            )

        while True:
            with contextlib.suppress(TimeoutError):
                await fake.changes.wait_for(ready, 1.0, f"shard {shard} connected")
            if not ready():
                continue
            probes += 1
            record = await send_diana(fake, guild)
            ok = await answered(record, PROBE_WAIT) and is_embed(record.callback or {})
            drop(fake, record)
            if ok and record.callback_at is not None:
                answers[shard] = record.callback_at - started
                return

    async def watch() -> None:
        while len(answers) < shards:
            alive(popen, run_dir)
            if time.perf_counter() - started > START_LIMIT:
                raise TimeoutError(
                    f"{shards - len(answers)} of {shards} shards unanswered after {START_LIMIT:.0f}s"
                )
            await asyncio.sleep(1.0)

    tasks = [asyncio.ensure_future(probe(shard)) for shard in range(shards)]
    watcher = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait([watcher, asyncio.gather(*tasks)], return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            finished.result()  # BotDied or TimeoutError from the watcher
    finally:
        for task in (*tasks, watcher):
            task.cancel()
    ordered = [answers[s] for s in range(shards)]
    return {
        "shards": shards,
        "first_shard_s": min(ordered),
        "every_shard_s": max(ordered),
        "per_shard_s": ordered,
        "probes": probes,
    }


async def same_answers(fakes: dict[str, FakeDiscord]) -> None:
    """Each bot answers `/citadel diana` with what ours answers (its embed and its Follow button): the
    floors send the same bytes, or their figures would not be a floor for ours. Stops the run if not."""
    answers: dict[str, Any] = {}
    for key, fake in fakes.items():
        record = await send_diana(fake, fake.guild_ids[0])
        if not await answered(record, PROBE_WAIT):
            raise RuntimeError(f"{key} did not answer /citadel diana within {PROBE_WAIT:g}s")
        answers[key] = record.callback
        drop(fake, record)
    differing = sorted(key for key, answer in answers.items() if answer != answers[OURS.key])
    if differing:
        raise RuntimeError(f"{', '.join(differing)} answered /citadel diana differently from ours")


def guild_cache_bytes(count: int = 2_000) -> dict[str, Any]:
    """Where a cached guild's memory goes: `count` of the fake's GUILD_CREATEs parsed by discord.py's
    own ConnectionState (citadel-bot's client settings) in this process under tracemalloc, in bytes of
    Python heap per guild by the discord.py line that allocated it. RSS per server is higher: the
    allocator's arenas and what parsing leaves behind are not Python objects still alive."""
    import discord
    from discord.user import ClientUser

    fake = new_fake(count)
    intents = discord.Intents.none()
    intents.guilds = True
    client = discord.AutoShardedClient(
        intents=intents, member_cache_flags=discord.MemberCacheFlags.none(), max_messages=None,
        chunk_guilds_at_startup=False,
    )  # fmt: skip
    state = client._connection  # no public way to feed it a GUILD_CREATE without a gateway
    state.user = ClientUser(state=state, data=fake.bot_user)
    raw = [json.dumps(fake.render_guild(spec)) for spec in fake.guilds_for_shard(0, 1)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for payload in raw:
            state.parse_guild_create(json.loads(payload))  # as the gateway hands it over
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    cached = len(state._guilds)
    by_line = after.compare_to(before, "lineno")
    by_file = after.compare_to(before, "filename")

    def where(stat: tracemalloc.StatisticDiff) -> str:
        frame = stat.traceback[0]
        return f"{frame.filename.rpartition('site-packages/')[2]}:{frame.lineno}"

    return {
        "guilds": cached,
        "payload_bytes": len(raw[0]),
        "bytes_per_guild": sum(stat.size_diff for stat in by_file) / cached,
        "by_file": [(where(stat).rpartition(":")[0], stat.size_diff / cached) for stat in by_file[:8]],
        "by_line": [(where(stat), stat.size_diff / cached) for stat in by_line[:12]],
    }


def identified_intents(fake: FakeDiscord) -> int | None:
    """The intents the bot IDENTIFYed with (one fake per bot, so every IDENTIFY is its own)."""
    return fake.identifies[0].get("intents") if fake.identifies else None


async def baseline_rss(spec: BotSpec, canon: Path, answers: Path, workdir: Path) -> float:
    """RSS of `spec` after start-up at 1 server: the part of its memory that is not per server."""
    async with new_fake(1) as fake:
        run_dir = workdir / f"{spec.key}-1-server"
        popen, started = start_bot(spec, fake, run_dir, {"canon": canon}, answers, workdir)
        try:
            await every_shard_answers(fake, started, popen, run_dir)
            process = psutil.Process(popen.pid)
            await settle(process, popen, run_dir)
            return rss_mb(process)
        finally:
            await stop(popen, STOP_LIMIT)


async def measure_size(
    servers: int, counts: Counts, canon: Path, answers: Path, workdir: Path, baselines: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """Every bot at `servers` servers: started together, then loaded one at a time. Started with them,
    the floor and ours with as many shards but one server per shard: what the shards cost without a
    guild cache to speak of (stopped once measured)."""
    shards = shards_for(servers)
    runs = [(spec.key, spec, servers) for spec in BOTS]
    if shards > 1:
        runs += [(f"{spec.key}_shards_only", spec, shards) for spec in (FLOOR, OURS)]
    results: dict[str, dict[str, Any]] = {}
    async with contextlib.AsyncExitStack() as stack:
        made = time.perf_counter()
        fakes = {key: await stack.enter_async_context(new_fake(guilds, shards)) for key, _, guilds in runs}
        print(f"[{servers:,}] {len(fakes)} fakes made in {time.perf_counter() - made:.1f}s", flush=True)
        # The fakes' guilds live as long as the run: out of the driver's collections from now on.
        gc.collect()
        gc.freeze()
        stack.callback(gc.unfreeze)
        popens: dict[str, Any] = {}
        starts: list[asyncio.Future[dict[str, Any]]] = []
        for n, (key, spec, guilds) in enumerate(runs):
            if n:
                await asyncio.sleep(STAGGER)
            run_dir = workdir / f"{key}-{servers}"
            popen, started = start_bot(spec, fakes[key], run_dir, {"canon": canon}, answers, workdir)
            popens[key] = popen
            stack.push_async_callback(stop, popen, STOP_LIMIT)
            results[key] = {"bot": spec.key, "label": spec.label, "servers": guilds,
                            "load_average_before": os.getloadavg()}  # fmt: skip
            starts.append(asyncio.ensure_future(every_shard_answers(fakes[key], started, popen, run_dir)))
        print(f"[{servers:,}] {len(runs)} bots started, {shards} shards each", flush=True)
        for (key, spec, guilds), start in zip(runs, starts, strict=True):
            results[key]["start"] = await start
            print(f"[{servers:,}] {spec.label} ({guilds:,} servers): every shard answered "
                  f"{results[key]['start']['every_shard_s']:.1f}s after starting", flush=True)  # fmt: skip
        for key, spec, _ in runs[len(BOTS) :]:
            popen = popens[key]
            await settle(psutil.Process(popen.pid), popen, workdir / f"{key}-{servers}")
            bare = results.pop(key)
            bare["rss_start_mb"] = rss_mb(psutil.Process(popen.pid))
            bare["exit_code"] = await stop(popen, STOP_LIMIT)
            results[spec.key]["shards_only"] = bare
        for spec in BOTS:
            fake, popen = fakes[spec.key], popens[spec.key]
            process = psutil.Process(popen.pid)
            await settle(process, popen, workdir / f"{spec.key}-{servers}")
            results[spec.key].update(
                intents=identified_intents(fake),
                guild_creates=fake.dispatch_counts["GUILD_CREATE"],
                rss_one_server_mb=baselines[spec.key],
                rss_start_mb=rss_mb(process),
                kb_per_server=(rss_mb(process) - baselines[spec.key]) * 1024 / servers,
                rounds=[],
            )
        await same_answers({spec.key: fakes[spec.key] for spec in BOTS})
        print(
            f"[{servers:,}] every bot's /citadel diana answer is the same as ours, byte for byte", flush=True
        )
        # In turn, `rounds` times, each round starting with the next bot: a busy minute on a shared
        # machine then slows every bot alike rather than one bot's whole block of measurements.
        for n in range(counts.rounds):
            for spec in BOTS[n % len(BOTS) :] + BOTS[: n % len(BOTS)]:
                run_dir = workdir / f"{spec.key}-{servers}"
                idle = [psutil.Process(popens[other.key].pid) for other in BOTS if other is not spec]
                found = await load_round(fakes[spec.key], popens[spec.key], run_dir, counts, idle)
                results[spec.key]["rounds"].append(found)
                print(f"[{servers:,}] round {n + 1}: {spec.label} answered "
                      f"{found['throughput']['per_second']:,.0f}/s (load average {found['load_average'][0]:.2f}, "
                      f"the rest of the machine {found['throughput']['rest_cpu_percent']:.0f}% of a core)",
                      flush=True)  # fmt: skip
        for spec in BOTS:
            popen = popens[spec.key]
            await settle(psutil.Process(popen.pid), popen, workdir / f"{spec.key}-{servers}")
            result = results[spec.key]
            result["rss_load_mb"] = rss_mb(psutil.Process(popen.pid))
            if "shards_only" in result:
                result["rss_shards_only_mb"] = result["shards_only"]["rss_start_mb"]
                result["guild_cache_mb"] = result["rss_start_mb"] - result["rss_shards_only_mb"]
            result.update(
                median_of([{k: v for k, v in r.items() if k != "load_average"} for r in result["rounds"]])
            )
            result["load_average_after"] = os.getloadavg()
        results["driver"] = {"rss_mb": rss_mb(psutil.Process())}
    return results


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used, all cores together."""
    times = psutil.cpu_times()
    return (
        times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)
    )


async def load_round(
    fake: FakeDiscord, popen: Any, run_dir: Path, counts: Counts, idle: Sequence[psutil.Process]
) -> dict[str, Any]:
    """One round of load on one bot: diana latency sequential and 50 in flight, answers per second,
    and where the machine's CPU went meanwhile: the bot, the driver, the idle bots and the rest of the
    machine (other people's work on a shared machine), in % of one core."""
    result: dict[str, Any] = {"load_average": os.getloadavg()}
    guilds = fake.guild_ids  # consecutive guilds are on consecutive shards
    bot = psutil.Process(popen.pid)
    for mode, in_flight in (("sequential", 1), ("in_flight", IN_FLIGHT)):
        cpu = cpu_seconds(bot)
        run = await latency_run(fake, send_diana, is_embed, counts.interactions, in_flight, guilds)
        run["bot_cpu_us"] = 1e6 * (cpu_seconds(bot) - cpu) / max(1, run["answered"])
        result[f"diana_{mode}"] = run
        forget(fake)
    began, busy, idle_cpu = time.perf_counter(), machine_busy_seconds(), sum(cpu_seconds(p) for p in idle)
    throughput = await throughput_run(fake, counts.throughput_seconds, guilds, bot)
    took = time.perf_counter() - began
    throughput["idle_bots_cpu_percent"] = 100 * (sum(cpu_seconds(p) for p in idle) - idle_cpu) / took
    throughput["machine_cpu_percent"] = 100 * (machine_busy_seconds() - busy) / took
    throughput["rest_cpu_percent"] = throughput["machine_cpu_percent"] - (
        throughput["bot_cpu_percent"] + throughput["driver_cpu_percent"] + throughput["idle_bots_cpu_percent"]
    )
    result["throughput"] = throughput
    forget(fake)
    alive(popen, run_dir)
    return result


async def restart(servers: int, canon: Path, answers: Path, workdir: Path) -> dict[str, Any]:
    """citadel-bot started, stopped with SIGTERM once every shard answered (and its CPU settled), and
    started again on the same store against the same fake: both starts until every shard answers."""
    result: dict[str, Any] = {"servers": servers, "load_average_before": os.getloadavg()}
    async with new_fake(servers) as fake:
        first_dir = workdir / f"restart-{servers}-first"
        popen, started = start_bot(OURS, fake, first_dir, {"canon": canon}, answers, workdir)
        try:
            result["first"] = await every_shard_answers(fake, started, popen, first_dir)
            print(f"[restart {servers:,}] first start: every shard answered after "
                  f"{result['first']['every_shard_s']:.1f}s", flush=True)  # fmt: skip
            await settle(psutil.Process(popen.pid), popen, first_dir)
        finally:
            stopping = time.perf_counter()
            result["exit_code"] = await stop(popen, STOP_LIMIT)
            result["stop_s"] = time.perf_counter() - stopping
        # The fake sees the sockets close a moment after the process is gone, and signals no change then.
        deadline = time.perf_counter() + 5.0
        while connected_shards(fake) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        identifies, resumes, refused = len(fake.identifies), len(fake.resumes), len(fake.invalid_sessions)
        second_dir = workdir / f"restart-{servers}-second"
        database = first_dir / "bot.sqlite3"
        popen, started = start_bot(OURS, fake, second_dir, {}, answers, workdir, database=database)
        try:
            result["second"] = await every_shard_answers(fake, started, popen, second_dir)
        finally:
            result["second_exit_code"] = await stop(popen, STOP_LIMIT)
        result["second_identifies"] = len(fake.identifies) - identifies
        result["second_resumes_accepted"] = (
            len(fake.resumes) - resumes - (len(fake.invalid_sessions) - refused)
        )
        result["second_resumes_refused"] = len(fake.invalid_sessions) - refused
    result["load_average_after"] = os.getloadavg()
    print(f"[restart {servers:,}] exit code {result['exit_code']}; second start: every shard answered after "
          f"{result['second']['every_shard_s']:.1f}s ({result['second_resumes_accepted']} RESUMEs accepted, "
          f"{result['second_identifies']} IDENTIFYs)", flush=True)  # fmt: skip
    return result


# --- the report ------------------------------------------------------------------------------------


def figure(run: dict[str, Any], path: str) -> float | None:
    value: Any = run
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if value is not None else None


def fair_floor(runs: dict[str, dict[str, Any]]) -> str:
    """The floor with the same GUILDS intent as ours: the floor with no intents once ours runs without
    the guild cache, today's floor (GUILDS) otherwise."""
    intents = runs.get("ours", {}).get("intents")
    return "floor_none" if intents is not None and not intents & GUILDS_INTENT else "floor"


ROWS: tuple[tuple[str, str, str, int], ...] = (
    ("shards", "start.shards", "", 0),
    ("first shard answers", "start.first_shard_s", "s", 2),
    ("every shard answers", "start.every_shard_s", "s", 1),
    ("/citadel diana sequential p50", "diana_sequential.p50", "ms", 2),
    ("/citadel diana sequential p99", "diana_sequential.p99", "ms", 2),
    (f"/citadel diana {IN_FLIGHT} in flight p50", "diana_in_flight.p50", "ms", 1),
    (f"/citadel diana {IN_FLIGHT} in flight p99", "diana_in_flight.p99", "ms", 1),
    ("  mean", "diana_in_flight.mean", "ms", 1),
    ("  answers/s", "diana_in_flight.per_second", "/s", 0),
    ("  bot CPU per answer", "diana_in_flight.bot_cpu_us", "µs", 0),
    (f"answers/s ({IN_FLIGHT} in flight)", "throughput.per_second", "/s", 0),
    ("  bot CPU meanwhile", "throughput.bot_cpu_percent", "%", 0),
    ("  driver CPU meanwhile", "throughput.driver_cpu_percent", "%", 0),
    ("  the idle bots' CPU meanwhile", "throughput.idle_bots_cpu_percent", "%", 0),
    ("  the rest of the machine meanwhile", "throughput.rest_cpu_percent", "%", 0),
    ("RSS at 1 server", "rss_one_server_mb", "MB", 1),
    ("RSS after start-up", "rss_start_mb", "MB", 1),
    ("RSS after the load", "rss_load_mb", "MB", 1),
    ("memory per server", "kb_per_server", "KB", 2),
    ("RSS, same shards, 1 server each", "rss_shards_only_mb", "MB", 1),
    ("  RSS after start-up minus that", "guild_cache_mb", "MB", 1),
    ("GUILD_CREATEs received", "guild_creates", "", 0),
)


def table(servers: int, runs: dict[str, dict[str, Any]]) -> str:
    floor_key = fair_floor(runs)
    limits = {path: (limit, higher) for path, limit, higher in TARGETS}
    head = ("", "ours", "floor", "floor, no intents", "ours/floor", "ours/floor no intents",
            f"target (vs {'floor, no intents' if floor_key == 'floor_none' else 'floor'})")  # fmt: skip
    lines = [
        f"### {servers:,} servers",
        "",
        "| " + " | ".join(head) + " |",
        "|---" + "|---:" * (len(head) - 1) + "|",
    ]
    for label, path, unit, digits in ROWS:
        ours, floor, none = (figure(runs.get(k, {}), path) for k in ("ours", "floor", "floor_none"))
        target = ""
        if path in limits:
            limit, higher = limits[path]
            r = ratio(ours, figure(runs.get(floor_key, {}), path))
            met = None if r is None else (r >= limit if higher else r <= limit)
            target = (
                f"{'≥' if higher else '≤'} {limit}x: {({True: 'met', False: 'MISSED', None: 'n/a'})[met]}"
            )
        cells = [f"{label} ({unit})" if unit else label, fmt(ours, digits), fmt(floor, digits), fmt(none, digits),
                 fmt(ratio(ours, floor), 2), fmt(ratio(ours, none), 2), target]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    intents = ", ".join(f"{k} {runs.get(k, {}).get('intents')}" for k in ("ours", "floor", "floor_none"))
    lines.append("")
    lines.append(f"IDENTIFY intents: {intents}. Driver (fakes and load) RSS: "
                 f"{fmt(figure(runs.get('driver', {}), 'rss_mb'), 0)} MB, not in any bot's.")  # fmt: skip
    return "\n".join(lines)


def restart_table(found: dict[str, Any]) -> str:
    lines = [f"### Restart at {found['servers']:,} servers ({found['first']['shards']} shards)", "",
             "| | first start | restart |", "|---|---:|---:|"]  # fmt: skip
    for label, key in (
        ("first shard answers (s)", "first_shard_s"),
        ("every shard answers (s)", "every_shard_s"),
    ):
        lines.append(f"| {label} | {found['first'][key]:.2f} | {found['second'][key]:.2f} |")
    lines.append(f"| exit code of the SIGTERM stop | {found['exit_code']} | {found['second_exit_code']} |")
    lines.append(f"| IDENTIFYs / RESUMEs accepted / refused | | {found['second_identifies']} / "
                 f"{found['second_resumes_accepted']} / {found['second_resumes_refused']} |")  # fmt: skip
    verdict = "met" if found["second"]["every_shard_s"] <= 2.0 else "MISSED"
    lines += ["", f"Target: every shard answers within 2 s of the restart: {verdict}. "
              f"The graceful stop took {found['stop_s']:.1f}s."]  # fmt: skip
    return "\n".join(lines)


async def main(sizes: Sequence[int], counts: Counts, quick: bool, with_restart: bool) -> None:
    begun = time.perf_counter()
    print(f"code {code_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "counts": counts.__dict__,
        "machine": machine(),
        "code": code_version(),
        "load_average_start": os.getloadavg(),
        "runs": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="citadel-scale-"))
    try:
        canon, answers, _ = await build_canon(workdir)
        await warm_up({"canon": canon}, answers, workdir)
        report["guild_cache"] = guild_cache_bytes()
        cache = report["guild_cache"]
        print(f"discord.py's guild cache: {cache['bytes_per_guild']:,.0f} bytes of Python heap per cached guild "
              "(the fake's GUILD_CREATE parsed in this process): "
              + ", ".join(f"{where} {size:,.0f}" for where, size in cache["by_file"][:5]), flush=True)  # fmt: skip
        baselines = {spec.key: await baseline_rss(spec, canon, answers, workdir) for spec in BOTS}
        print("RSS at 1 server: " + ", ".join(f"{k} {v:.1f} MB" for k, v in baselines.items()), flush=True)
        tables: list[str] = []
        for servers in sizes:
            took = time.perf_counter()
            runs = await measure_size(servers, counts, canon, answers, workdir, baselines)
            runs["driver"]["wall_seconds"] = time.perf_counter() - took
            report["runs"][str(servers)] = runs
            tables.append(table(servers, runs))
            print("\n" + tables[-1] + "\n", flush=True)
        if with_restart:
            report["restart"] = await restart(counts.restart_servers, canon, answers, workdir)
            tables.append(restart_table(report["restart"]))
            print("\n" + tables[-1] + "\n", flush=True)
    except BotDied:
        print(f"work folder kept for its logs: {workdir}")
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    report["tables"] = tables
    report["load_average_end"] = os.getloadavg()
    report["wall_seconds"] = time.perf_counter() - begun
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS / 'scale.json'} ({report['wall_seconds']:.0f}s; load average "
          f"{' '.join(f'{x:.2f}' for x in report['load_average_end'])})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--servers", type=int, nargs="+", help="default 10,000 and 100,000 (5,000 with --quick)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="200 interactions, 5 s of throughput, restart at 5,000"
    )
    parser.add_argument("--no-restart", action="store_true", help="skip the restart figure")
    args = parser.parse_args()
    counts = Counts.quick() if args.quick else Counts()
    sizes = args.servers or ([5_000] if args.quick else [10_000, 100_000])
    asyncio.run(main(sizes, counts, args.quick, not args.no_restart))
