"""Across real network boundaries on one machine (issue 15 §2): network namespaces joined by veth pairs to
one bridge stand for four hosts, a database host running PostgreSQL, two bot hosts and the fake Discord.
The first bot host runs shard 0, the second shard 1 and stands by for shard 0; in the middle of a
1,000-server fan-out the first host dies (its process killed, its namespace gone): shard 0 moves to the
second host, which RESUMEs its session and finishes the fan-out with no post lost or sent twice, and every
slash command sent to a live shard is answered.

Needs root, `ip` and PostgreSQL's programs; it runs in the suite's PostgreSQL run (`.ci/run`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.__main__ import open_store
from bot.config import Settings
from bot.facts import Fact
from bot.gateway import LEASE, RENEW_EVERY
from bot.store.servers import GuildSettings
from tests.engines import POSTGRES
from tests.fake_discord import GuildSpec, guild_id_for_index
from tests.fake_discord.payloads import shard_for_guild
from tests.fake_discord.waiting import Changes
from tests.harness import ROOT, TOKEN, bot_process, make_settings
from tests.postgres import _as_postgres, bindir

SERVERS = 1_000
SHARDS = 2
SOURCE = "https://example.org/season-2-date"

WHY_NOT = (
    "needs root and `ip`" if os.geteuid() != 0 or shutil.which("ip") is None
    else "needs PostgreSQL's programs (apt-get install postgresql)" if bindir() is None
    else "runs in the PostgreSQL run (`python -m tests.postgres python -m pytest tests/test_hosts.py`)" if not POSTGRES
    else None
)  # fmt: skip
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"the namespace test {WHY_NOT}")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def hosts(names: list[str]) -> Iterator[dict[str, str]]:
    """One namespace per name, each with an address on one bridge (the root namespace is .1 on it); all
    removed afterwards, whatever happened. The names' addresses, by name."""
    tag, net = secrets.token_hex(2), f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250)}"
    bridge, made = f"cb{tag}", []
    addresses = {name: f"{net}.{index + 2}" for index, name in enumerate(names)}
    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{net}.1/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for index, name in enumerate(names):
            namespace, outside, inside = f"c{name}{tag}", f"cv{tag}{index}", f"cp{tag}{index}"
            ip("netns", "add", namespace)
            made.append(namespace)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", namespace)
            ip("link", "set", outside, "master", bridge)
            ip("link", "set", outside, "up")
            ip("netns", "exec", namespace, "ip", "addr", "add", f"{addresses[name]}/24", "dev", inside)
            ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
            ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        yield {name: addresses[name] for name in names} | {f"ns:{name}": f"c{name}{tag}" for name in names}
    finally:
        for namespace in made:
            subprocess.run(["ip", "netns", "pids", namespace], capture_output=True)
            for pid in subprocess.run(
                ["ip", "netns", "pids", namespace], capture_output=True, text=True
            ).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


@contextlib.contextmanager
def database_host(namespace: str, address: str) -> Iterator[str]:
    """PostgreSQL serving `address`:5432 inside `namespace`; the URL of its `citadel` database."""
    folder = Path(tempfile.mkdtemp(prefix="citadel-dbhost-"))
    shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    try:
        subprocess.run(
            _as_postgres(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust"]),
            check=True,
            capture_output=True,
        )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {address.rsplit('.', 1)[0]}.0/24 trust\n")
        options = f"-c listen_addresses={address} -p 5432 -k {folder} -c fsync=off -c max_connections=200"
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                *_as_postgres(
                    ["pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
                ),
            ],
            check=True,
            capture_output=True,
        )
        with ThreadPoolExecutor(1) as thread:  # from the root namespace, across the bridge
            thread.submit(asyncio.run, _create_database(f"postgresql://postgres@{address}:5432/postgres")).result()
        yield f"postgresql://postgres@{address}:5432/citadel"
    finally:
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                *_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]),
            ],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


