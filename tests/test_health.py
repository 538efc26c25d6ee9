"""GET /healthz and GET /metrics: the real bot against the fake Discord, read with a real HTTP client.

Counts are exact and derived from what the fake saw (interactions it sent and what the users were
answered, messages it was asked to post); waits are on events (the shards' connects and disconnects,
the metrics' own count of answers, the scheduler's `settled()`), never on sleeps."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from bot.__main__ import open_store
from bot.client import CitadelBot, point_at
from bot.clock import ManualClock
from bot.config import Settings
from bot.gateway import ShardSessions
from bot.metrics import ANSWER_BUCKETS, ERROR, OK, REFUSED, Metrics
from tests.fake_discord import FakeDiscord
from tests.fake_discord.payloads import FLAG_EPHEMERAL
from tests.fake_sources import FakeTVmaze, FakeWikidata
from tests.harness import HOME, OTHER, TOKEN, bot_process, finished, free_port, running_bot
from tests.store_probe import write
from tests.test_announce import A_DAY_EARLY, PREMIERE, START, set_premiere, subscribe
from tests.test_watcher import name_ids, serve_what_the_canon_says

APPLICATION_COMMAND = 2


def listening_ports() -> set[int]:
    """The TCP ports this process listens on: its socket descriptors, found in the kernel's tables."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in (Path("/proc/self/net/tcp"), Path("/proc/self/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def serving(settings: Settings) -> Settings:
    return replace(settings, http_port=free_port())


