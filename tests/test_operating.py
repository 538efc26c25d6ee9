"""The bot as an operator runs it, through the real `python -m bot` process: stores it refuses (one
line, exit code 2, the file untouched, nothing left running), two processes on the same shards that
never send the same post, a process killed while holding claims, and a graceful stop in the middle of
a fan-out that the next start completes with nothing lost and nothing doubled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import open_store
from bot.announcer import CLAIM_BATCH, CONCURRENCY
from bot.config import Settings
from bot.facts import Fact
from bot.store.database import latest_schema
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.waiting import Changes
from tests.harness import ROOT, TOKEN, bot_process, free_port, make_settings
from tests.store_probe import select

SOURCE = "https://example.org/premiere"


# --- stores the bot refuses ---------------------------------------------------------------------


def run_bot_once(database: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bot` with this DATABASE_PATH; Discord is never reached (nothing listens there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "HTTP_"))}
    env.update(
        DISCORD_TOKEN=TOKEN,
        DATABASE_PATH=str(database),
        DISCORD_API_BASE="http://127.0.0.1:9/api/v10",
        DISCORD_GATEWAY_URL="ws://127.0.0.1:9/",
        WATCH_INTERVAL_HOURS="0",
        PYTHONPATH=str(ROOT),
    )
    # A hang is a failure: the start-up must close everything it opened and exit at once.
    return subprocess.run(
        [sys.executable, "-m", "bot"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def snapshot(path: Path) -> dict[str, bytes]:
    """The bytes of the database and of whatever files SQLite keeps beside it."""
    return {
        p.name: p.read_bytes()
        for p in sorted(path.parent.glob(path.name + "*"))
        if p.is_file() and p.suffix != ".lock"  # the running-bot lock file (bot/running.py), always empty
    }


def assert_refused(result: subprocess.CompletedProcess[str], database: Path, *says: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    (line,) = lines
    assert line.startswith(f"citadel-bot: DATABASE_PATH '{database}'"), line
    for words in says:
        assert words in line, line
    return line


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (root only; the test is skipped elsewhere)."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root: the full-disk and read-only-mount cases are skipped")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
async def canon_store(tmp_path: Path, canon_dir: Path) -> Path:
    """A store seeded from the canon and closed, as a bot leaves it."""
    settings = Settings(database_path=tmp_path / "seeded" / "citadel.sqlite3", canon_dir=canon_dir)
    store = await open_store(settings)
    await store.checkpoint()
    await store.close()
    return settings.database_path


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    database = tmp_path / "notes.txt"
    database.write_text("my shopping list\n")
    result = run_bot_once(database, tmp_path)
    assert_refused(result, database, "is not a SQLite database", "point DATABASE_PATH at")
    assert snapshot(database) == {"notes.txt": b"my shopping list\n"}


def test_a_database_from_a_newer_version_is_refused_untouched(canon_store: Path, tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(canon_store)) as db:
        db.execute("PRAGMA user_version = 99")
    before = snapshot(canon_store)
    result = run_bot_once(canon_store, tmp_path)
    assert_refused(
        result,
        canon_store,
        f"newer citadel-bot (schema 99; this version knows up to {latest_schema()})",
        "run the newer version",
    )
    assert snapshot(canon_store) == before


def test_an_older_schema_still_migrates(canon_store: Path, tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(canon_store, isolation_level=None)) as db:  # a version 7 store
        for table in ("reminders", "reminder_deliveries", "dm_recipients", "processes"):  # 0012's and 0008's
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP TABLE guild_event_room")  # 0009
        db.execute("ALTER TABLE facts DROP COLUMN spoiler")
        db.execute("ALTER TABLE guild_settings DROP COLUMN spoiler_days")
        db.execute("DROP INDEX deliveries_claimed")
        db.execute("ALTER TABLE deliveries DROP COLUMN claimed_by")
        db.execute("ALTER TABLE deliveries DROP COLUMN claim_expires")
        db.execute("DROP TABLE follower_roles")  # and what migration 0011 added
        db.execute("ALTER TABLE guild_settings DROP COLUMN follow_roles")
        db.execute("ALTER TABLE guild_settings DROP COLUMN timezone")  # what 0010 adds
        db.execute("ALTER TABLE guild_settings DROP COLUMN post_hour")
        db.execute("ALTER TABLE guild_settings DROP COLUMN language")  # what 0013 adds
        db.execute("ALTER TABLE suggestions DROP COLUMN locale")  # what 0014 adds
        db.execute("DROP TABLE gateway_sessions")  # what 0015 adds
        db.execute("DROP TABLE shard_leases")  # what 0016 adds
        db.execute("ALTER TABLE guild_settings DROP COLUMN locale")
        db.execute("PRAGMA user_version = 7")
    result = run_bot_once(canon_store, tmp_path)  # migrates, then fails to reach Discord (exit 1)
    assert result.returncode == 1 and "cannot reach Discord" in result.stderr
    with contextlib.closing(sqlite3.connect(canon_store)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (latest_schema(),)
        assert db.execute("SELECT count(*) FROM processes").fetchone() == (0,)  # it left the register


def test_a_read_only_file_and_a_read_only_folder_are_refused(canon_store: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through file modes: make a read-only filesystem instead
        with small_filesystem(tmp_path / "ro", "16m") as mount:
            shutil.copy(canon_store, mount / "citadel.sqlite3")
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
            database = mount / "citadel.sqlite3"
            before = snapshot(database)
            assert_refused(
                run_bot_once(database, tmp_path), database, "is read-only", "let the bot's user write"
            )
            assert snapshot(database) == before
            new = mount / "new.sqlite3"
            assert_refused(run_bot_once(new, tmp_path), new, "is in a read-only folder")
            assert not new.exists()
        return
    canon_store.chmod(0o444)
    before = snapshot(canon_store)
    assert_refused(
        run_bot_once(canon_store, tmp_path), canon_store, "is read-only", "let the bot's user write"
    )
    assert snapshot(canon_store) == before
    folder = tmp_path / "locked-folder"
    folder.mkdir(mode=0o555)
    new = folder / "citadel.sqlite3"
    assert_refused(run_bot_once(new, tmp_path), new, "is in a read-only folder")
    assert not new.exists()


def test_a_full_disk_is_refused_untouched(canon_store: Path, tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "3m") as mount:
        database = mount / "citadel.sqlite3"
        shutil.copy(canon_store, database)
        before = snapshot(database)
        assert_refused(run_bot_once(database, tmp_path), database, "the disk is full", "free some space")
        assert snapshot(database) == before


def test_a_database_locked_past_the_busy_timeout_is_refused_untouched(
    canon_store: Path, tmp_path: Path
) -> None:
    before = canon_store.read_bytes()
    holder = sqlite3.connect(canon_store, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock and keeps it
        # (No reading of the files meanwhile: closing any descriptor of a file drops every POSIX lock
        # this process holds on it, the holder's included.)
        result = run_bot_once(canon_store, tmp_path)
    finally:
        holder.close()
    assert_refused(result, canon_store, "stayed locked by another program for more than 5 s")
    assert canon_store.read_bytes() == before


# --- deliveries claimed once, across processes ----------------------------------------------------


async def subscribe_all(settings: Settings, fake: FakeDiscord) -> None:
    """Every server of the fake subscribed, and season 2's premiere a week away: the 7-day milestone is
    due as soon as a bot starts (with the real clock), for every server."""
    store = await open_store(settings)
    for guild_id in fake.guild_ids:
        await store.servers.save(GuildSettings(guild_id, channel_id=fake.guild(guild_id).channel_id))
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    await store.facts.edit(
        "season-2", "premiere", "", Fact("premiere", in_a_week, SOURCE, "2026-11-20"), "m (1)"
    )
    await store.close()


def deliveries(database: Path | str) -> dict[str, int]:
    """Milestone deliveries by status, and how many pending ones are claimed, as the store holds them."""
    rows = select(
        database,
        "SELECT status, count(*), sum(CASE WHEN claimed_by IS NOT NULL THEN 1 ELSE 0 END) FROM deliveries "
        "WHERE kind = 'milestone' GROUP BY status",
    )
    counts = {str(status): int(str(number)) for status, number, _ in rows}
    counts["claimed"] = sum(int(str(claimed or 0)) for status, _, claimed in rows if status == "pending")
    return counts


def posts_per_channel(fake: FakeDiscord, *, posts_only: bool = False) -> list[int]:
    """Messages in each server's channel; with `posts_only`, the scheduler's posts (they carry a nonce),
    not the answers to slash commands sent there."""
    return [
        sum(1 for m in fake.messages.get(fake.guild(g).channel_id, []) if m.get("nonce") or not posts_only)
        for g in fake.guild_ids
    ]


def message_sends(fake: FakeDiscord) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("/messages"))


def wal_size(database: Path) -> int:
    wal = Path(str(database) + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def log_of(cwd: Path) -> str:
    """The process's log so far ("" before its first line is copied)."""
    path = cwd / "stderr.txt"
    return path.read_text() if path.exists() else ""


