"""How long N subscribed servers take to receive one milestone post, through the fake Discord with
Discord's rate limits on (50 requests a second globally, 5 per 5 seconds per channel); how many posts
were duplicated or lost, how many 429s the bot met; and how fast slash commands sent throughout the
fan-out were answered (Discord gives an interaction 3 seconds).

    .venv/bin/python -m benchmarks.announce_delivery --servers 1000 10000

Prints a table and writes benchmarks/results/announce_delivery.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.config import DEFAULT_CANON_DIR
from bot.facts import Fact
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.harness import TOKEN, make_settings, running_bot

RESULTS = Path(__file__).with_name("results")
INTERACTION_WINDOW = 3.0  # seconds Discord waits for an interaction's callback


def _commands(fake: FakeDiscord) -> list[Callable[[int], Awaitable[InteractionRecord]]]:
    """What fans keep asking during the fan-out, in turn, each in the server given."""
    return [
        lambda g: fake.invoke_command("citadel", subcommand="diana", guild_id=g),
        lambda g: fake.invoke_command("citadel", subcommand="search", options={"query": "Milan"}, guild_id=g),
        lambda g: fake.invoke_command("citadel", subcommand="countdown", guild_id=g),
        lambda g: fake.send_autocomplete(
            "citadel", subcommand="show", option="entry", value="ital", guild_id=g
        ),
    ]


async def _ask_throughout(
    fake: FakeDiscord, done: asyncio.Event, every: float, records: list[InteractionRecord]
) -> None:
    """One slash command every `every` seconds, over all the servers in turn, until `done`."""
    commands = itertools.cycle(_commands(fake))
    guilds = itertools.cycle(fake.guild_ids)
    while not done.is_set():
        records.append(await next(commands)(next(guilds)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), every)


async def measure(servers: int, rate: float | None, ask_every: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        canon = Path(shutil.copytree(DEFAULT_CANON_DIR, tmp_path / "canon"))
        clock = ManualClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
        async with FakeDiscord(guilds=servers, token=TOKEN, rate_limits=True) as fake:
            with fake.point_discord_py_here():
                settings = replace(
                    make_settings(tmp_path, canon, fake), home_guild_ids=(), announce_rate=rate
                )
                async with running_bot(settings, fake, clock) as bot:
                    for guild_id in fake.guild_ids:
                        await bot.store.servers.save(
                            GuildSettings(guild_id, channel_id=fake.guild(guild_id).channel_id)
                        )
                    channels = [fake.guild(g).channel_id for g in fake.guild_ids]
                    limited_before = len(fake.rate_limited)
                    done, records = asyncio.Event(), []
                    asking = asyncio.create_task(_ask_throughout(fake, done, ask_every, records))
                    cpu_before, started = time.process_time(), time.perf_counter()
                    # A premiere 29.5 days away: the 30-day milestone is due at once for every server.
                    fact = Fact("premiere", "2026-12-24", "https://example.org/date", "2026-11-20")
                    await bot.store.facts.edit("season-2", "premiere", "", fact, "benchmark")
                    # The change woke the scheduler; settled, it has posted everything due and sleeps
                    # (anything doubled would be in the channels by then).
                    await bot.announcer.settled()
                    took = time.perf_counter() - started
                    cpu = time.process_time() - cpu_before
                    done.set()
                    await asking
                    for record in records:  # the last ones may still be on their way
                        await record.wait_response(10)
                    counts = [sum(1 for m in fake.messages.get(c, []) if m["type"] == 0) for c in channels]
                    limited = fake.rate_limited[limited_before:]
                    latencies = [r.latency for r in records if r.latency is not None]
                    posts = sorted(
                        t for t in fake.request_times["POST /channels/{channel_id}/messages"] if t >= 0
                    )
                    return {
                        "servers": servers,
                        "seconds": round(took, 1),
                        "posts_per_second": round(servers / took, 1),
                        "busiest_second": _busiest_second(posts),
                        "duplicates": sum(n - 1 for n in counts if n > 1),
                        "losses": sum(1 for n in counts if n == 0),
                        "global_429s": sum(1 for hit in limited if hit[2] == "global"),
                        "route_429s": sum(1 for hit in limited if hit[2] != "global"),
                        "commands_during_fan_out": len(records),
                        "commands_unanswered": sum(1 for r in records if r.callback is None or r.rejected),
                        "slowest_answer_s": round(max(latencies, default=0.0), 3),
                        "answers_over_3s": sum(1 for s in latencies if s > INTERACTION_WINDOW),
                        "requests_counted_by_pacer": bot.pacer.counted,
                        "pacer_budget_at_end": bot.pacer.budget,
                        "cpu_share_of_a_core": round(cpu / took, 2),
                        "invalid_requests": len(fake.invalid_requests),
                    }


def _busiest_second(times: list[float]) -> int:
    """The most POSTs that arrived within any one second (by the fake's clock)."""
    busiest, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


async def main(sizes: list[int], rate: float | None, ask_every: float) -> None:
    rows = []
    for n in sizes:
        rows.append(await measure(n, rate, ask_every))
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\n{'servers':>8} {'seconds':>8} {'posts/s':>8} {'dups':>5} {'lost':>5} {'g429':>5} {'r429':>5}"
        f" {'asked':>6} {'slowest s':>10} {'>3 s':>5}"
    )
    for r in rows:
        print(
            f"{r['servers']:>8} {r['seconds']:>8} {r['posts_per_second']:>8} {r['duplicates']:>5}"
            f" {r['losses']:>5} {r['global_429s']:>5} {r['route_429s']:>5} {r['commands_during_fan_out']:>6}"
            f" {r['slowest_answer_s']:>10} {r['answers_over_3s']:>5}"
        )
    print(f"(load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; 2 shared cores)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "announce_delivery.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--rate", type=float, default=None, help="ANNOUNCE_RATE, a ceiling in posts a second (default: none)"
    )
    parser.add_argument(
        "--ask-every", type=float, default=0.25, help="seconds between slash commands during the fan-out"
    )
    args = parser.parse_args()
    asyncio.run(main(args.servers, args.rate, args.ask_every))
