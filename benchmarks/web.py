"""The public page (bot/web) over a store of 100,000 facts: how long each kind of page takes to make
("cold": the kept pages forgotten before every request) and to serve again ("warm": the same pages,
from the kept pages), inside the handler and as an HTTP client over loopback sees it, with page sizes
and the process's memory.

    .venv/bin/python -m benchmarks.web                              # 100,000 facts, 1,000 requests
    .venv/bin/python -m benchmarks.web --facts 20000 --requests 200

It builds a temporary SQLite store (never data/): the shipped canon, then generated entries of about
200 facts each over realistic fields (cast with keys, filming locations, notes, reception, production,
one premiere per entry known to the day, month, quarter or year and often moved to a finer one, a
status), every fact with its revision, written in one transaction of bulk inserts that match what
`put_fact` writes (`--through-api` writes them with `create_entry` and `put_fact` instead: slower, the
same rows). Then moderators' edits of 60 entries through `store.facts.edit`, each closed into an update
batch, so the feed has 50 items. The page is served in this process as `python -m bot web` serves it
(`Site.add_routes`, the clock standing at one minute), with an outermost middleware timing the handler
(sent back as Server-Timing), and asked one request at a time with aiohttp: index, random entry
pages, random history pages, searches for random words drawn from the facts, the Atom feed and the
calendar.

Prints a markdown table and writes benchmarks/results/web-<timestamp>.md and .json. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import psutil
from aiohttp import web

from benchmarks.bench import CITIES, FIRST_NAMES, LAST_NAMES, PRODUCERS, WORDS
from bot.canon import load_canon
from bot.clock import ManualClock
from bot.config import DEFAULT_CANON_DIR
from bot.facts import STATUSES, Entry, Fact, fact_key, format_person, parse_value, split_person
from bot.services import Catalogue
from bot.store import Store, Transaction, entry_id, put_fact
from bot.store.entries import create_entry
from bot.store.facts import stamped
from bot.store.revisions import FACT_CONTENT, fact_content
from bot.web.site import Site

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # the page's clock: it stands still, so warm stays warm
WHO, REASON = "benchmark", "generated"
FACTS_PER_ENTRY = 200
BATCHES = 60  # entries edited by moderators, each its own update batch (the feed shows the newest 50)
KINDS = ("index", "entry", "history", "search", "feed", "calendar", "floor")
# The floor, in the same run and the same server: a bare aiohttp handler answering a made page of an entry
# page's size from memory. What any page costs above it is the page's own work.
FLOOR_PAGE = b"<!doctype html><title>floor</title>" + b"<p>" + b"x" * 39_000 + b"</p>"

# Names, places and words shared with benchmarks/bench.py's generated entries.
STUDIOS = PRODUCERS
SITES = (
    "variety.com", "deadline.com", "hollywoodreporter.com", "press.amazonmgmstudios.com", "screenrant.com",
    "comingsoon.it", "bollywoodhungama.com", "elpais.com", "collider.com", "primevideo.com",
)  # fmt: skip
OUTLETS = ("Variety", "The Guardian", "IndieWire", "Rolling Stone", "Corriere della Sera", "El País")
PAST_STATUSES = ("released", "released", "renewed", "ended", "cancelled")
COMING_STATUSES = ("announced", "in production", "in production", "on hold")


# --- what the store holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One write of the plan, at `at` on the store's clock: a new entry, or a fact put (added, or
    edited when the entry already has one at its field and key)."""

    at: datetime
    slug: str
    entry: Entry | None = None
    fact: Fact | None = None


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize()


