"""citadel-bot against a bare discord.py bot (the floor), both run as separate processes against the
fake Discord on loopback, measured through the gateway and REST as Discord would see them.

    .venv/bin/python -m benchmarks.bench                        # 1, 1,000 and 10,000 servers
    .venv/bin/python -m benchmarks.bench --servers 1 1000 --quick

For each number of servers G it runs, one after the other, each with a fresh fake Discord of G guilds:

- the floor (`python -m benchmarks.floor_bot`), answering with constants held in memory;
- citadel-bot (`python -m bot`) with the shipped canon;
- citadel-bot with 100,000 more facts over 1,000 generated entries;
- the floor built with discord.py's defaults (FLOOR_DEFAULTS=1), only for the chat-message flood.

and measures: time from process start to the first answered `/citadel diana`; latency (INTERACTION_CREATE
written to the bot's websocket -> interaction callback received) over N sequential interactions and N
with 50 in flight, for `/citadel diana`, `/citadel search query:Milan` and the `/citadel show`
autocomplete with "ital" typed; answered interactions per second with 50 in flight (the three in turn);
resident memory after start-up and after the load; CPU over idle seconds; and, while the fake sends
100,000 chat messages (MESSAGE_CREATE) across the servers, memory growth and CPU.

Prints one table per G (ours, floor, ours / floor) and the targets, and writes
benchmarks/results/bench.json and benchmarks/results/bench.png. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import psutil

from bot.canon import load_canon
from bot.clock import utc_now
from bot.config import DEFAULT_CANON_DIR
from bot.facts import FIELDS, Entry, fact_key, format_person, parse_value
from bot.render import cut, to_embed
from bot.services import Catalogue
from bot.store import Store, upsert_entry
from cogs.follow import follow_view
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.payloads import message_payload, user_payload
from tests.harness import TOKEN

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
IN_FLIGHT = 50
SEARCH_QUERY = "Milan"
TYPED = "ital"
GENERATED_ENTRIES = 1_000
FACTS_PER_ENTRY = 100
CHATTERS = 1_000  # distinct authors of the flood's chat messages
ANSWER_TIMEOUT = 10.0  # seconds the driver waits for a callback (Discord itself gives up after 3)
# Settings a developer's shell may carry that would change what the bots do.
CLEARED_ENV = (
    "HOME_GUILD_IDS",
    "EDITOR_ROLE_ID",
    "REVIEW_CHANNEL_ID",
    "SHARD_COUNT",
    "SHARD_IDS",
    "FLOOR_DEFAULTS",
    "FLOOR_INTENTS",
    "FLOOR_ANSWERS",
    "UPDATE_SETTLE_SECONDS",
    "ANNOUNCE_RATE",
)


@dataclass(frozen=True)
class Counts:
    """How much of each measurement to do; `--quick` shortens everything to try the benchmark out."""

    interactions: int = 2_000
    throughput_seconds: float = 30.0
    idle_seconds: float = 60.0
    chat_messages: int = 100_000
    starts: int = 5  # time to first answer: the median of this many starts

    @classmethod
    def quick(cls) -> Counts:
        return cls(
            interactions=200, throughput_seconds=5.0, idle_seconds=10.0, chat_messages=10_000, starts=3
        )


@dataclass(frozen=True)
class BotSpec:
    """One bot process the benchmark starts."""

    key: str
    label: str
    module: str
    store: str | None = None  # "canon" or "100k": which store file it gets
    env: dict[str, str] = field(default_factory=dict)
    load: bool = True  # latency, throughput and idle runs
    flood: bool = False  # the chat-message flood


FLOOR = BotSpec("floor", "floor", "benchmarks.floor_bot")
OURS = BotSpec("ours", "ours, canon", "bot", store="canon", flood=True)
OURS_100K = BotSpec("ours_100k", "ours, 100k facts", "bot", store="100k", flood=True)
FLOOR_DEFAULTS = BotSpec(
    "floor_defaults",
    "discord.py defaults",
    "benchmarks.floor_bot",
    env={"FLOOR_DEFAULTS": "1"},
    load=False,
    flood=True,
)
BOTS = (FLOOR, OURS, OURS_100K, FLOOR_DEFAULTS)


class BotDied(RuntimeError):
    """The bot process exited while it was being measured."""


# --- the stores ------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Alessia", "Marco", "Giulia", "Luca", "Priya", "Arjun", "Sofia", "Matteo", "Ananya", "Rohan",
    "Chiara", "Davide", "Isha", "Kabir", "Elena", "Paolo", "Meera", "Vikram", "Laura", "Nikhil",
    "Carmen", "Diego", "Lucia", "Javier", "Ines", "Tomás", "Valeria", "Mateo", "Camila", "Andrés",
)  # fmt: skip
LAST_NAMES = (
    "Rossi", "Bianchi", "Ferrari", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
    "Sharma", "Verma", "Gupta", "Iyer", "Nair", "Kapoor", "Mehta", "Reddy", "Joshi", "Rao",
    "García", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Díaz", "Ruiz", "Hernández", "Moreno",
)  # fmt: skip
CITIES = (
    "Milan", "Rome", "Turin", "Naples", "Venice", "Florence", "Mumbai", "Delhi", "Jaipur", "Goa",
    "Madrid", "Barcelona", "Seville", "Valencia", "Mexico City", "Guadalajara", "Monterrey", "London",
    "Paris", "Berlin", "Lisbon", "Prague", "Vienna", "Budapest", "Istanbul", "Cairo", "Tokyo", "Seoul",
    "Sydney", "Toronto", "Chicago", "Boston", "Lagos", "Nairobi", "Lima", "Bogotá", "Santiago", "Oslo",
    "Dublin", "Athens",
)  # fmt: skip
WORDS = (
    "agent", "mole", "heist", "safehouse", "handler", "memory", "wipe", "syndicate", "asset", "cover",
    "extraction", "border", "convoy", "archive", "cipher", "rooftop", "betrayal", "alliance", "dossier",
    "signal", "embassy", "courier", "vault", "manifest", "harbour", "tunnel", "ledger", "ransom", "decoy",
    "blackout", "summit", "sleeper", "uplink", "checkpoint", "exile", "network", "protocol", "relay",
)  # fmt: skip
PRODUCERS = ("Amazon MGM Studios", "AGBO", "Cattleya", "D2R Films", "Midnight Radio", "Ficción Producciones")


def generated_entry(index: int) -> Entry:
    return Entry(
        slug=f"gen-{index:04d}",
        title=f"Generated series {index:04d}",
        description=f"A generated entry for the benchmark, number {index}",
        position=1_000 + index,
    )


def generated_facts(index: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(field, raw value, note) of one generated entry: 100 facts over single and multi-valued fields."""

    def sentence(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."

    facts: list[tuple[str, str, str]] = [
        ("status", rng.choice(("released", "cancelled", "renewed")), ""),
        ("premiere", f"{rng.randint(2015, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", ""),
        ("network", "Prime Video", ""),
        ("language", rng.choice(("Italian", "Hindi", "Spanish", "English")), ""),
        ("episodes", str(rng.randint(4, 10)), ""),
        ("plot", f"In {rng.choice(CITIES)}, {sentence(30)}", ""),
    ]
    people = rng.sample([(f, last) for f in FIRST_NAMES for last in LAST_NAMES], 50)
    for first, last in people[:40]:
        facts.append(
            ("cast", format_person(f"{first} {last}", f"Agent {rng.choice(WORDS).capitalize()}"), "")
        )
    for first, last in people[40:]:
        facts.append(("executive_producer", f"{first} {last}", ""))
    for n in range(10):
        facts.append(("production", f"{rng.choice(PRODUCERS)} unit {index}-{n}", ""))
    for city in rng.sample(CITIES, 10):
        facts.append(("filming_location", city, rng.choice(("", "second unit", "studio and streets"))))
    for n in range(24):
        facts.append(("notes", f"Note {n}: {sentence(12)} Shot near {rng.choice(CITIES)}.", ""))
    assert len(facts) == FACTS_PER_ENTRY
    return facts


async def add_generated_facts(store: Store) -> None:
    """1,000 entries of 100 facts each, every fact with a source, a source date and its revision, in
    one transaction of bulk inserts (the FTS index is kept by the store's own triggers)."""
    rng = random.Random(2030)
    now = store.now()
    async with store.transaction(announce=False) as tx:
        for index in range(1, GENERATED_ENTRIES + 1):
            await upsert_entry(tx, generated_entry(index))
        entry_ids = {row[0]: row[1] for row in await tx.fetchall("SELECT slug, id FROM entries")}
        row = await tx.fetchone("SELECT coalesce(max(id), 0) FROM revisions")
        revision_id = int(row[0]) if row else 0
        revisions: list[tuple[Any, ...]] = []
        facts: list[tuple[Any, ...]] = []
        for index in range(1, GENERATED_ENTRIES + 1):
            entry_id = entry_ids[generated_entry(index).slug]
            positions: dict[str, int] = {}
            for field_name, raw, note in generated_facts(index, rng):
                value = parse_value(field_name, raw)
                source = f"https://example.org/generated/{index:04d}/{field_name}"
                source_date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                content = {
                    "value": value,
                    "note": note,
                    "source": source,
                    "source_date": source_date,
                    "added_by": "benchmark",
                    "added_at": now,
                }
                key = fact_key(field_name, value)
                position = positions.get(field_name, 0) if FIELDS[field_name].multi else 0
                positions[field_name] = position + 1
                revision_id += 1
                revisions.append((revision_id, entry_id, field_name, key, "add", None, json.dumps(content),
                                  "benchmark", now, "generated"))  # fmt: skip
                facts.append((entry_id, field_name, key, value, note, source, source_date, "benchmark", now,
                              position, revision_id))  # fmt: skip
        await tx.executemany(
            "INSERT INTO revisions (id, entry_id, field, key, action, old, new, who, at, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            revisions,
        )
        await tx.executemany(
            "INSERT INTO facts (entry_id, field, key, value, note, source, source_date, added_by, added_at, "
            "position, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            facts,
        )


async def floor_answers(store: Store) -> dict[str, Any]:
    """Exactly what citadel-bot answers from this store: the floor sends the same bytes."""
    catalogue = Catalogue(store, utc_now)  # the service the bot answers through
    await catalogue.open()
    diana = to_embed(await catalogue.entry_card(catalogue.resolve("diana"), utc_now())).to_dict()
    # Its Follow button, as an answer in a server carries it (cogs/citadel.py).
    items = [i.item if isinstance(i, discord.ui.DynamicItem) else i for i in follow_view("diana").children]
    buttons = [
        {"label": b.label, "style": b.style.value, "custom_id": b.custom_id}
        for b in items
        if isinstance(b, discord.ui.Button)
    ]
    search = to_embed(await catalogue.search_card(SEARCH_QUERY)).to_dict()
    choices = [{"name": cut(e.title, 100), "value": e.slug} for e in await catalogue.choices(TYPED)]
    catalogue.close()
    return {"diana": diana, "diana_buttons": buttons, "search": search, "choices": choices}


async def build_canon_store(directory: Path) -> tuple[Path, Path, int]:
    """The store with the shipped canon (copied for each run, so each run is a first start), the
    floor's answers file, and how many facts the canon holds."""
    canon = directory / "canon.sqlite3"
    store = await Store.open(canon)
    try:
        await load_canon(store, DEFAULT_CANON_DIR)
        answers = directory / "floor_answers.json"
        answers.write_text(json.dumps(await floor_answers(store), ensure_ascii=False))
        canon_facts = await store.facts.count()
        await store.checkpoint()
    finally:
        await store.close()
    return canon, answers, canon_facts


async def build_stores(directory: Path) -> tuple[dict[str, Path], Path, dict[str, int]]:
    """The two store files every run starts from (copied, so each run is a first start), and the
    floor's answers file."""
    canon, answers, canon_facts = await build_canon_store(directory)
    big = directory / "facts-100k.sqlite3"
    shutil.copyfile(canon, big)
    started = time.perf_counter()
    store = await Store.open(big)
    try:
        await add_generated_facts(store)
        big_facts = await store.facts.count()
        await store.checkpoint()
    finally:
        await store.close()
    print(
        f"stores: canon {canon_facts} facts; generated {big_facts} facts in {time.perf_counter() - started:.1f}s"
    )
    return {"canon": canon, "100k": big}, answers, {"canon": canon_facts, "100k": big_facts}


# --- driving the fake ------------------------------------------------------------------------------

Send = Callable[[FakeDiscord, int], Awaitable[InteractionRecord]]
Check = Callable[[dict[str, Any]], bool]


async def send_diana(fake: FakeDiscord, guild_id: int) -> InteractionRecord:
    return await fake.invoke_command("citadel", subcommand="diana", guild_id=guild_id)


async def send_search(fake: FakeDiscord, guild_id: int) -> InteractionRecord:
    return await fake.invoke_command(
        "citadel", subcommand="search", options={"query": SEARCH_QUERY}, guild_id=guild_id
    )


async def send_autocomplete(fake: FakeDiscord, guild_id: int) -> InteractionRecord:
    return await fake.send_autocomplete(
        "citadel", subcommand="show", option="entry", value=TYPED, guild_id=guild_id
    )


def is_embed(callback: dict[str, Any]) -> bool:
    data = callback.get("data") or {}
    return callback.get("type") == 4 and bool(data.get("embeds")) and not (data.get("flags") or 0) & 64


def is_choices(callback: dict[str, Any]) -> bool:
    return callback.get("type") == 8 and bool((callback.get("data") or {}).get("choices"))


COMMANDS: tuple[tuple[str, str, Send, Check], ...] = (
    ("diana", "/citadel diana", send_diana, is_embed),
    ("search", f"/citadel search {SEARCH_QUERY}", send_search, is_embed),
    ("autocomplete", f"/citadel show autocomplete '{TYPED}'", send_autocomplete, is_choices),
)


async def answered(record: InteractionRecord, within: float) -> bool:
    """Whether the bot answered within `within` seconds (rather than being refused by the fake or timing out)."""
    try:
        await record.changes.wait_for(
            lambda: record.callback is not None or bool(record.rejected), within, "an answer"
        )
    except TimeoutError:
        return False
    return record.callback is not None


def drop(fake: FakeDiscord, record: InteractionRecord) -> None:
    """The fake keeps every interaction for tests to inspect; the benchmark is done with this one."""
    fake.interactions.pop(record.id, None)
    fake.interactions_by_token.pop(record.token, None)


def forget(fake: FakeDiscord) -> None:
    """Between phases: drop what the fake records of every request and message (it keeps them for
    tests), so its lists do not grow in the benchmark's process for the whole run."""
    fake.requests.clear()
    fake.request_times.clear()
    fake.messages.clear()
    fake._message_index.clear()  # no public way to empty it; the fake is ours to drive here
    fake.interactions.clear()
    fake.interactions_by_token.clear()


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max in milliseconds (nearest rank), and the mean."""
    ordered = sorted(latencies)
    if not ordered:
        return dict.fromkeys(("p50", "p90", "p99", "max", "mean"), float("nan"))

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000

    mean = sum(ordered) / len(ordered) * 1000
    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1] * 1000, "mean": mean}


async def latency_run(
    fake: FakeDiscord, send: Send, check: Check, count: int, in_flight: int, guilds: Sequence[int]
) -> dict[str, Any]:
    """`count` interactions, `in_flight` at a time, spread over the servers; latencies of the answers."""
    latencies: list[float] = []
    errors = 0
    issued = 0

    async def worker() -> None:
        nonlocal errors, issued
        while issued < count:
            index = issued
            issued += 1
            record = await send(fake, guilds[index % len(guilds)])
            if await answered(record, ANSWER_TIMEOUT) and check(record.callback or {}) and record.latency:
                latencies.append(record.latency)
            else:
                errors += 1
            drop(fake, record)

    with DriverGc() as pauses:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        took = time.perf_counter() - began
    return {
        **percentiles(latencies),
        "answered": len(latencies),
        "errors": errors,
        "per_second": len(latencies) / took,
        **pauses.summary(),
    }


async def throughput_run(
    fake: FakeDiscord, seconds: float, guilds: Sequence[int], bot: psutil.Process
) -> dict[str, Any]:
    """Answers per second with IN_FLIGHT interactions always outstanding (the three commands in turn),
    and how much of a core the bot and the driver (this process: the fake and the load) used meanwhile."""
    driver = psutil.Process()
    bot_before, driver_before = cpu_seconds(bot), cpu_seconds(driver)
    started = time.perf_counter()
    deadline = started + seconds
    done = 0
    errors = 0

    async def worker(offset: int) -> None:
        nonlocal done, errors
        index = offset
        while time.perf_counter() < deadline:
            _, _, send, check = COMMANDS[index % len(COMMANDS)]
            record = await send(fake, guilds[index % len(guilds)])
            index += IN_FLIGHT
            ok = await answered(record, ANSWER_TIMEOUT) and check(record.callback or {})
            if ok and record.callback_at is not None and record.callback_at <= deadline:
                done += 1
            elif not ok:
                errors += 1
            drop(fake, record)

    with DriverGc() as pauses:
        await asyncio.gather(*(worker(n) for n in range(IN_FLIGHT)))
    took = time.perf_counter() - started
    return {
        "per_second": done / seconds,
        "answered": done,
        "errors": errors,
        "seconds": seconds,
        "bot_cpu_percent": 100 * (cpu_seconds(bot) - bot_before) / took,
        "driver_cpu_percent": 100 * (cpu_seconds(driver) - driver_before) / took,
        **pauses.summary(),
    }


class DriverGc:
    """Keeps the driver's own garbage collector out of the figures. This process runs the fake and the
    load; a full collection of its heap (the fake keeps each session's dispatches until the next
    heartbeat) stalls it for up to half a second, which would show as bot latency. So each measured
    phase starts with a collection and runs with automatic collection off; any collection that still
    happens is recorded."""

    def __init__(self, *, collect: bool = True) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        self._collect = collect

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> DriverGc:
        if self._collect:
            gc.collect()
        gc.disable()
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)
        gc.enable()

    def summary(self) -> dict[str, float]:
        return {"driver_gc_count": len(self.pauses), "driver_gc_max_ms": 1000 * max(self.pauses, default=0.0)}


# --- the bot process -------------------------------------------------------------------------------


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def alive(process: subprocess.Popen[bytes], run_dir: Path) -> None:
    if process.poll() is not None:
        err = (run_dir / "stderr.txt").read_text(errors="replace")[-3000:]
        raise BotDied(f"the bot exited with {process.returncode}:\n{err}")


async def settle(
    process: psutil.Process, popen: subprocess.Popen[bytes], run_dir: Path, limit: float = 120.0
) -> float:
    """Until the bot uses under 2% of a core over a second (done with start-up or a backlog)."""
    started = time.perf_counter()
    last = cpu_seconds(process)
    while time.perf_counter() - started < limit:
        await asyncio.sleep(1.0)
        alive(popen, run_dir)
        now = cpu_seconds(process)
        if now - last < 0.02:
            break
        last = now
    return time.perf_counter() - started


async def first_answer(
    fake: FakeDiscord, started: float, popen: subprocess.Popen[bytes], run_dir: Path
) -> float:
    """Seconds from Popen to the first answered `/citadel diana` (sent again until one is answered)."""
    guild = fake.guild_ids[0]  # on shard 0, the first to connect

    def connected() -> bool:
        session = fake.shard_sessions.get(0)
        return bool(fake.syncs) and session is not None and session.ready_at is not None

    while True:
        alive(popen, run_dir)
        if time.perf_counter() - started > 300:
            raise TimeoutError("no answer to /citadel diana within 300 s of starting the bot")
        try:
            await fake.changes.wait_for(connected, 0.5, "the bot's commands and its first shard")
        except TimeoutError:
            continue
        record = await send_diana(fake, guild)
        ok = await answered(record, 2.0) and is_embed(record.callback or {})
        if ok and record.callback_at is not None:
            return record.callback_at - started


async def chat_flood(
    fake: FakeDiscord, process: psutil.Process, popen: subprocess.Popen[bytes], run_dir: Path, count: int
) -> dict[str, Any]:
    """`count` MESSAGE_CREATEs spread over the servers' channels, as fast as the fake writes them. The
    fake delivers them only to a bot whose intents include GUILD_MESSAGES, as Discord does."""
    await settle(process, popen, run_dir)
    before_rss, before_cpu = rss_mb(process), cpu_seconds(process)
    before_dispatched = fake.dispatch_counts["MESSAGE_CREATE"]
    channels = [fake.channel(fake.guild(g).channel_id) for g in fake.guild_ids]  # type: ignore[union-attr]  # guild() is None only for an unknown id
    authors = [user_payload(400_000_000_000_000_000 + n, f"chatter{n}") for n in range(CHATTERS)]
    started = time.perf_counter()
    for n in range(count):
        channel = channels[n % len(channels)]
        assert channel is not None
        message = message_payload(
            message_id=fake.snowflake(),
            channel_id=int(channel["id"]),
            author=authors[n % CHATTERS],
            body={"content": f"message {n}: did anyone else catch the {WORDS[n % len(WORDS)]} scene?"},
        )
        await fake.dispatch_message_create(message, channel)
        if n % 1000 == 999:
            alive(popen, run_dir)
    sent_seconds = time.perf_counter() - started
    await settle(process, popen, run_dir)
    after_rss, after_cpu = rss_mb(process), cpu_seconds(process)
    return {
        "messages": count,
        "delivered": fake.dispatch_counts["MESSAGE_CREATE"] - before_dispatched,
        "send_seconds": sent_seconds,
        "rss_before_mb": before_rss,
        "rss_after_mb": after_rss,
        "rss_growth_mb": after_rss - before_rss,
        "cpu_seconds": after_cpu - before_cpu,
    }


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return found


# Frames under every sample (the interpreter, asyncio's loop, `python -m`): left out of the rankings.
RUNTIME_FRAMES = (
    "(runners.py)",
    "(base_events.py)",
    "Handle._run (events.py)",
    "(<frozen runpy>)",
    "<module> (__main__.py)",
    "main (__main__.py)",
)


def summarize_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """From py-spy's raw output (one `frame;frame;... count` line per stack), the functions with the
    most samples on top of the stack (self) and anywhere in it (inclusive), as % of all samples."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        # "function (path/file.py:123)" -> "function (file.py)": one row per function, not per line.
        frames = [re.sub(r" \((?:.*/)?([^/]+?)(?::\d+)?\)$", r" (\1)", f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def ranked(counts: dict[str, int]) -> list[tuple[str, float]]:
        shown = {name: n for name, n in counts.items() if not name.endswith(RUNTIME_FRAMES)}
        best = sorted(shown.items(), key=lambda kv: -kv[1])[:top]
        return [(name, round(100 * n / max(total, 1), 1)) for name, n in best]

    return {"samples": total, "self": ranked(own), "inclusive": ranked(inclusive)}


async def profile_under_load(
    fake: FakeDiscord, popen: subprocess.Popen[bytes], seconds: float, guilds: Sequence[int], out: Path
) -> dict[str, Any]:
    """py-spy on the bot while the throughput load runs again (after every measurement, so the
    sampling does not touch the figures)."""
    spy = await asyncio.create_subprocess_exec(
        py_spy(), "record", "--nonblocking", "--format", "raw", "--rate", "200",
        "--duration", str(max(1, round(seconds))), "-o", str(out), "-p", str(popen.pid),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(1.0)  # attached
    load = await throughput_run(fake, seconds, guilds, psutil.Process(popen.pid))
    _, err = await spy.communicate()
    if spy.returncode != 0 or not await asyncio.to_thread(out.exists):
        return {"error": err.decode(errors="replace")[-2000:]}
    return {"file": str(out), "throughput_while_profiled": load["per_second"], **summarize_profile(out)}


def code_version() -> str:
    """The commit the bot processes run from, with "+dirty" if bot/ or cogs/ have uncommitted changes
    (others may be editing the bot while the benchmark runs)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot", "cogs"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def bot_env(spec: BotSpec, fake: FakeDiscord, database: Path, answers: Path, pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        PYTHONPYCACHEPREFIX=str(pycache),
        DISCORD_TOKEN=TOKEN,
        DATABASE_PATH=str(database),
        CANON_DIR=str(DEFAULT_CANON_DIR),
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
        FLOOR_ANSWERS=str(answers),
        **spec.env,
    )
    return env


async def stop(popen: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds; its exit code."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(popen.wait, grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            await asyncio.to_thread(popen.wait)
    return popen.returncode


def start_bot(
    spec: BotSpec,
    fake: FakeDiscord,
    run_dir: Path,
    stores: dict[str, Path],
    answers: Path,
    workdir: Path,
    database: Path | None = None,
) -> tuple[subprocess.Popen[bytes], float]:
    """`python -m bot` (or the floor) as an operator starts it, on a fresh copy of its store (or on
    `database` as it stands, to start it again), with its output in files; returns the process and
    the perf_counter() just before it was started."""
    run_dir.mkdir()
    if database is None:
        database = run_dir / "bot.sqlite3"
        if spec.store is not None:
            shutil.copyfile(stores[spec.store], database)
    env = bot_env(spec, fake, database, answers, workdir / "pycache")
    gc.collect()  # now, not while the bot starts (see DriverGc)
    with (run_dir / "stdout.txt").open("wb") as out, (run_dir / "stderr.txt").open("wb") as err:
        started = time.perf_counter()
        popen = subprocess.Popen(
            [sys.executable, "-m", spec.module], cwd=run_dir, env=env, stdout=out, stderr=err
        )
    return popen, started


async def time_to_first_answer(
    spec: BotSpec, servers: int, run_dir: Path, stores: dict[str, Path], answers: Path, workdir: Path
) -> float:
    """One start, measured to the first answered `/citadel diana`, then stopped."""
    shards = 10 if servers >= 10_000 else 1
    async with FakeDiscord(guilds=servers, token=TOKEN, recommended_shards=shards, validate=False) as fake:
        popen, started = start_bot(spec, fake, run_dir, stores, answers, workdir)
        try:
            with DriverGc(collect=False):
                return await first_answer(fake, started, popen, run_dir)
        finally:
            await stop(popen)


async def warm_up(stores: dict[str, Path], answers: Path, workdir: Path) -> None:
    """Start each bot once, unmeasured, so that every measured start loads compiled code (from
    PYTHONPYCACHEPREFIX in the work folder: nothing is written into the checkout, and it works where
    PYTHONDONTWRITEBYTECODE is set), as an operator's second start would."""
    for spec in (FLOOR, OURS):
        took = await time_to_first_answer(spec, 1, workdir / f"warm-up-{spec.key}", stores, answers, workdir)
        print(f"warm-up: {spec.label} answered {took:.2f}s after starting (compiling its code)")


async def measure(
    spec: BotSpec,
    servers: int,
    counts: Counts,
    stores: dict[str, Path],
    answers: Path,
    workdir: Path,
    profile: bool = False,
    repeat: int = 0,
    starts: Sequence[float] = (),
) -> dict[str, Any]:
    """One bot against a fresh fake Discord with `servers` guilds: a few starts timed to the first
    answer, then one start kept running for everything else."""
    shards = 10 if servers >= 10_000 else 1
    result: dict[str, Any] = {"bot": spec.key, "servers": servers, "shards": shards}
    result["code"] = code_version()
    result["load_average_before"] = os.getloadavg()
    print(f"[{servers} servers] {spec.label}: starting", flush=True)
    begun = time.perf_counter()
    samples = list(starts)  # timed starts made beforehand (see interleaved_starts), plus this one
    async with FakeDiscord(guilds=servers, token=TOKEN, recommended_shards=shards, validate=False) as fake:
        run_dir = workdir / f"{spec.key}-{servers}-{repeat}"
        popen, started = start_bot(spec, fake, run_dir, stores, answers, workdir)
        try:
            process = psutil.Process(popen.pid)
            with DriverGc(collect=False):
                samples.append(await first_answer(fake, started, popen, run_dir))
                for shard in range(shards):
                    await fake.wait_for_ready(shard, timeout=300)
            result["all_shards_ready_s"] = time.perf_counter() - started
            result["first_answer_samples_s"] = samples
            result["first_answer_s"] = statistics.median(samples)
            await settle(process, popen, run_dir)
            forget(fake)
            result["rss_start_mb"] = rss_mb(process)
            guilds = fake.guild_ids
            if spec.load:
                for name, _, send, check in COMMANDS:
                    result[f"{name}_sequential"] = await latency_run(
                        fake, send, check, counts.interactions, 1, guilds
                    )
                    forget(fake)
                    result[f"{name}_in_flight"] = await latency_run(
                        fake, send, check, counts.interactions, IN_FLIGHT, guilds
                    )
                    forget(fake)
                    print(f"[{servers} servers] {spec.label}: {name} done", flush=True)
                result["throughput"] = await throughput_run(fake, counts.throughput_seconds, guilds, process)
                forget(fake)
                await settle(process, popen, run_dir)
                result["rss_load_mb"] = rss_mb(process)
                before = cpu_seconds(process)
                await asyncio.sleep(counts.idle_seconds)
                alive(popen, run_dir)
                used = cpu_seconds(process) - before
                result["idle"] = {
                    "seconds": counts.idle_seconds,
                    "cpu_seconds": used,
                    "percent_of_core": 100 * used / counts.idle_seconds,
                }
            if spec.flood:
                result["flood"] = await chat_flood(fake, process, popen, run_dir, counts.chat_messages)
            if profile and spec.key == "ours_100k":
                RESULTS.mkdir(exist_ok=True)
                out = RESULTS / f"profile-{spec.key}-{servers}.txt"
                result["profile"] = await profile_under_load(
                    fake, popen, counts.throughput_seconds, guilds, out
                )
                forget(fake)
            alive(popen, run_dir)
            result["errors_logged"] = sum(
                1
                for line in (run_dir / "stderr.txt").read_text(errors="replace").splitlines()
                if " ERROR " in line
            )
        finally:
            await stop(popen)
    result["load_average_after"] = os.getloadavg()
    print(f"[{servers} servers] {spec.label}: done in {time.perf_counter() - begun:.0f}s", flush=True)
    return result


# --- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    get: Callable[[dict[str, Any]], float | None]
    floor_key: str = "floor"  # which run is the floor for this row
    digits: int = 1


def dig(*path: str) -> Callable[[dict[str, Any]], float | None]:
    def get(result: dict[str, Any]) -> float | None:
        value: Any = result
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value)

    return get


def rows() -> list[Row]:
    table = [Row("time to first answer (median of starts)", "s", dig("first_answer_s"), digits=2)]
    for name, label, _, _ in COMMANDS:
        for mode, mode_label in (("sequential", "sequential"), ("in_flight", f"{IN_FLIGHT} in flight")):
            for p in ("p50", "p90", "p99", "max"):
                table.append(Row(f"{label}, {mode_label}, {p}", "ms", dig(f"{name}_{mode}", p), digits=2))
    table += [
        Row(f"answered / s ({IN_FLIGHT} in flight)", "/s", dig("throughput", "per_second")),
        Row("  bot CPU meanwhile (% of a core)", "%", dig("throughput", "bot_cpu_percent"), digits=0),
        Row("  driver CPU meanwhile (% of a core)", "%", dig("throughput", "driver_cpu_percent"), digits=0),
        Row("RSS after start-up", "MB", dig("rss_start_mb")),
        Row("RSS after the load", "MB", dig("rss_load_mb")),
        Row("CPU idle (% of a core)", "%", dig("idle", "percent_of_core"), digits=3),
        Row("chat flood: RSS before", "MB", dig("flood", "rss_before_mb"), floor_key="floor_defaults"),
        Row("chat flood: RSS growth", "MB", dig("flood", "rss_growth_mb"), floor_key="floor_defaults"),
        Row("chat flood: CPU", "s", dig("flood", "cpu_seconds"), floor_key="floor_defaults", digits=2),
        Row(
            "chat flood: messages delivered",
            "",
            dig("flood", "delivered"),
            floor_key="floor_defaults",
            digits=0,
        ),
    ]
    return table


def ratio(ours: float | None, floor: float | None) -> float | None:
    if ours is None or floor is None or floor == 0:
        return None
    return ours / floor


def fmt(value: float | None, digits: int) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def table(servers: int, runs: dict[str, dict[str, Any]]) -> str:
    """One server count: every figure for ours (canon, 100k facts), the floor, and the ratios."""
    head = ("", "ours", "ours 100k", "floor", "ours/floor", "100k/floor")
    lines = [f"### {servers:,} server{'s' if servers != 1 else ''}", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("| --- " + "| ---: " * (len(head) - 1) + "|")
    for row in rows():
        ours = row.get(runs.get("ours", {}))
        big = row.get(runs.get("ours_100k", {}))
        floor = row.get(runs.get(row.floor_key, {}))
        if ours is None and big is None and floor is None:
            continue
        label = f"{row.label} ({row.unit})" if row.unit else row.label
        if row.floor_key != "floor":
            label += " †"
        cells = [label, fmt(ours, row.digits), fmt(big, row.digits), fmt(floor, row.digits)]
        cells += [fmt(ratio(ours, floor), 2), fmt(ratio(big, floor), 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(all_runs: dict[int, dict[str, dict[str, Any]]]) -> str:
    """The README's compact table: one row per number of servers and bot."""
    bots = (("floor", "floor"), ("ours", "ours"), ("ours_100k", "ours, 100,000 facts"))
    head = ("servers", "bot", "first answer s", "diana p50/p99 ms", "search p50/p99 ms",
            "autocomplete p50/p99 ms", "diana 50 in flight p50/p99 ms", "answers/s",
            "RSS start/after MB", "idle CPU %")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def pair(run: dict[str, Any], *path: str) -> str:
        p50, p99 = dig(*path, "p50")(run), dig(*path, "p99")(run)
        return f"{fmt(p50, 1)} / {fmt(p99, 1)}"

    for servers, runs in sorted(all_runs.items()):
        for key, label in bots:
            run = runs.get(key, {})
            cells = [f"{servers:,}", label, fmt(dig("first_answer_s")(run), 2)]
            cells += [pair(run, f"{name}_sequential") for name, _, _, _ in COMMANDS]
            cells += [pair(run, "diana_in_flight"), fmt(dig("throughput", "per_second")(run), 0)]
            cells += [f"{fmt(dig('rss_start_mb')(run), 0)} / {fmt(dig('rss_load_mb')(run), 0)}"]
            cells += [fmt(dig("idle", "percent_of_core")(run), 2)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(all_runs: dict[int, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The issue's targets, checked for ours with 100,000 facts against the floor."""
    checks: list[dict[str, Any]] = []

    def check(
        servers: int, what: str, ours: float | None, floor: float | None, limit: float, higher: bool
    ) -> None:
        r = ratio(ours, floor)
        ok = None if r is None else (r >= limit if higher else r <= limit)
        checks.append({"servers": servers, "target": what, "ours": ours, "floor": floor, "ratio": r,
                       "limit": limit, "met": ok})  # fmt: skip

    for servers, runs in sorted(all_runs.items()):
        ours, floor = runs.get("ours_100k", {}), runs.get("floor", {})
        if servers in (1, 10_000):
            for name, label, _, _ in COMMANDS:
                for mode in ("sequential", "in_flight"):
                    for p in ("p50", "p99"):
                        get = dig(f"{name}_{mode}", p)
                        check(servers, f"{label} {mode} {p} <= 1.25x", get(ours), get(floor), 1.25, False)
        get = dig("throughput", "per_second")
        check(servers, "answered/s >= 0.8x", get(ours), get(floor), 0.8, True)
        get = dig("first_answer_s")
        check(servers, "time to first answer <= 1.2x", get(ours), get(floor), 1.2, False)
        if servers == 10_000:
            for key in ("rss_start_mb", "rss_load_mb"):
                get = dig(key)
                check(servers, f"{key} <= 1.2x", get(ours), get(floor), 1.2, False)
        idle = dig("idle", "percent_of_core")(ours)
        checks.append({"servers": servers, "target": "idle CPU < 1% of a core", "ours": idle, "floor": None,
                       "ratio": None, "limit": 1.0, "met": None if idle is None else idle < 1.0})  # fmt: skip
        growth = dig("flood", "rss_growth_mb")(ours)
        checks.append({"servers": servers, "target": "chat flood: ours does not grow (< 1 MB)", "ours": growth,
                       "floor": None, "ratio": None, "limit": 1.0,
                       "met": None if growth is None else growth < 1.0})  # fmt: skip
    return checks


def chart(all_runs: dict[int, dict[str, dict[str, Any]]], path: Path) -> None:
    """Latency p50/p99 (50 in flight) of each command and memory, against the number of servers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(all_runs)
    bots = (("ours", "ours, canon", "tab:blue"), ("ours_100k", "ours, 100k facts", "tab:red"),
            ("floor", "floor", "tab:gray"))  # fmt: skip
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    panels = [(axes[0][0], "diana"), (axes[0][1], "search"), (axes[1][0], "autocomplete")]
    for ax, name in panels:
        label = next(lbl for n, lbl, _, _ in COMMANDS if n == name)
        for key, bot_label, colour in bots:
            for p, style in (("p50", "-"), ("p99", "--")):
                ys = [dig(f"{name}_in_flight", p)(all_runs[s].get(key, {})) for s in sizes]
                ax.plot(sizes, ys, style, marker="o", color=colour, label=f"{bot_label} {p}")
        ax.set_title(f"{label}: latency, {IN_FLIGHT} in flight")
        ax.set_ylabel("ms")
    ax = axes[1][1]
    for key, bot_label, colour in bots:
        for metric, style, what in (
            ("rss_start_mb", "-", "after start-up"),
            ("rss_load_mb", "--", "after load"),
        ):
            ys = [dig(metric)(all_runs[s].get(key, {})) for s in sizes]
            ax.plot(sizes, ys, style, marker="o", color=colour, label=f"{bot_label}, {what}")
    ax.set_title("resident memory")
    ax.set_ylabel("MB")
    for row in axes:
        for ax in row:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlabel("servers")
            ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("citadel-bot against a bare discord.py bot (floor), fake Discord on loopback")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "discord.py": discord.__version__,
        "platform": platform.platform(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


async def interleaved_starts(
    servers: int, counts: Counts, stores: dict[str, Path], answers: Path, workdir: Path, repeat: int
) -> dict[str, list[float]]:
    """Time to first answer of every bot under load, started in turn (floor, ours, ours 100k, floor,
    ...) so that a slow minute on a shared machine slows all of them alike rather than one bot's
    block of starts."""
    samples: dict[str, list[float]] = {spec.key: [] for spec in BOTS if spec.load}
    for n in range(counts.starts - 1):
        for spec in BOTS:
            if spec.load:
                run_dir = workdir / f"{spec.key}-{servers}-{repeat}-start-{n}"
                took = await time_to_first_answer(spec, servers, run_dir, stores, answers, workdir)
                samples[spec.key].append(took)
    return samples


def median_of(results: Sequence[Any]) -> Any:
    """Repeated runs' results as one: the median of every number, every sample list joined."""
    first = results[0]
    if isinstance(first, dict):
        # Every key of any run: the profile is taken in the last run only.
        keys = dict.fromkeys(key for r in results for key in r)
        return {key: median_of([r[key] for r in results if key in r]) for key in keys}
    if isinstance(first, list) and all(isinstance(x, int | float) for r in results for x in r):
        return [x for r in results for x in r]
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    return statistics.median(results)


async def main(sizes: list[int], counts: Counts, quick: bool, profile: bool, repeat: int = 1) -> None:
    started = time.perf_counter()
    all_runs: dict[int, dict[str, dict[str, Any]]] = {}  # the medians of the repeats
    repeats: dict[int, list[dict[str, dict[str, Any]]]] = {}
    print(f"code {code_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="citadel-bench-") as tmp:
        workdir = Path(tmp)
        stores, answers, fact_counts = await build_stores(workdir)
        await warm_up(stores, answers, workdir)
        for servers in sizes:
            repeats[servers] = []
            for n in range(repeat):
                runs: dict[str, dict[str, Any]] = {}
                starts = await interleaved_starts(servers, counts, stores, answers, workdir, n)
                for spec in BOTS:
                    runs[spec.key] = await measure(
                        spec,
                        servers,
                        counts,
                        stores,
                        answers,
                        workdir,
                        profile and n == repeat - 1,
                        n,
                        starts.get(spec.key, ()),
                    )
                repeats[servers].append(runs)
                if repeat > 1:
                    print(f"\n(run {n + 1} of {repeat})\n" + table(servers, runs), flush=True)
            all_runs[servers] = {
                key: median_of([r[key] for r in repeats[servers]]) for key in repeats[servers][0]
            }
            print()
            if repeat > 1:
                print(f"Medians of {repeat} runs:")
            print(table(servers, all_runs[servers]), flush=True)
            print()
    checks = targets(all_runs)
    print("Targets (ours with 100,000 facts against the floor):")
    for c in checks:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[c["met"]]
        shown = f"ratio {c['ratio']:.2f}" if c["ratio"] is not None else f"value {fmt(c['ours'], 3)}"
        print(f"  {c['servers']:>6,} servers  {c['target']:<52} {shown:<14} {verdict}")
    RESULTS.mkdir(exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "counts": counts.__dict__,
        "machine": machine(),
        "code": sorted({r.get("code", "unknown") for runs in all_runs.values() for r in runs.values()}),
        "facts": fact_counts,
        "wall_seconds": time.perf_counter() - started,
        "repeat": repeat,
        "runs": {str(s): runs for s, runs in all_runs.items()},  # medians when repeated
        "repeats": {str(s): every for s, every in repeats.items()} if repeat > 1 else {},
        "tables": {str(s): table(s, runs) for s, runs in all_runs.items()},
        "targets": checks,
    }
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2))
    (RESULTS / "summary.md").write_text(summary(all_runs) + "\n")
    print("\nThe README's table:\n" + summary(all_runs))
    chart(all_runs, RESULTS / "bench.png")
    for servers, runs in sorted(all_runs.items()):
        found = runs.get("ours_100k", {}).get("profile")
        if found and "self" in found:
            print(f"\nProfile of ours (100k facts) under load, {servers:,} servers ({found['file']}):")
            print("  most samples on top of the stack (self):")
            for name, share in found["self"][:15]:
                print(f"    {share:5.1f}%  {name}")
            print("  most samples anywhere in the stack (inclusive):")
            for name, share in found["inclusive"][:15]:
                print(f"    {share:5.1f}%  {name}")
    print(
        f"\nwrote {RESULTS / 'bench.json'}, {RESULTS / 'summary.md'} and {RESULTS / 'bench.png'} "
        f"({time.perf_counter() - started:.0f}s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 1_000, 10_000])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200 interactions, 5 s of throughput, 10 s idle, 10,000 chat messages, 3 starts",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="at the end of each run of ours with 100k facts, py-spy it under the throughput load",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every measurement this many times and report the medians (3 for published figures)",
    )
    args = parser.parse_args()
    counts = Counts.quick() if args.quick else Counts()
    asyncio.run(main(args.servers, counts, args.quick, args.profile, max(1, args.repeat)))