async def stop(*processes: subprocess.Popen[str]) -> list[int]:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [await asyncio.to_thread(process.wait, 30) for process in processes]


async def all_sent(settings: Settings, fake: FakeDiscord, servers: int) -> None:
    """Until the store holds every one of the `servers` deliveries as sent."""
    await fake.wait_until(
        lambda: deliveries(settings.database).get("sent") == servers or None,
        timeout=120,
        what="every delivery marked sent",
    )


async def run_until_all_sent(settings: Settings, fake: FakeDiscord, cwd: Path, servers: int) -> list[int]:
    """Start a bot, let it send until every delivery is sent, stop it: its exit code."""
    process = start(settings, cwd)
    try:
        await all_sent(settings, fake, servers)
    finally:
        codes = await stop(process)
    return codes


def start(
    settings: Settings, cwd: Path, log_changes: Changes | None = None, log_level: str = "INFO", **env: str
) -> subprocess.Popen[str]:
    cwd.mkdir()
    return bot_process(
        settings,
        TOKEN,
        cwd,
        UPDATE_SETTLE_SECONDS="86400",
        WATCH_INTERVAL_HOURS="0",
        log_changes=log_changes,
        log_level=log_level,
        **env,
    )


async def health(port: int) -> tuple[int, str]:
    """GET /healthz of a bot process: its status code and the status it names."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, (await response.json())["status"]


def lease_holders(database: Path | str) -> dict[int, str]:
    rows = select(database, "SELECT shard_id, owner FROM shard_leases")
    return {int(str(shard)): str(owner) for shard, owner in rows}


async def test_a_standby_takes_the_shards_of_a_process_killed_mid_fan_out(
    tmp_path: Path, canon_dir: Path
) -> None:
    """Two processes with the same settings: the second stands by (the leases are the first's), and when
    the first is killed in the middle of a fan-out its shards move to the second, which RESUMEs their
    sessions and finishes the fan-out: every post once, none lost, every command to a live shard answered."""
    servers = 300
    async with FakeDiscord(guilds=servers, token=TOKEN, recommended_shards=2) as fake:
        settings = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=())
        await subscribe_all(settings, fake)
        for guild_id in fake.guild_ids:  # Discord stores each post but does not answer yet
            fake.hold_replies(fake.guild(guild_id).channel_id)
        # DEBUG: it logs each save of its gateway sessions.
        first = start(settings, tmp_path / "first", log_changes=fake.changes, log_level="DEBUG")
        second = None
        try:
            await fake.wait_until(
                lambda: sum(posts_per_channel(fake)) >= CONCURRENCY or None,
                timeout=60,
                what="the first posts",
            )
            # Started once the first holds every lease and is mid-fan-out.
            port = free_port()
            second = start(settings, tmp_path / "second", log_changes=fake.changes, HTTP_PORT=str(port))
            await fake.wait_until(
                lambda: logged(tmp_path / "second", "standing by"), timeout=30, what="a standby"
            )
            assert await health(port) == (200, "standby")  # healthy, and says what it is
            holders = lease_holders(settings.database)
            assert sorted(holders) == [0, 1] and {h.split(":")[1] for h in holders.values()} == {
                str(first.pid)
            }
            answered_before = await each_shard_answers(fake)
            saves = log_of(tmp_path / "first").count("saved 2 gateway sessions")
            await fake.wait_until(  # both sessions as the answers left them, saved within 5 s
                lambda: log_of(tmp_path / "first").count("saved 2 gateway sessions") > saves or None,
                timeout=30,
                what="the first's sessions saved",
            )
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 30)
            for guild_id in fake.guild_ids:
                fake.release_replies(fake.guild(guild_id).channel_id)
            await fake.wait_until(
                lambda: logged(tmp_path / "second", "shard 1: its lease came free"),
                timeout=60,
                what="the takeover",
            )
            await all_sent(settings, fake, servers)
            answered_after = await each_shard_answers(fake)
            assert await health(port) == (200, "ok")
            assert posts_per_channel(fake, posts_only=True) == [1] * servers  # none lost, none twice
            holders = lease_holders(settings.database)
            assert {h.split(":")[1] for h in holders.values()} == {str(second.pid)}
            # The standby RESUMEd the killed process's sessions: nothing but the first two IDENTIFYs.
            assert len(fake.identifies) == 2 and len(fake.resumes) == 2 and fake.invalid_sessions == []
        finally:
            codes = await stop(first, *([second] if second else []))
        assert codes[1] == 0
        assert answered_before == answered_after == 2


async def each_shard_answers(fake: FakeDiscord) -> int:
    """Send /citadel diana to a server of each shard; how many were answered with Diana's card."""
    answered = 0
    for shard in (0, 1):
        guild_id = next(g for g in fake.guild_ids if (g >> 22) % 2 == shard)
        record = await fake.invoke_command("citadel", subcommand="diana", guild_id=guild_id)
        answered += (await record.wait_response(10))["data"]["embeds"][0]["title"] == "Citadel: Diana"
    return answered


async def test_a_frozen_process_loses_its_shard_and_never_answers_for_it_again(
    tmp_path: Path, canon_dir: Path
) -> None:
    """The hard case for "never two processes on one shard": the owner is frozen (SIGSTOP), not dead, so
    its socket stays open. The standby takes the shard once the lease runs out and answers; when the
    frozen one wakes, it finds it lost the lease and stops the shard, having handled nothing meanwhile:
    every command is answered exactly once (Discord refuses a second answer with 40060)."""
    async with FakeDiscord(guilds=4, token=TOKEN) as fake:
        settings = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=())
        # DEBUG: it logs each save of its gateway session.
        first = start(settings, tmp_path / "first", log_changes=fake.changes, log_level="DEBUG")
        second = None
        records: list[InteractionRecord] = []

        def only_the_seconds_socket() -> bool:
            # The woken first may RESUME the session back for a moment (and is then fenced: it handles
            # nothing) before it stops the shard and closes its socket: wait until that is over.
            session = fake.shard_sessions[0]
            return len(fake.connections) == 1 and session.connection in fake.connections

        async def answered_once() -> None:
            record = await fake.invoke_command("citadel", subcommand="diana", guild_id=fake.guild_ids[0])
            records.append(record)
            assert (await record.wait_response(10))["data"]["embeds"][0]["title"] == "Citadel: Diana"

        try:
            await fake.wait_until(
                lambda: logged(tmp_path / "first", "connected as"), timeout=30, what="the owner"
            )
            second = start(settings, tmp_path / "second", log_changes=fake.changes)
            await fake.wait_until(
                lambda: logged(tmp_path / "second", "standing by"), timeout=30, what="a standby"
            )
            await answered_once()
            await fake.wait_until(  # its session as the answer left it, saved (within 5 s)
                lambda: logged(tmp_path / "first", "saved 1 gateway sessions"), timeout=30, what="a save"
            )
            first.send_signal(signal.SIGSTOP)
            await fake.wait_until(
                lambda: logged(tmp_path / "second", "1 of them resumed"), timeout=60, what="the takeover"
            )
            await answered_once()  # by the second, while the first is frozen with its socket open
            first.send_signal(signal.SIGCONT)
            await fake.wait_until(
                lambda: logged(tmp_path / "first", "shard 0: its lease went to another process"),
                timeout=30,
                what="the woken owner stopping its shard",
            )
            await fake.wait_until(only_the_seconds_socket, timeout=30, what="the first's socket closed")
            for _ in range(5):
                await answered_once()
            # Only the second answers from now on; no command was ever answered twice.
            assert all(not record.rejected for record in records), [r.rejected for r in records]
            assert {owner.split(":")[1] for owner in lease_holders(settings.database).values()} == {
                str(second.pid)
            }
        finally:
            if first.poll() is None:
                first.send_signal(signal.SIGCONT)
            codes = await stop(first, *([second] if second else []))
        assert codes == [0, 0]


