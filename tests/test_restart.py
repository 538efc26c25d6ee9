"""Restarts without an outage (issue 15 §4): a clean stop keeps every shard's gateway session, the next
start RESUMEs them all at once instead of IDENTIFYing 5 s apart, and a session Discord no longer has
(op 9) falls back to IDENTIFY. All through the real discord.py client against the fake Discord."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import discord
import pytest

from bot import client as client_module
from bot import gateway as gateway_module
from bot.config import Settings
from bot.gateway import KEEP_SESSION_CLOSE, PINNED
from bot.store import Store
from tests.fake_discord import FakeDiscord
from tests.harness import (
    TOKEN,
    bot_process,
    diana_answered_in,
    finished,
    make_settings,
    running_bot,
)

SHARDS = 3


@pytest.fixture
async def sharded() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=9, token=TOKEN, recommended_shards=SHARDS) as fake:
        with fake.point_discord_py_here():
            yield fake
        assert fake.invalid_requests == [] and fake.unknown_routes == [] and fake.errors == []


@pytest.fixture
def settings(sharded: FakeDiscord, tmp_path: Path, canon_dir: Path) -> Settings:
    """The bot's settings for the sharded fake, with no home server (its commands are not the point)."""
    fake = sharded
    return replace(
        make_settings(tmp_path, canon_dir, fake),
        home_guild_ids=(),
        review_channel_id=None,
        editor_role_id=None,
    )


def guild_of_each_shard(fake: FakeDiscord) -> list[int]:
    return [next(g for g in fake.guild_ids if (g >> 22) % SHARDS == shard) for shard in range(SHARDS)]


async def every_shard_answers(fake: FakeDiscord) -> None:
    for guild_id in guild_of_each_shard(fake):
        await diana_answered_in(fake, guild_id)


async def saved_sessions(settings: Settings) -> dict[int, tuple[str, int]]:
    store = await Store.open(settings.database)
    try:
        rows = await store._database.fetchall("SELECT shard_id, session_id, sequence FROM gateway_sessions")
    finally:
        await store.close()
    return {int(r[0]): (r[1], int(r[2])) for r in rows}


def test_the_pinned_discord_py_is_the_one_installed() -> None:
    """bot/gateway.py reaches into AutoShardedClient's internals; a new discord.py must be checked first."""
    assert discord.__version__.startswith(PINNED + "."), (discord.__version__, PINNED)


async def test_a_clean_restart_resumes_every_shard_without_identifying(
    sharded: FakeDiscord, settings: Settings
) -> None:
    fake = sharded
    async with running_bot(settings, fake) as bot:
        await bot.wait_until_connected()
        await every_shard_answers(fake)
        first = {s.shard_id: s.id for s in fake.shard_sessions.values()}
    assert len(fake.identifies) == SHARDS and fake.resumes == []
    # The stop closed the sockets with a code that keeps the sessions, and saved each one where it was.
    saved = await saved_sessions(settings)
    assert {shard: session for shard, (session, _) in saved.items()} == first
    assert all(not s.invalidated for s in fake.shard_sessions.values())
    assert {shard: seq for shard, (_, seq) in saved.items()} == {
        s.shard_id: s.seq for s in fake.shard_sessions.values()
    }

    async with running_bot(settings, fake) as bot:
        await bot.wait_until_connected()
        assert sorted(bot.sessions.resumed) == list(range(SHARDS))
        assert len(fake.identifies) == SHARDS  # not one more IDENTIFY: no 5-second spacing
        assert sorted(r["session_id"] for r in fake.resumes) == sorted(first.values())
        assert fake.invalid_sessions == []
        # A RESUMEd shard has no READY and no servers cached, and answers all the same.
        await every_shard_answers(fake)
        assert {s.shard_id: s.id for s in fake.shard_sessions.values()} == first
        health_live = dict(bot.gateway.live)
    assert health_live == dict.fromkeys(range(SHARDS), True)


