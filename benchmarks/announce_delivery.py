"""How long N subscribed servers take to receive one milestone post, through the fake Discord with
Discord's rate limits on (50 requests a second globally, 5 per 5 seconds per channel), and how many
posts were duplicated or lost.

    .venv/bin/python -m benchmarks.announce_delivery --servers 1000 10000

Prints a table and writes benchmarks/results/announce_delivery.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.config import DEFAULT_CANON_DIR
from bot.facts import Fact
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord
from tests.harness import TOKEN, make_settings, running_bot

RESULTS = Path(__file__).with_name("results")


async def measure(servers: int, rate: float) -> dict[str, float | int]:
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
                    started = time.perf_counter()
                    # A premiere 29.5 days away: the 30-day milestone is due at once for every server.
                    fact = Fact("premiere", "2026-12-24", "https://example.org/date", "2026-11-20")
                    await bot.store.facts.edit("season-2", "premiere", "", fact, "benchmark")
                    # The change woke the scheduler; settled, it has posted everything due and sleeps
                    # (anything doubled would be in the channels by then).
                    await bot.announcer.settled()
                    took = time.perf_counter() - started
                    counts = [len(fake.messages.get(c, [])) for c in channels]
                    return {
                        "servers": servers,
                        "seconds": round(took, 1),
                        "posts_per_second": round(servers / took, 1),
                        "duplicates": sum(n - 1 for n in counts if n > 1),
                        "losses": sum(1 for n in counts if n == 0),
                        "rate_limited_429s": len(getattr(fake, "rate_limited", [])),
                        "invalid_requests": len(fake.invalid_requests),
                    }


async def main(sizes: list[int], rate: float) -> None:
    rows = [await measure(n, rate) for n in sizes]
    print(f"{'servers':>8} {'seconds':>8} {'posts/s':>8} {'dups':>5} {'lost':>5} {'429s':>5}")
    for r in rows:
        print(
            f"{r['servers']:>8} {r['seconds']:>8} {r['posts_per_second']:>8} {r['duplicates']:>5} {r['losses']:>5} {r['rate_limited_429s']:>5}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "announce_delivery.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rate", type=float, default=40.0, help="ANNOUNCE_RATE for the bot")
    args = parser.parse_args()
    asyncio.run(main(args.servers, args.rate))