async def test_a_process_killed_holding_claims_is_finished_by_the_next_start(
    tmp_path: Path, canon_dir: Path
) -> None:
    servers = 150
    async with FakeDiscord(guilds=servers, token=TOKEN) as fake:
        settings = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=())
        await subscribe_all(settings, fake)
        for guild_id in fake.guild_ids:
            fake.hold_replies(fake.guild(guild_id).channel_id)
        killed = start(settings, tmp_path / "killed")
        try:
            await fake.wait_until(
                lambda: sum(posts_per_channel(fake)) >= CONCURRENCY or None,
                timeout=60,
                what="the first posts",
            )
            killed.send_signal(signal.SIGKILL)
            await asyncio.to_thread(killed.wait, 30)
        finally:
            if killed.poll() is None:
                killed.kill()
        # It died holding its first batch of claims, some of them posted but never heard back.
        assert deliveries(settings.database) == {"pending": servers, "claimed": CLAIM_BATCH}
        assert sum(posts_per_channel(fake)) == CONCURRENCY
        for guild_id in fake.guild_ids:
            fake.release_replies(fake.guild(guild_id).channel_id)

        assert await run_until_all_sent(settings, fake, tmp_path / "restarted", servers) == [0]
        # At once, not when the claims expired: it saw the killed process was gone.
        assert f":{killed.pid}:" in log_of(tmp_path / "restarted")
        assert deliveries(settings.database) == {"sent": servers, "claimed": 0}
        assert (
            posts_per_channel(fake) == [1] * servers
        )  # those re-sent with their nonces came back as the same


