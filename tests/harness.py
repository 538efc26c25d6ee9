"""The end-to-end harness: the fake Discord, the bot running against it, and what a user sees."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import discord

from bot.__main__ import open_store
from bot.client import CitadelBot, point_at
from bot.clock import ManualClock, utc_now
from bot.config import Settings
from tests.engines import new_database
from tests.fake_discord import FakeDiscord, GuildSpec, InteractionRecord, guild_id_for_index
from tests.fake_discord.payloads import FLAG_EPHEMERAL
from tests.fake_discord.waiting import Changes

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "MTAxMjM0NTY3ODkwMTIzNDU2.Gabcde.fake-token-for-tests_0123456789"
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT
DIANA_PREMIERE = 1728518400  # 2024-10-10 00:00 UTC
ENTRY_SUBCOMMANDS = {"mothership", "season-2", "diana", "honey-bunny", "spain", "mexico"}
EDITOR_ROLE_ID = 777777777777777777
MANAGE_GUILD = 1 << 5
HOME = GuildSpec(
    id=guild_id_for_index(0),
    name="Citadel fans (home)",
    extra_roles=({"id": str(EDITOR_ROLE_ID), "name": "editor", "permissions": "0", "position": 1, "color": 0,
                  "hoist": False, "managed": False, "mentionable": False, "flags": 0},),
)  # fmt: skip
OTHER = GuildSpec.numbered(1)


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_fake() -> FakeDiscord:
    """Two servers: the bot's home server (with an editor role and the review channel) and another."""
    return FakeDiscord(guilds=[HOME, OTHER], token=TOKEN)


def make_settings(tmp_path: Path, canon_dir: Path, fake: FakeDiscord) -> Settings:
    return Settings(
        discord_token=TOKEN,
        database_path=tmp_path / "bot.sqlite3",
        database_url=database if isinstance(database := new_database(tmp_path, "bot"), str) else None,
        canon_dir=canon_dir,
        home_guild_ids=(HOME.id,),
        editor_role_id=EDITOR_ROLE_ID,
        review_channel_id=HOME.channel_id,
        discord_api_base=fake.api_base,
        discord_gateway_url=fake.gateway_url,
        watch_interval_hours=0,  # the watcher's own tests turn it on, pointed at the fake sources
    )