async def test_a_session_discord_no_longer_keeps_falls_back_to_identify(
    sharded: FakeDiscord, settings: Settings
) -> None:
    fake = sharded
    async with running_bot(settings, fake) as bot:
        await bot.wait_until_connected()
    old = sorted(s.id for s in fake.shard_sessions.values())
    assert len(await saved_sessions(settings)) == SHARDS
    # Longer than Discord keeps a closed session (but not so long that the bot would not try it).
    now = fake.monotonic()
    fake.monotonic = lambda: now + fake.resume_window + 1

    async with running_bot(settings, fake) as bot:
        await bot.wait_until_connected()
        assert sorted(fake.invalid_sessions) == old  # op 9 to every RESUME
        assert len(fake.identifies) == 2 * SHARDS  # then each shard IDENTIFYs afresh
        await every_shard_answers(fake)
    assert sorted(s.id for s in fake.shard_sessions.values()) != old


async def test_a_stop_that_ends_the_sessions_is_seen_by_the_fake(
    sharded: FakeDiscord, settings: Settings
) -> None:
    """The fake keeps a session only if the bot closed with KEEP_SESSION_CLOSE (not 1000/1001): so the
    first test's RESUMEs prove the bot closed that way."""
    assert KEEP_SESSION_CLOSE not in (1000, 1001)
    fake = sharded
    async with running_bot(settings, fake) as bot:
        await bot.wait_until_connected()
        for shard in bot.shards.values():
            shard._parent._cancel_task()
            await shard._parent.ws.close(code=1000)  # what discord.py's own close() does
    assert all(s.invalidated for s in fake.shard_sessions.values())


async def test_python_m_bot_resumes_after_sigkill_and_after_sigterm(
    sharded: FakeDiscord, settings: Settings, tmp_path: Path
) -> None:
    """The real `python -m bot`: killed, its next start RESUMEs from the sessions saved every few seconds;
    stopped with SIGTERM, the next start RESUMEs from the sessions saved at the stop. No IDENTIFY but the
    first three."""
    fake = sharded

    def log_text(run: Path) -> str:
        return (run / "stderr.txt").read_text() if (run / "stderr.txt").exists() else ""

    async def start(name: str) -> tuple[subprocess.Popen[str], Path]:
        run = tmp_path / name
        run.mkdir()
        process = bot_process(settings, TOKEN, run, log_level="DEBUG", log_changes=fake.changes)
        await fake.wait_until(lambda: "connected as " in log_text(run), timeout=30, what=f"{name} connected")
        return process, run

    first, run = await start("first")
    assert "3 shards, 0 of them resumed" in log_text(run)
    await every_shard_answers(fake)
    before = log_text(run).count("saved 3 gateway sessions")
    # The sessions as they stand after the answers, saved within SAVE_EVERY seconds.
    await fake.wait_until(
        lambda: log_text(run).count("saved 3 gateway sessions") > before, timeout=15, what="a save"
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    second, run = await start("second")
    assert "3 shards, 3 of them resumed" in log_text(run)
    await every_shard_answers(fake)
    second.send_signal(signal.SIGTERM)
    _, err = await finished(second, run)
    assert second.returncode == 0, err[-2000:]
    assert "saved 3 gateway sessions for the next start" in err

    third, run = await start("third")
    try:
        assert "3 shards, 3 of them resumed" in log_text(run)
        await every_shard_answers(fake)
    finally:
        third.send_signal(signal.SIGTERM)
        await finished(third, run)
    assert len(fake.identifies) == SHARDS and len(fake.resumes) == 2 * SHARDS and fake.invalid_sessions == []


async def test_the_first_shards_answer_while_the_last_still_wait_to_identify(
    sharded: FakeDiscord, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A start whose IDENTIFYs take longer than the leases' fence (100 shards take 495 s) renews the
    leases meanwhile: the shards already up answer, as they did not while the launch outlasted it."""
    fake = sharded
    monkeypatch.setattr(gateway_module, "FENCE", 1.0)  # the leases surely ours 1 s after each renewal
    monkeypatch.setattr(gateway_module, "RENEW_EVERY", 0.2)
    monkeypatch.setattr(client_module, "IDENTIFY_SPACING", 3.0)  # the third shard IDENTIFYs 6 s in
    async with running_bot(settings, fake) as bot:
        await fake.wait_until(lambda: len(fake.identifies) == 2, timeout=10, what="the second IDENTIFY")
        first, second, third = guild_of_each_shard(fake)
        for guild_id in (first, second):
            await diana_answered_in(fake, guild_id)
        assert len(fake.identifies) == 2  # the third shard still waits for its turn
        await bot.wait_until_connected()
        await diana_answered_in(fake, third)
    assert len(fake.identifies) == SHARDS
    assert "left to the shard's next owner" not in caplog.text