async def healthz(http: aiohttp.ClientSession, settings: Settings) -> tuple[int, dict[str, Any]]:
    async with http.get(f"http://127.0.0.1:{settings.http_port}/healthz") as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def healthz_until(
    http: aiohttp.ClientSession, settings: Settings, status: int, sessions: ShardSessions
) -> dict[str, Any]:
    """GET /healthz until it answers `status`; between tries, wait for a shard to connect or disconnect."""
    seen = []
    for _ in range(5):
        sessions.turned.clear()  # before asking: a change after the answer is not missed
        got, body = await healthz(http, settings)
        if got == status:
            return body
        seen.append((got, body))
        await asyncio.wait_for(sessions.turned.wait(), 10)
    raise AssertionError(f"/healthz never answered {status}: {seen}")


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of a scrape, parsed by prometheus_client: name -> sorted labels -> value."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def scrape(http: aiohttp.ClientSession, settings: Settings) -> dict[str, dict[Any, float]]:
    async with http.get(f"http://127.0.0.1:{settings.http_port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return samples(await response.text())


def by(found: dict[Any, float], *names: str) -> dict[tuple[str, ...], float]:
    """Samples keyed by the values of the labels `names`."""
    return {tuple(dict(labels)[n] for n in names): value for labels, value in found.items()}


# --- no port without HTTP_PORT -------------------------------------------------------------------


async def test_without_http_port_no_port_is_opened(settings: Settings, fake: FakeDiscord) -> None:
    assert settings.http_port is None
    before = listening_ports()
    assert fake.port in before
    async with running_bot(settings, fake) as bot:
        await bot.announcer.settled()
        assert bot.health is None
        assert listening_ports() == before
    async with running_bot(serving(settings), fake) as bot:  # and with it, exactly that one port
        assert bot.health is not None
        assert listening_ports() == before | {bot.settings.http_port}
    assert listening_ports() == before  # closed with the bot


# --- /healthz -------------------------------------------------------------------------------------


@asynccontextmanager
async def logged_in(settings: Settings, fake: FakeDiscord) -> AsyncIterator[CitadelBot]:
    """The bot after setup_hook (its HTTP server listening) and before it connects to the gateway."""
    point_at(settings)
    store = await open_store(settings)
    bot = CitadelBot(settings, store, guild_ready_timeout=0.1)
    try:
        await bot.login(TOKEN)
        yield bot
    finally:
        await bot.close()
        await store.close()


async def test_healthz_follows_the_gateway_and_the_scheduler(settings: Settings, fake: FakeDiscord) -> None:
    settings = serving(settings)
    async with logged_in(settings, fake) as bot, aiohttp.ClientSession() as http:
        assert bot.health is not None
        sessions = bot.gateway
        # Listening, not connected yet: no shard launched (Discord has not said how many), no scheduler.
        status, body = await healthz(http, settings)
        assert (status, body["status"]) == (503, "starting")
        assert body["problems"] == ["not connected to Discord yet", "scheduler not started yet"]
        assert body["shards"] == {}

        connecting = asyncio.create_task(bot.connect())
        try:
            await fake.wait_for_ready(timeout=10)
            await asyncio.wait_for(bot.sync_finished.wait(), 10)
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            await bot.announcer.settled()  # its first step done: it runs, on time
            status, body = await healthz(http, settings)
            assert status == 200
            assert body["status"] == "ok" and body["problems"] == []
            assert set(body["shards"]) == {"0"} and body["shards"]["0"]["connected"] is True
            assert body["scheduler"] == {"running": True, "lag_seconds": 0.0, "window_seconds": 60.0}

            # The fake drops the gateway and, holding the session's lock (it answers RESUME under it),
            # keeps the bot's new connection from being resumed: the shard is not connected meanwhile.
            session = fake.shard_sessions[0]
            async with session.lock:
                await fake.drop_connections()
                body = await healthz_until(http, settings, 503, sessions)
                assert body["status"] == "unhealthy"
                assert body["problems"] == ["shard 0: not connected"]
                assert body["shards"]["0"]["connected"] is False
                assert body["scheduler"]["running"] is True
            await fake.wait_for_resume(timeout=10)
            body = await healthz_until(http, settings, 200, sessions)
            assert body["status"] == "ok" and body["problems"] == []
            assert len(fake.resumes) == 1 and len(fake.identifies) == 1  # resumed, not identified again

            # A stopped scheduler is unhealthy too.
            await bot.announcer.stop()
            status, body = await healthz(http, settings)
            assert (status, body["problems"]) == (503, ["scheduler stopped"])
            assert body["scheduler"]["running"] is False and body["scheduler"]["lag_seconds"] is None
        finally:
            await bot.close()
            await connecting


# --- /metrics -------------------------------------------------------------------------------------


def rename(database: Path | str, table: str, to: str) -> None:
    write(database, f"ALTER TABLE {table} RENAME TO {to}")


def command_of(payload: dict[str, Any]) -> str:
    """`citadel diana`: the command and subcommands an interaction names."""
    data = payload["data"]
    words, options = [data["name"]], data.get("options", [])
    while options and options[0]["type"] in (1, 2):  # a subcommand or a group
        words.append(options[0]["name"])
        options = options[0].get("options", [])
    return " ".join(words)


def outcome_seen(callback: dict[str, Any]) -> str:
    """What the user was answered: an answer, one line refusing, or the line that says it failed."""
    data = callback["data"]
    if not data.get("flags", 0) & FLAG_EPHEMERAL or data.get("embeds"):
        return "ok"
    return "error" if data["content"].startswith("Something went wrong") else "refused"


async def test_metrics_count_every_interaction_the_fake_sent(settings: Settings, fake: FakeDiscord) -> None:
    settings = serving(settings)
    async with running_bot(settings, fake) as bot, aiohttp.ClientSession() as http:
        # The database breaks under the bot for one question. (In a thread: the bot's scheduler may be in
        # a transaction just then, which it can finish only while the event loop runs.)
        await asyncio.to_thread(rename, settings.database, "facts", "facts_away")
        broken = await fake.invoke_command("citadel", subcommand="diana")
        await broken.wait_response()
        await asyncio.to_thread(rename, settings.database, "facts_away", "facts")
        records = [broken]
        for _ in range(5):
            records.append(await fake.invoke_command("citadel", subcommand="diana"))
        records.append(
            await fake.invoke_command("citadel", subcommand="show", options={"entry": "no such show"})
        )
        # Not a server admin: the announce commands refuse.
        records.append(await fake.invoke_command("announce", subcommand="status", guild_id=OTHER.id))
        completions = await fake.autocomplete("citadel", subcommand="show", option="entry", value="ital")
        assert completions  # "Italy" finds Diana
        for record in records:
            await record.wait_response()
        await bot.metrics.wait_for_answers(9)
        await bot.announcer.settled()  # it starts once the bot is ready, which commands need not wait for

        found = await scrape(http, settings)
        commands = [r for r in fake.interactions.values() if r.type == APPLICATION_COMMAND]
        assert len(commands) == 8 and len(fake.interactions) == 9
        expected = Counter((command_of(r.payload), outcome_seen(r.callback or {})) for r in commands)
        assert expected == {
            ("citadel diana", "ok"): 5,
            ("citadel diana", "error"): 1,
            ("citadel show", "refused"): 1,
            ("announce status", "refused"): 1,
        }
        assert by(found["citadel_interactions_total"], "command", "outcome") == dict(expected)
        latency_counts = by(found["citadel_answer_duration_seconds_count"], "command")
        assert latency_counts == {("citadel diana",): 6, ("citadel show",): 1, ("announce status",): 1}
        buckets = by(found["citadel_answer_duration_seconds_bucket"], "command", "le")
        assert buckets[("citadel diana", "+Inf")] == 6
        assert all(v > 0 for v in found["citadel_answer_duration_seconds_sum"].values())
        assert by(found["citadel_autocomplete_total"], "command", "outcome") == {("citadel show", "ok"): 1}

        # What is read at scrape time, and what prometheus_client gives for free.
        assert found["citadel_posts_pending"] == {(): 0.0} and found["citadel_posts_claimed"] == {(): 0.0}
        assert by(found["citadel_posts_total"], "outcome") == {
            ("sent",): 0.0, ("failed",): 0.0, ("skipped",): 0.0, ("retried",): 0.0,
        }  # fmt: skip
        assert found["citadel_scheduler_running"] == {(): 1.0}
        assert found["citadel_scheduler_lag_seconds"] == {(): 0.0}
        assert by(found["citadel_shard_connected"], "shard") == {("0",): 1.0}
        assert set(by(found["citadel_shard_latency_seconds"], "shard")) == {("0",)}
        assert found["process_resident_memory_bytes"][()] > 0
        assert "python_info" in found and "python_gc_collections_total" in found
        assert not [name for name in found if name.endswith("_created")]


async def test_metrics_count_the_posts_of_a_fan_out(settings: Settings, fake: FakeDiscord) -> None:
    """Two servers subscribed; the other one's channel refuses the bot: each post sent is a message the
    fake stored, each failure a request it refused."""
    settings = serving(settings)
    clock = ManualClock(START)
    async with running_bot(settings, fake, clock) as bot, aiohttp.ClientSession() as http:
        for guild in (HOME, OTHER):
            await subscribe(fake, guild.id, guild.channel_id)
            await bot.announcements.change(
                guild.id, countdown_since=A_DAY_EARLY.isoformat(timespec="seconds")
            )
        fake.fail_channel(OTHER.channel_id)  # missing permissions, from now on
        await set_premiere(bot, PREMIERE)  # the 30-day countdown now, the change update once settled
        clock.set(START + timedelta(seconds=settings.update_settle_seconds + 30))
        await fake.wait_for_message(HOME.channel_id, count=2, timeout=10)
        await bot.announcer.settled()

        found = await scrape(http, settings)
        posted = [
            r for r in fake.requests
            if r.method == "POST" and r.path.endswith("/messages") and r.path.startswith("/channels/")
        ]  # fmt: skip
        refused = [r for r in posted if r.status == 403]
        assert len(fake.messages[HOME.channel_id]) == 2 and fake.messages.get(OTHER.channel_id, []) == []
        assert len(posted) == 4 and len(refused) == 2
        assert by(found["citadel_posts_total"], "outcome") == {
            ("sent",): 2.0, ("failed",): 2.0, ("skipped",): 0.0, ("retried",): 0.0,
        }  # fmt: skip
        assert found["citadel_posts_pending"] == {(): 0.0} and found["citadel_posts_claimed"] == {(): 0.0}


async def test_metrics_count_watcher_rounds_by_source_and_outcome(
    settings: Settings, fake: FakeDiscord
) -> None:
    name_ids(settings.canon_dir)
    async with FakeTVmaze() as tvmaze, FakeWikidata() as wikidata:
        serve_what_the_canon_says(tvmaze, wikidata)
        wikidata.mode = "malformed"
        watched = replace(
            serving(settings), watch_interval_hours=6, tvmaze_api=tvmaze.url, wikidata_api=wikidata.url
        )
        async with running_bot(watched, fake, ManualClock(START)) as bot, aiohttp.ClientSession() as http:
            assert bot.watcher is not None
            await bot.watcher.wait_for_rounds(2)  # each source's first round, due at start
            found = await scrape(http, watched)
    assert by(found["citadel_watcher_rounds_total"], "source", "outcome") == {
        ("TVmaze", "ok"): 1.0,
        ("Wikidata", "failed"): 1.0,
    }


# --- a port already in use ------------------------------------------------------------------------


async def test_a_port_in_use_stops_python_m_bot_with_one_line(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = bot_process(settings, TOKEN, tmp_path, HTTP_PORT=str(port))
        _, err = await finished(process, tmp_path)
    assert process.returncode == 2, err
    lines = err.strip().splitlines()
    assert lines[-1] == (
        f"citadel-bot: HTTP_PORT {port} is already in use on 127.0.0.1: stop what listens on "
        f"127.0.0.1:{port}, or set HTTP_PORT to a free port (or leave it empty to serve no /healthz and /metrics)."
    )
    assert [line for line in lines if "HTTP_PORT" in line] == [lines[-1]]
    assert "Traceback" not in err
    assert fake.messages == {}  # it stopped before doing anything


def test_answers_are_exposed_as_prometheus_client_would_expose_them() -> None:
    """The answers' counter and histogram, kept as plain numbers, render exactly what prometheus_client's
    own Counter and Histogram render for the same answers: every series, every bucket (a time on a
    bound counts in that bucket), the sums and the counts."""
    metrics = Metrics()
    registry = prometheus_client.CollectorRegistry()
    labels = ("command", "outcome")
    counter = prometheus_client.Counter("citadel_interactions", "-", labels, registry=registry)
    histogram = prometheus_client.Histogram(
        "citadel_answer_duration_seconds", "-", ("command",), buckets=ANSWER_BUCKETS, registry=registry
    )
    autocompletes = prometheus_client.Counter("citadel_autocomplete", "-", labels, registry=registry)
    answers = [
        ("citadel diana", OK, 0.0004),
        ("citadel diana", OK, 0.0005),  # on the first bound: in its bucket
        ("citadel diana", ERROR, 0.0007),
        ("citadel diana", OK, 0.001),
        ("citadel search", REFUSED, 2.9),
        ("citadel search", OK, 12.0),  # past the last bound: +Inf only
    ]
    for command, outcome, seconds in answers:
        metrics.answered(command, outcome, seconds)
        counter.labels(command, outcome).inc()
        histogram.labels(command).observe(seconds)
    metrics.autocompleted("citadel show", False, 0.002)
    autocompletes.labels("citadel show", ERROR).inc()

    def samples(text: bytes, names: tuple[str, ...]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text.decode())
            if family.name in names
            for s in family.samples
        }

    names = ("citadel_interactions", "citadel_answer_duration_seconds", "citadel_autocomplete")
    ours = samples(metrics.exposition(), names)
    assert ours == samples(prometheus_client.generate_latest(registry), names)
    diana = {"command": "citadel diana"}
    assert ours[("citadel_answer_duration_seconds_bucket", frozenset({**diana, "le": "0.0005"}.items()))] == 2
    assert ours[("citadel_answer_duration_seconds_bucket", frozenset({**diana, "le": "0.001"}.items()))] == 4
    assert ours[("citadel_interactions_total", frozenset({**diana, "outcome": "ok"}.items()))] == 3
    # Four (command, outcome) counts; two histograms of the bounds, +Inf, a sum and a count; one autocomplete.
    assert len(ours) == 4 + 2 * (len(ANSWER_BUCKETS) + 3) + 1