def premiere_steps(rng: random.Random) -> tuple[list[str], bool]:
    """A premiere as it became known, coarse to fine (the last is what the entry says now), and
    whether it is still ahead: 45% past days, 30% days ahead, then months, quarters and years ahead."""
    roll = rng.random()
    ahead = roll >= 0.45
    day = NOW.date() + timedelta(days=rng.randint(-3000, -3) if not ahead else rng.randint(2, 700))
    final = 4 if roll < 0.75 else 3 if roll < 0.90 else 2 if roll < 0.97 else 1
    coarser = [p for p in (1, 2, 3) if p < final]
    shown = [*sorted(rng.sample(coarser, rng.randint(0, len(coarser)))), final]
    forms = {
        1: str(day.year),
        2: f"Q{(day.month - 1) // 3 + 1} {day.year}",
        3: f"{day.year}-{day.month:02d}",
        4: day.isoformat(),
    }
    return [forms[p] for p in shown], ahead


def generated_entry(index: int, rng: random.Random) -> Entry:
    city, word = rng.choice(CITIES), rng.choice(WORDS).capitalize()
    return Entry(
        slug=f"bench-{index:04d}",
        title=f"Citadel: {city} {word} {index}",
        description=f"A generated series for the web benchmark, set in {city}.",
        aliases=(f"{city} {word} {index}",),
        position=1_000 + index,
    )


def generated_facts(entry: Entry, rng: random.Random, ahead: bool, premiere: str) -> list[Fact]:
    """About FACTS_PER_ENTRY facts of one entry, status and premiere first; sources from a pool of 20
    per entry (as real entries cite the same few articles), 6% reported and 2% rumours, spoilers among
    the plot and the notes."""
    sources = [(f"https://{rng.choice(SITES)}/{entry.slug}/{n}", f"{rng.randint(2024, 2026)}-"
                f"{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}") for n in range(16)]  # fmt: skip
    sources += [(f"{studio} press release", "2026-10-01") for studio in STUDIOS[:4]]
    people = rng.sample([f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES], 110)
    raw: list[tuple[str, str, str, bool]] = [  # field, value as typed, note, spoiler
        ("status", rng.choice(PAST_STATUSES if not ahead else COMING_STATUSES), "", False),
        ("premiere", premiere, "", False),
        ("schedule", rng.choice(("All episodes at once", "Two episodes, then one weekly")), "", False),
        ("network", "Prime Video", "", False),
        ("country", rng.choice(("Italy", "India", "Spain", "Mexico", "United States")), "", False),
        ("language", rng.choice(("Italian", "Hindi", "Spanish", "English")), "", False),
        ("episodes", str(rng.randint(4, 10)), "", False),
        ("setting", f"{rng.choice(CITIES)} and {rng.choice(CITIES)}, present day", "", False),
        ("filming", f"Filmed in {rng.randint(2022, 2026)} over {rng.randint(4, 30)} weeks", "", False),
        ("plot", f"In {rng.choice(CITIES)}, {sentence(rng, 30, 60).lower()}.", "", rng.random() < 0.5),
        ("first_look", f"{sentence(rng, 8, 16)}.", "", False),
        ("trailer", f"https://www.youtube.com/watch?v={rng.randbytes(8).hex()[:11]}", "", False),
    ]
    crew = iter(people[80:])
    for field_name, count in (("creator", 2), ("showrunner", 1), ("head_writer", 1), ("writer", 4),
                              ("director", 4), ("executive_producer", 8)):  # fmt: skip
        raw += [(field_name, next(crew), "", False) for _ in range(count)]
    raw += [("production", f"{rng.choice(STUDIOS)} unit {n + 1}", "", False) for n in range(6)]
    raw += [
        ("cast", format_person(name, f"Agent {rng.choice(WORDS).capitalize()}"), "", False)
        for name in people[:80]
    ]
    raw += [
        ("filming_location", city, rng.choice(("", "", "second unit", "studio and streets")), False)
        for city in rng.sample(CITIES, 20)
    ]
    raw += [("relation", f"Shares a world with Citadel season {n}", "", False) for n in (1, 2)]
    raw += [
        ("reception", f"{rng.choice(OUTLETS)}, review {n + 1}: {sentence(rng, 10, 24).lower()}.", "", False)
        for n in range(15)
    ]
    raw += [
        ("notes", f"Episode {n + 1}: {sentence(rng, 12, 30)}. Shot near {rng.choice(CITIES)}.",
         rng.choice(("", "", "", "as reported by the cast")), rng.random() < 0.1)
        for n in range(FACTS_PER_ENTRY - len(raw))
    ]  # fmt: skip
    facts, positions = [], dict[str, int]()
    for field_name, typed, note, spoiler in raw:
        value = parse_value(field_name, typed)
        source, source_date = rng.choice(sources)
        confidence = rng.choices(("confirmed", "reported", "rumour"), (92, 6, 2))[0]
        position = positions.get(field_name, 0)
        positions[field_name] = position + 1
        facts.append(
            Fact(field_name, value, source, source_date, key=fact_key(field_name, value), note=note,
                 position=position, confidence=confidence, spoiler=spoiler)
        )  # fmt: skip
    return facts