async def _create_database(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE DATABASE citadel")
    finally:
        await connection.close()


@contextlib.contextmanager
def discord_host(namespace: str, address: str, workdir: Path) -> Iterator[dict[str, Any]]:
    """The fake Discord as a process of its own in `namespace`, with its global rate limit (50 requests a
    second): what it prints at start (its URLs)."""
    log = (workdir / "fake.log").open("w")
    process = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.fake_discord", "--host", address,
         "--port", "8000", "--guilds", str(SERVERS), "--shards", str(SHARDS), "--token", TOKEN, "--rate-limits"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def until(check: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """The first truthy value of `check()`, asked again every 0.2 s (the hosts are other processes: there
    is no event to wait on but what they answer); TimeoutError naming `what`."""
    deadline = time.monotonic() + within
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)
    return value


def guild_on(shard: int) -> int:
    return next(g for g in map(guild_id_for_index, range(SERVERS)) if shard_for_guild(g, SHARDS) == shard)


async def test_a_dead_bot_host_hands_its_shard_to_the_other_mid_fan_out(
    tmp_path: Path, canon_dir: Path
) -> None:
    with contextlib.ExitStack() as stack:
        net = stack.enter_context(hosts(["db", "bot1", "bot2", "discord"]))
        url = stack.enter_context(database_host(net["ns:db"], net["db"]))
        fake = stack.enter_context(discord_host(net["ns:discord"], net["discord"], tmp_path))
        async with aiohttp.ClientSession(base_url=fake["control_base"] + "/") as control:
            await run_the_failover(tmp_path, canon_dir, net, url, fake, control)


async def run_the_failover(
    tmp_path: Path,
    canon_dir: Path,
    net: dict[str, str],
    url: str,
    fake: dict[str, Any],
    control: aiohttp.ClientSession,
) -> None:
    settings = replace(
        make_settings(tmp_path, canon_dir, _Endpoints(fake)),
        database_url=url,
        home_guild_ids=(),
        shard_count=SHARDS,
    )
    await subscribe_every_server(settings)
    changes = Changes()

    def start(host: str, shard_ids: str) -> subprocess.Popen[str]:
        (tmp_path / host).mkdir()
        return bot_process(
            settings, TOKEN, tmp_path / host, on=["ip", "netns", "exec", net[f"ns:{host}"]], log_changes=changes,
            SHARD_COUNT=str(SHARDS), SHARD_IDS=shard_ids, UPDATE_SETTLE_SECONDS="86400", WATCH_INTERVAL_HOURS="0",
        )  # fmt: skip

    def log(host: str) -> str:
        path = tmp_path / host / "stderr.txt"
        return path.read_text() if path.exists() else ""

    async def answered(shard: int, within: float = 5.0) -> bool:
        body = {
            "name": "citadel",
            "subcommand": "diana",
            "guild_id": str(guild_on(shard)),
            "timeout": within,
        }
        async with control.post("invoke", json=body) as response:
            found = await response.json()
        return response.status == 200 and "Citadel: Diana" in json.dumps(found)

    async def posts() -> list[int]:
        async with control.get("messages") as response:
            channels = await response.json()
        return [sum(1 for m in messages if m.get("nonce")) for messages in channels.values()]

    first = start("bot1", "0")
    await changes.wait_for(lambda: "connected as" in log("bot1"), 60, "the first bot host")
    second = start("bot2", "auto")
    await changes.wait_for(lambda: "connected as" in log("bot2"), 60, "the second bot host")
    try:
        assert await answered(0) and await answered(1)
        await until(lambda: _at_least(posts, 300), 120, "300 posts")
        # The first host dies: its process and then its network.
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()
        ip("netns", "del", net["ns:bot1"])
        live_asked = live_answered = 0
        while "shard 0: its lease came free" not in log("bot2"):
            live_asked += 1
            live_answered += await answered(1)  # shard 1's host lives on, and answers meanwhile
            assert time.monotonic() - killed < LEASE.total_seconds() + 2 * RENEW_EVERY + 10, "no takeover"
            with contextlib.suppress(TimeoutError):  # the takeover's log line, or a second, then ask again
                await changes.wait_for(
                    lambda: "shard 0: its lease came free" in log("bot2"), 1.0, "the takeover"
                )
        moved = time.monotonic() - killed
        await until(lambda: answered(0, 3.0), 30, "an answer on the moved shard")
        first_answer = time.monotonic() - killed
        counts = await until(lambda: _complete(posts), 180, "every server's post")
        assert counts == [1] * SERVERS  # none lost, none twice
        assert live_answered == live_asked > 0
        assert await answered(0) and await answered(1)
        async with control.get("state") as response:
            state = await response.json()
        assert len(state["identifies"]) == 2  # shard 0's session was RESUMEd on the second host
        assert state["errors"] == [] and state["invalid_requests"] == []
        print(f"\nfailover: kill -> shard 0 moved {moved:.1f} s -> first answer on it {first_answer:.1f} s; "
              f"{live_answered}/{live_asked} commands to shard 1 answered meanwhile")  # fmt: skip
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 30) == 0


async def _at_least(posts: Callable[[], Awaitable[list[int]]], count: int) -> bool:
    return sum(await posts()) >= count


async def _complete(posts: Callable[[], Awaitable[list[int]]]) -> list[int] | None:
    counts = await posts()
    return counts if len(counts) == SERVERS and all(counts) else None


class _Endpoints:
    """What make_settings reads of a fake: here one in another namespace."""

    def __init__(self, fake: dict[str, Any]) -> None:
        self.api_base = fake["api_base"]
        self.gateway_url = fake["gateway_url"]


async def subscribe_every_server(settings: Settings) -> None:
    """Every server subscribed, and season 2's premiere a week away: the 7-day milestone is due at once."""
    store = await open_store(settings)
    try:
        for index in range(SERVERS):
            spec = GuildSpec.numbered(index)
            await store.servers.save(GuildSettings(spec.id, channel_id=spec.channel_id))
        in_a_week = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
        await store.facts.edit(
            "season-2", "premiere", "", Fact("premiere", in_a_week, SOURCE, "2026-11-20"), "m (1)"
        )
    finally:
        await store.close()