async def test_sigterm_in_the_middle_of_a_fan_out_stops_cleanly_and_the_next_start_completes_it(
    tmp_path: Path, canon_dir: Path
) -> None:
    servers = 500
    async with FakeDiscord(guilds=servers, token=TOKEN, rate_limits=True) as fake:  # 50 a second at most
        settings = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=())
        await subscribe_all(settings, fake)
        hung = [fake.guild(g).channel_id for g in fake.guild_ids[100:110]]
        for channel_id in hung:  # ten of the posts get no answer from Discord at all
            fake.hold_replies(channel_id)
        process = start(settings, tmp_path / "stopped")
        try:
            await fake.wait_until(
                lambda: sum(posts_per_channel(fake)) >= 120 or None, timeout=60, what="120 posts"
            )
            process.send_signal(signal.SIGTERM)
            # Within 10 s even with posts Discord never answers (what systemd and Docker allow).
            code = await asyncio.to_thread(process.wait, 10)
        finally:
            if process.poll() is None:
                process.kill()
        assert code == 0
        counts = deliveries(settings.database)
        assert counts["claimed"] == 0 and counts["pending"] + counts["sent"] == servers
        assert 0 < counts["sent"] < servers
        (line,) = [line for line in log_of(tmp_path / "stopped").splitlines() if "stopped on SIGTERM" in line]
        assert f"{counts['pending']} pending posts are left for the next start" in line
        assert "10 cut off unanswered after 5 s" in line  # the ten Discord never answered
        assert "the database is checkpointed" in line
        assert not wal_size(settings.database_path)  # checkpointed: everything is in the file (SQLite's)
        for channel_id in hung:
            fake.release_replies(channel_id)

        assert await run_until_all_sent(settings, fake, tmp_path / "restarted", servers) == [0]
        assert posts_per_channel(fake) == [1] * servers  # 0 lost, 0 duplicates
        assert not [hit for hit in fake.rate_limited if hit[2] == "global"]  # (method, path, scope, time)