class Handled:
    """The slash commands the bots on one fake have finished handling: discord.py dispatches
    app_command_completion once a command's callback has returned (its answer sent, the view it showed
    registered, what it stored stored), and calls the tree's error handler once it has failed or been
    refused (the handler answers the user)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.changes = Changes()

    def watch(self, bot: CitadelBot) -> None:
        answer_error = bot.tree.on_error

        async def on_app_command_completion(interaction: discord.Interaction, command: object) -> None:
            self.add(interaction)

        @bot.tree.error
        async def on_error(
            interaction: discord.Interaction, error: discord.app_commands.AppCommandError
        ) -> None:
            try:
                await answer_error(interaction, error)
            finally:
                self.add(interaction)

        bot.add_listener(on_app_command_completion)

    def add(self, interaction: discord.Interaction) -> None:
        self.ids.add(interaction.id)
        self.changes.notify()


_handled: weakref.WeakKeyDictionary[FakeDiscord, Handled] = weakref.WeakKeyDictionary()


async def handled(fake: FakeDiscord, *records: InteractionRecord) -> None:
    """Until the bot has finished handling these slash commands (see Handled) and what they set off:
    the events they dispatched, each run by discord.py in a task of its own ("discord.py: on_<event>"),
    e.g. the review post of a suggestion and the storing of its id. What a test waits on before it
    clicks a button an answer showed, or reads what a command stored."""
    done = _handled[fake]
    what = f"the bot to finish handling interaction(s) {[r.id for r in records]}"
    await done.changes.wait_for(lambda: all(r.id in done.ids for r in records), 10, what)
    listeners = [t for t in asyncio.all_tasks() if t.get_name().startswith("discord.py: ") and not t.done()]
    if listeners:
        _, late = await asyncio.wait(listeners, timeout=10)
        assert not late, f"event handlers still running after 10 s: {[t.get_name() for t in late]}"


@asynccontextmanager
async def running_bot(
    settings: Settings, fake: FakeDiscord, clock: ManualClock | None = None, *, synced: bool = True
) -> AsyncIterator[CitadelBot]:
    """The bot as `python -m bot` runs it, connected to the fake (and, with `synced`, done with its
    command sync) until the block ends."""
    point_at(settings)
    store = await open_store(settings, clock or utc_now)
    bot = CitadelBot(settings, store, clock=clock, guild_ready_timeout=0.1)
    _handled.setdefault(fake, Handled()).watch(bot)
    task = asyncio.create_task(bot.start(TOKEN))
    try:
        await fake.wait_for_ready(timeout=10)
        if synced:  # tests invoke the commands it syncs
            await asyncio.wait_for(bot.sync_finished.wait(), 10)
        yield bot
    finally:
        await bot.close()
        await task
        await store.close()


async def ask(fake: FakeDiscord, subcommand: str, **options: Any) -> dict[str, Any]:
    record = await fake.invoke_command("citadel", subcommand=subcommand, options=options)
    return await record.wait_response()


async def diana_answered_in(fake: FakeDiscord, guild_id: int) -> InteractionRecord:
    """`/citadel diana` asked in a server, and its answer the Diana embed."""
    record = await fake.invoke_command("citadel", subcommand="diana", guild_id=guild_id)
    assert embed_of(await record.wait_response())["title"] == "Citadel: Diana"
    return record


def embed_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["type"] == 4, response
    (embed,) = response["data"]["embeds"]
    return embed


def fields_of(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def assert_ephemeral_line(response: dict[str, Any], *says: str) -> str:
    assert response["type"] == 4, response
    data = response["data"]
    assert data["flags"] & FLAG_EPHEMERAL
    assert data["allowed_mentions"] == {"parse": []}
    assert "embeds" not in data or data["embeds"] == []
    line = data["content"]
    assert "\n" not in line and "Traceback" not in line
    for text in says:
        assert text in line, line
    return line


def bot_process(
    settings: Settings,
    token: str,
    cwd: Path,
    *args: str,
    log_level: str = "INFO",
    log_changes: Changes | None = None,
    on: Sequence[str] = (),
    **extra_env: str,
) -> subprocess.Popen[str]:
    """`python -m bot [args]` with settings from the environment; its output goes to files in `cwd`
    (a pipe nobody reads while the test drives the fake would fill up and stall the bot). With
    `log_changes`, each line of its log is also announced there as it is written, so that a test can
    wait for a line (`fake.changes`, say, makes `fake.wait_until` look again)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "HOME_GUILD_IDS")}
    env.update(
        DISCORD_TOKEN=token,
        LOG_LEVEL=log_level,
        HOME_GUILD_IDS=",".join(map(str, settings.home_guild_ids)),
        DATABASE_PATH=str(settings.database_path),
        DATABASE_URL=settings.database_url or "",
        CANON_DIR=str(settings.canon_dir),
        DISCORD_API_BASE=str(settings.discord_api_base),
        DISCORD_GATEWAY_URL=str(settings.discord_gateway_url),
        PYTHONPATH=str(ROOT),
        **extra_env,
    )
    command = [*on, sys.executable, "-m", "bot", *args]  # on: e.g. `ip netns exec HOST`, another host
    if log_changes is None:
        with (cwd / "stdout.txt").open("w") as out, (cwd / "stderr.txt").open("w") as err:
            return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
    with (cwd / "stdout.txt").open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    threading.Thread(
        target=_copy_lines,
        args=(process.stderr, cwd / "stderr.txt", asyncio.get_running_loop(), log_changes),
        daemon=True,
    ).start()
    return process


def _copy_lines(pipe: IO[str], path: Path, loop: asyncio.AbstractEventLoop, changes: Changes) -> None:
    """Copy a process's log into `path` line by line, announcing each line on `loop`."""
    with pipe, path.open("w") as copy:
        for line in pipe:
            copy.write(line)
            copy.flush()
            with contextlib.suppress(RuntimeError):  # the test's loop has closed: nobody waits any more
                loop.call_soon_threadsafe(changes.notify)


async def finished(process: subprocess.Popen[str], cwd: Path) -> tuple[str, str]:
    """Wait (up to a minute) for the process to end; its stdout and stderr."""
    await asyncio.to_thread(process.wait, 60)
    return (cwd / "stdout.txt").read_text(), (cwd / "stderr.txt").read_text()
