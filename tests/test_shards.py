"""Two processes, two shards each, one SQLite file: each answers its own servers and announces only to them."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import open_store
from bot.config import ConfigError, load_settings
from bot.facts import Fact
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord, shard_for_guild
from tests.harness import TOKEN, bot_process, make_settings

SHARDS = 4


async def test_two_processes_with_two_shards_each(tmp_path: Path, canon_dir: Path) -> None:
    async with FakeDiscord(guilds=8, token=TOKEN, recommended_shards=SHARDS) as fake:
        settings = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=())
        store = await open_store(settings)
        for guild_id in fake.guild_ids:
            await store.servers.save(
                GuildSettings(guild_id, channel_id=fake.guild(guild_id).channel_id, events=True)
            )
        in_a_week = (
            (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
        )  # the 7-day milestone is due now
        await store.facts.edit(
            "season-2",
            "premiere",
            "",
            Fact("premiere", in_a_week, "https://example.org/d", "2026-11-20"),
            "m (1)",
        )
        await store.close()

        processes = []
        for n, ids in enumerate(("0,1", "2,3")):
            cwd = tmp_path / f"process-{n}"
            cwd.mkdir()
            processes.append(bot_process(settings, TOKEN, cwd, SHARD_COUNT=str(SHARDS), SHARD_IDS=ids,
                                         UPDATE_SETTLE_SECONDS="86400"))  # fmt: skip
        try:
            for shard in range(SHARDS):
                await fake.wait_for_ready(shard=shard, timeout=60)
            assert sorted(i["shard"][0] for i in fake.identifies) == [0, 1, 2, 3]
            assert all(i["shard"][1] == SHARDS for i in fake.identifies)

            # Every server gets its countdown exactly once: nobody announced to another's servers.
            def posts(guild_id: int) -> list[dict]:
                return [m for m in fake.messages.get(fake.guild(guild_id).channel_id, []) if m["type"] == 0]

            # A process creates its servers' premiere events right after their posts, in the same
            # scheduler step: once every server has its event, both have posted all they were due to.
            await fake.wait_until(
                lambda: all(fake.scheduled_events.get(g) for g in fake.guild_ids),
                timeout=60,
                what="a premiere event in each of the 8 servers",
            )
            assert [len(posts(g)) for g in fake.guild_ids] == [1] * 8
            assert [len(fake.scheduled_events[g]) for g in fake.guild_ids] == [1] * 8

            # Every server is answered (by the process that owns its shard).
            for guild_id in fake.guild_ids:
                record = await fake.invoke_command("citadel", subcommand="diana", guild_id=guild_id)
                assert (await record.wait_response(timeout=10))["data"]["embeds"][0][
                    "title"
                ] == "Citadel: Diana"
            sends = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
            assert len(sends) == 8  # not 16: each process posted only to its own shards' servers
            assert {shard_for_guild(g, SHARDS) for g in fake.guild_ids} == {0, 1, 2, 3}
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                await asyncio.to_thread(process.wait, 30)
        assert [p.returncode for p in processes] == [0, 0]


@pytest.mark.parametrize(
    ("env", "says"),
    [({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"), ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "from 0 to 1"),
     ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be")],
)  # fmt: skip
def test_bad_shard_settings(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(env, env_file=Path("/nonexistent/.env"))


@pytest.mark.parametrize("value", ["auto", "AUTO", " auto "])
def test_shard_ids_auto_means_any_shard_as_when_unset(value: str) -> None:
    for env in ({"SHARD_IDS": value}, {"SHARD_COUNT": "4", "SHARD_IDS": value}):
        settings = load_settings({"DISCORD_TOKEN": TOKEN, **env}, env_file=Path("/nonexistent/.env"))
        assert settings.shard_ids is None