# --- interactions being answered when the stop comes ------------------------------------------------


def logged(cwd: Path, words: str) -> bool | None:
    return words in log_of(cwd) or None


async def held_command(
    fake: FakeDiscord, settings: Settings, cwd: Path
) -> tuple[subprocess.Popen[str], InteractionRecord]:
    """A bot caught answering `/citadel diana`: its callback is on its way to Discord, held there,
    when SIGTERM comes; returned once the bot has begun its stop."""
    process = start(settings, cwd, log_changes=fake.changes)
    await fake.wait_for_ready(timeout=30)
    await fake.wait_for_sync(2, timeout=30)
    fake.hold_callbacks()
    record = await fake.invoke_command("citadel", subcommand="diana")
    await record.changes.wait_for(lambda: record.callbacks_held or None, 5, "the callback on its way")
    process.send_signal(signal.SIGTERM)
    await fake.wait_until(lambda: logged(cwd, "SIGTERM: stopping"), timeout=10, what="the stop begun")
    return process, record


async def test_sigterm_lets_an_interaction_being_answered_finish(tmp_path: Path, canon_dir: Path) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        cwd = tmp_path / "bot"
        process, record = await held_command(fake, make_settings(tmp_path, canon_dir, fake), cwd)
        try:
            assert record.callback is None  # the member has seen nothing yet
            fake.release_callbacks()
            code = await asyncio.to_thread(process.wait, 10)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 0
    # The answer reached the member whole, though the stop had begun: the bot waited for it.
    assert record.callback is not None and record.callback["type"] == 4
    assert record.callback["data"]["embeds"][0]["title"] == "Citadel: Diana"
    assert not record.rejected
    (line,) = [line for line in log_of(cwd).splitlines() if "stopped on SIGTERM" in line]
    assert "interactions cut off while being answered: 0" in line
    assert "failed" not in log_of(cwd)  # the command's handler ended as usual, not cut short by the close


async def test_sigterm_cuts_off_an_answer_discord_never_takes_and_still_exits_in_time(
    tmp_path: Path, canon_dir: Path
) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        cwd = tmp_path / "bot"
        process, record = await held_command(fake, make_settings(tmp_path, canon_dir, fake), cwd)
        try:
            code = await asyncio.to_thread(process.wait, 10)  # the callback is never taken
            seen = record.callback
        finally:
            if process.poll() is None:
                process.kill()
            fake.release_callbacks()
    assert code == 0
    assert (
        seen is None
    )  # Discord shows the member "The application did not respond", as for any failed answer
    (line,) = [line for line in log_of(cwd).splitlines() if "stopped on SIGTERM" in line]
    assert "interactions cut off while being answered: 1" in line