def plan(facts: int, rng: random.Random) -> list[Write]:
    """Every write that makes `facts` generated facts: the entries and their facts in turn, then the
    premieres' later refinements in the order they happened (each a revision of an edit)."""
    entries = -(-facts // FACTS_PER_ENTRY)
    first, span = NOW - timedelta(days=700), timedelta(days=660)
    writes, later, left = [], [], facts
    for index in range(1, entries + 1):
        created = first + span * (index - 1) / entries
        entry = generated_entry(index, rng)
        steps, ahead = premiere_steps(rng)
        writes.append(Write(created, entry.slug, entry=entry))
        made = generated_facts(entry, rng, ahead, steps[0])[:left]
        left -= len(made)
        writes += [Write(created + timedelta(seconds=n + 1), entry.slug, fact=f) for n, f in enumerate(made)]
        premiere = next(f for f in made if f.field == "premiere")
        moments = sorted(created + (NOW - created) * rng.random() for _ in steps[1:])
        for moment, value in zip(moments, steps[1:], strict=True):
            source = f"https://{rng.choice(SITES)}/{entry.slug}/date-{value.replace(' ', '-')}"
            confidence = "reported" if ahead and rng.random() < 0.25 else "confirmed"
            fact = replace(premiere, value=parse_value("premiere", value), source=source,
                           source_date=moment.date().isoformat(), confidence=confidence)  # fmt: skip
            later.append(Write(moment, entry.slug, fact=fact))
    return writes + sorted(later, key=lambda w: w.at)


_REVISION_SQL = (
    "INSERT INTO revisions (id, entry_id, field, key, action, old, new, who, at, reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SQL = (
    "INSERT INTO facts (entry_id, field, key, value, note, source, source_date, confidence, added_by, "
    "added_at, spoiler, position, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_SQL = (
    "UPDATE facts SET value = ?, note = ?, source = ?, source_date = ?, confidence = ?, added_by = ?, "
    "added_at = ?, spoiler = ?, position = ?, revision_id = ? WHERE entry_id = ? AND field = ? AND key = ?"
)


async def write_in_bulk(tx: Transaction, clock: ManualClock, writes: Sequence[Write]) -> None:
    """The plan in bulk inserts: entries through `create_entry` (their revision), facts and their
    revisions as rows exactly as `put_fact` writes them (the same columns, the same JSON, revision ids
    in the same order); facts_fts is kept by the store's own triggers."""
    revisions: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    stored: dict[tuple[int, str, str], dict[str, Any]] = {}
    ids: dict[str, int] = {}
    next_revision = 0

    async def flush() -> None:
        await tx.executemany(_REVISION_SQL, revisions)
        await tx.executemany(_INSERT_SQL, inserts)
        await tx.executemany(_UPDATE_SQL, updates)
        for rows in (revisions, inserts, updates):
            rows.clear()

    for write in writes:
        clock.set(write.at)
        if write.entry is not None:
            await flush()  # the entry's revision takes the next id
            next_revision = await create_entry(tx, write.entry, WHO) + 1
            ids[write.slug] = await entry_id(tx, write.slug)
            continue
        assert write.fact is not None
        fact = stamped(write.fact, WHO, tx.now())
        where = (ids[write.slug], fact.field, fact.key)
        new = fact_content(fact)
        old = stored.get(where)
        revisions.append((next_revision, where[0], fact.field, fact.key, "edit" if old else "add",
                          json.dumps(old, ensure_ascii=False) if old else None,
                          json.dumps(new, ensure_ascii=False), WHO, tx.now(), REASON))  # fmt: skip
        values = (*(new[k] for k in FACT_CONTENT), fact.position, next_revision)
        if old is None:
            inserts.append((*where, *values))
        else:
            updates.append((*values, *where))
        stored[where] = new
        next_revision += 1
    await flush()


async def write_through_api(store: Store, clock: ManualClock, writes: Sequence[Write]) -> None:
    """The plan through the store's own write helpers, 2,000 writes a transaction."""
    for start in range(0, len(writes), 2_000):
        async with store.transaction(announce=False) as tx:
            for write in writes[start : start + 2_000]:
                clock.set(write.at)
                if write.entry is not None:
                    await create_entry(tx, write.entry, WHO)
                else:
                    assert write.fact is not None
                    await put_fact(tx, write.slug, stamped(write.fact, WHO, tx.now()), WHO, REASON)


async def moderators_edit(store: Store, clock: ManualClock, slugs: Sequence[str], rng: random.Random) -> int:
    """Edits of BATCHES entries through `store.facts.edit` (news, as a moderator's are): a status, a
    cast member's role, and a premiere ahead moved; each entry's changes closed into an update batch."""
    for n, slug in enumerate(rng.sample(list(slugs), min(BATCHES, len(slugs)))):
        clock.set(NOW - timedelta(minutes=10 * (BATCHES - n)))
        facts = await store.facts.for_entry(slug)
        source = {"source": f"https://deadline.com/{slug}/update-{n}", "source_date": "2026-12-01"}
        status = next(f for f in facts if f.field == "status")
        value = rng.choice([s for s in STATUSES if s != status.value])
        await store.facts.edit(slug, "status", "", replace(status, value=value, **source), WHO)
        cast = rng.choice([f for f in facts if f.field == "cast"])
        role = format_person(split_person(cast.value)[0], f"Agent {rng.choice(WORDS).capitalize()} (recast)")
        await store.facts.edit(slug, "cast", cast.key, replace(cast, value=role, **source), WHO)
        premiere = next(f for f in facts if f.field == "premiere")
        if re.fullmatch(r"\d{4}-\d\d-\d\d", premiere.value) and premiere.value > NOW.date().isoformat():
            moved = (date.fromisoformat(premiere.value) + timedelta(days=rng.randint(7, 60))).isoformat()
            await store.facts.edit(slug, "premiere", "", replace(premiere, value=moved, **source), WHO)
        clock.advance(timedelta(minutes=5))
        await store.outbox.close_due_batches(clock(), timedelta(0), None)
    return await store.outbox.latest_batch()


_COUNTS = {
    "facts": "SELECT count(*) FROM facts",
    "entries": "SELECT count(*) FROM entries",
    "revisions": "SELECT count(*) FROM revisions",
    "facts_matching_their_revision": (
        "SELECT count(*) FROM facts f JOIN revisions r ON r.id = f.revision_id WHERE r.entry_id = f.entry_id "
        "AND r.field = f.field AND r.key = f.key AND json_extract(r.new, '$.value') = f.value "
        "AND json_extract(r.new, '$.source') = f.source"
    ),
    "update_batches": "SELECT count(*) FROM update_batches WHERE changes != '[]'",
    "bytes": "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
}


async def check_store(store: Store, rng: random.Random) -> tuple[dict[str, int], list[str]]:
    """What the store holds, and that it is whole (the full-text index agrees with the facts, every
    fact points at the revision that says what it says); and the words of 3,000 random facts, which
    the searches ask for (common words as often as the facts say them)."""
    async with store.transaction(announce=False) as tx:  # an 'integrity-check' is written as an INSERT
        await tx.execute("INSERT INTO facts_fts (facts_fts, rank) VALUES ('integrity-check', 1)")
        counts = {name: int((await tx.fetchall(sql))[0][0]) for name, sql in _COUNTS.items()}
        ids = [row[0] for row in await tx.fetchall("SELECT id FROM facts ORDER BY id")]
        chosen = rng.sample(ids, min(3_000, len(ids)))
        values = await tx.fetchall(f"SELECT value FROM facts WHERE id IN ({','.join(map(str, chosen))})")
    if counts["facts_matching_their_revision"] != counts["facts"]:
        raise RuntimeError(f"facts without their revision: {counts}")
    words = [w for (value,) in values for w in re.findall(r"\w{3,}", value) if not w.isdigit()]
    return counts, sorted(words)


def build(path: Path, facts: int, seed: int, through_api: bool) -> dict[str, Any]:
    """The store at `path`, made in a process of its own (so that the memory figures are the page's,
    not the build's)."""
    return asyncio.run(_build(path, facts, random.Random(seed), through_api))


async def _build(path: Path, facts: int, rng: random.Random, through_api: bool) -> dict[str, Any]:
    clock = ManualClock(NOW - timedelta(days=720))
    store = await Store.open(path, clock)
    try:
        await load_canon(store, DEFAULT_CANON_DIR)
        canon = await store.facts.count()
        writes = plan(max(0, facts - canon), rng)
        started = time.perf_counter()
        if through_api:
            await write_through_api(store, clock, writes)
        else:
            async with store.transaction(announce=False) as tx:
                await write_in_bulk(tx, clock, writes)
        took = time.perf_counter() - started
        started = time.perf_counter()
        slugs = [w.slug for w in writes if w.entry is not None]
        await moderators_edit(store, clock, slugs, rng)
        edits = time.perf_counter() - started
        started = time.perf_counter()
        counts, words = await check_store(store, rng)
        checked = time.perf_counter() - started
        await store.checkpoint()
    finally:
        await store.close()
    return {
        "method": "put_fact" if through_api else "bulk",
        "canon_facts": canon,
        "generated_entries": len(slugs),
        "writes": len(writes),
        "seconds": round(took, 2),
        "edits_seconds": round(edits, 2),
        "check_seconds": round(checked, 2),
        "file_mb": round(counts.pop("bytes") / 2**20, 1),
        **counts,
        "search_words": words,
    }


# --- serving and asking ----------------------------------------------------------------------------


@web.middleware
async def timed(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Outermost: the time in the handler (and every other middleware), in Server-Timing."""
    started = time.perf_counter()
    response = await handler(request)
    response.headers["Server-Timing"] = f"handler;dur={(time.perf_counter() - started) * 1000:.4f}"
    return response


@asynccontextmanager
async def serving(store: Store, clock: ManualClock) -> AsyncIterator[tuple[str, Catalogue]]:
    """The page alone over `store`, as tests/web_support.py `serving` and `python -m bot web` serve it,
    with the timing middleware outermost; yields its address and its catalogue."""
    catalogue = Catalogue(store, clock)
    await catalogue.open()
    app = web.Application(middlewares=[timed])

    async def floor(request: web.Request) -> web.Response:
        return web.Response(body=FLOOR_PAGE, content_type="text/html")

    app.router.add_get("/floor", floor)  # before the page's own routes, which end with a catch-all
    Site(catalogue, clock).add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", catalogue
    finally:
        await runner.cleanup()
        catalogue.close()


@dataclass
class Sample:
    server_ms: float
    client_ms: float
    size: int
    status: int


async def ask(http: aiohttp.ClientSession, url: str) -> Sample:
    started = time.perf_counter()
    async with http.get(url, allow_redirects=False) as response:
        body = await response.read()
    client = (time.perf_counter() - started) * 1000
    timing = re.search(r"dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
    return Sample(float(timing[1]) if timing else float("nan"), client, len(body), response.status)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank, as benchmarks/bench.py."""
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(samples: Sequence[Sample]) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": len(samples), "errors": sum(1 for s in samples if s.status != 200)}
    for name in ("server_ms", "client_ms"):
        ordered = sorted(getattr(s, name) for s in samples)
        out[name] = {
            "p50": percentile(ordered, 50), "p90": percentile(ordered, 90), "p99": percentile(ordered, 99),
            "max": ordered[-1], "mean": statistics.fmean(ordered),
        }  # fmt: skip
    sizes = sorted(s.size for s in samples)
    out["bytes"] = {"min": sizes[0], "median": int(statistics.median(sizes)), "max": sizes[-1]}
    return out


async def run(
    http: aiohttp.ClientSession,
    base: str,
    page: Callable[[random.Random], str],
    rng: random.Random,
    n: int,
    before: Callable[[], None] | None,
) -> list[Sample]:
    """`n` requests one at a time, each for a page `page` picks; `before` runs before each (cold:
    the catalogue forgets every kept page)."""
    samples = []
    for _ in range(n):
        url = page(rng)
        if before is not None:
            before()
        samples.append(await ask(http, base + url))
    return samples


def rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


async def measure(
    path: Path, requests: int, warm_pages: int, words: Sequence[str], rng: random.Random
) -> dict[str, Any]:
    memory = {"started": rss_mb()}
    clock = ManualClock(NOW)
    store = await Store.open(path, clock)
    try:
        slugs = [e.slug for e in await store.entries.all()]
        pages: dict[str, Callable[[random.Random], str]] = {
            "index": lambda r: "/",
            "entry": lambda r: f"/entries/{r.choice(slugs)}",
            "history": lambda r: f"/entries/{r.choice(slugs)}/history",
            "search": lambda r: f"/search?q={quote(r.choice(words))}",
            "feed": lambda r: "/feed.atom",
            "calendar": lambda r: "/calendar.ics",
            "floor": lambda r: "/floor",
        }
        memory["store_open"] = rss_mb()
        gc.collect()
        gc.freeze()  # as `python -m bot web` does once its imports are done
        results: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        async with serving(store, clock) as (base, catalogue):
            memory["serving"] = rss_mb()
            async with aiohttp.ClientSession() as http:
                await ask(http, base + "/")  # the connection open
                for kind in KINDS:  # cold: every request makes its page
                    samples = await run(http, base, pages[kind], rng, requests, catalogue.forget)
                    results[kind]["cold"] = summary(samples)
                    print(f"  {kind:<9} cold  {line(results[kind]['cold'])}", flush=True)
                memory["after_cold"] = rss_mb()
                catalogue.forget()
                for kind in KINDS:  # warm: the same few pages again, each made once beforehand
                    pool = sorted({pages[kind](rng) for _ in range(warm_pages)})
                    for url in pool:
                        await ask(http, base + url)
                    samples = await run(http, base, lambda r, p=pool: r.choice(p), rng, requests, None)
                    results[kind]["warm"] = summary(samples) | {"distinct_pages": len(pool)}
                    print(f"  {kind:<9} warm  {line(results[kind]['warm'])}", flush=True)
                memory["after_warm"] = rss_mb()
    finally:
        await store.close()
    memory["peak_whole_run"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {"pages": results, "rss_mb": memory}


# --- the report ------------------------------------------------------------------------------------


def line(s: dict[str, Any]) -> str:
    server, client = s["server_ms"], s["client_ms"]
    return (
        f"server p50 {server['p50']:.2f} p99 {server['p99']:.2f} max {server['max']:.2f} ms; "
        f"client p50 {client['p50']:.2f} p99 {client['p99']:.2f} ms; {s['bytes']['median']:,} bytes"
        + (f"; {s['errors']} ERRORS" if s["errors"] else "")
    )


def table(report: dict[str, Any]) -> str:
    build, memory = report["build"], report["rss_mb"]
    head = (
        "| page | way | server p50 ms | server p99 ms | server max ms | client p50 ms | client p99 ms | "
        "client max ms | bytes min | bytes median | bytes max | errors |"
    )
    rows = [head, "|" + "---|" * 2 + "---:|" * 10]
    for kind in KINDS:
        for way in ("cold", "warm"):
            s = report["pages"][kind][way]
            server, client, size = s["server_ms"], s["client_ms"], s["bytes"]
            rows.append(
                f"| {kind} | {way} | {server['p50']:.2f} | {server['p99']:.2f} | {server['max']:.2f} | "
                f"{client['p50']:.2f} | {client['p99']:.2f} | {client['max']:.2f} | {size['min']:,} | "
                f"{size['median']:,} | {size['max']:,} | {s['errors']} |"
            )
    return "\n".join([
        f"{report['when']}, commit {report['code']}, {report['machine']['cpus']} cores, "
        f"Python {report['machine']['python']}: {build['facts']:,} facts over {build['entries']:,} entries "
        f"({build['revisions']:,} revisions, {build['update_batches']} update batches), "
        f"{report['requests']:,} requests per page and way, one at a time.",
        "",
        f"Store built in {build['seconds']:.1f} s ({build['method']}, {build['writes']:,} writes; "
        f"moderators' edits and batches {build['edits_seconds']:.1f} s, checks {build['check_seconds']:.1f} s; "
        f"{build['file_mb']} MB, in a process of its own). RSS of the page's process: {memory['started']} MB "
        f"after the imports, {memory['serving']} MB serving, {memory['after_cold']} MB after the cold "
        f"requests, {memory['after_warm']} MB after the warm ones (peak {memory['peak_whole_run']} MB). "
        f"Whole run {report['wall_seconds']:.0f} s.",
        "",
        *rows,
    ])  # fmt: skip


def code_version() -> str:
    """The commit, with "+dirty" if bot/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    code = code_version()  # what this process imported; HEAD may move while it runs
    rng = random.Random(args.seed + 1)
    with tempfile.TemporaryDirectory(prefix="citadel-web-bench-") as tmp:
        path = Path(tmp) / "web-bench.sqlite3"
        print(f"building a store of {args.facts:,} facts in {path} ...", flush=True)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            build_info = await asyncio.get_running_loop().run_in_executor(
                child, build, path, args.facts, args.seed, args.through_api
            )
        words = build_info.pop("search_words")
        print(f"  {json.dumps(build_info)}", flush=True)
        measured = await measure(path, args.requests, args.warm_pages, words, rng)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code if code_version() == code else f"{code} (HEAD moved to {code_version()} meanwhile)",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "facts_asked": args.facts,
        "requests": args.requests,
        "warm_pages": args.warm_pages,
        "seed": args.seed,
        "page_clock": NOW.isoformat(),
        "build": build_info,
        **measured,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    report["table"] = table(report)
    print("\n" + report["table"])
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"web-{stamp}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (RESULTS / f"web-{stamp}.md").write_text(report["table"] + "\n")
    print(f"\nwrote {RESULTS / f'web-{stamp}.md'} and .json ({report['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--facts", type=int, default=100_000, help="facts in the store, the canon's included")
    parser.add_argument("--requests", type=int, default=1_000, help="requests per page kind and way")
    parser.add_argument(
        "--warm-pages", type=int, default=50, help="distinct entries, histories and searches asked warm"
    )
    parser.add_argument("--seed", type=int, default=2030)
    parser.add_argument(
        "--through-api",
        action="store_true",
        help="write the facts with create_entry and put_fact (about 0.7 ms a fact) instead of bulk inserts",
    )
    asyncio.run(main(parser.parse_args()))
