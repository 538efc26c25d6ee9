"""The floor of the performance benchmark: a bare discord.py bot that answers `/citadel diana`,
`/citadel search` and the `/citadel show` autocomplete with constants held in memory.

    python -m benchmarks.floor_bot

It reads the same environment as `python -m bot` for what it needs: DISCORD_TOKEN, DISCORD_API_BASE,
DISCORD_GATEWAY_URL, SHARD_COUNT, SHARD_IDS and LOG_LEVEL. It has citadel-bot's client settings
(AutoShardedBot, only the `guilds` intent, no member cache, no message cache, no mentions) and does
nothing else: no store, no canon, no scheduler. Whatever citadel-bot costs beyond this is its own.

FLOOR_DEFAULTS=1 builds it with discord.py's defaults instead (`Intents.default()`, default member and
message caches): the "default-configured" bot the benchmark floods with chat messages.

FLOOR_INTENTS=none builds it with no intents at all (no GUILDS: Discord then sends no GUILD_CREATE and
the bot keeps no guild cache; interactions carry what the commands need): the floor for a bot that runs
without the guild cache.

FLOOR_ANSWERS may name a JSON file {"diana": embed, "diana_buttons": [button, ...], "search": embed,
"choices": [choice, ...]} (the benchmark writes one with exactly what citadel-bot answers, its Follow
button included, so both send the same bytes); it is read once at start. Without it the constants below
are used. The buttons go in one View made once and stopped (discord.py then keeps nothing of it per
answer), the cheapest way discord.py sends a button: nobody presses the floor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

log = logging.getLogger("floor_bot")

DEFAULT_ANSWERS: dict[str, Any] = {
    "diana": {
        "title": "Citadel: Diana",
        "description": "In Milan in 2030, eight years after Citadel fell, Diana, a Citadel mole inside "
        "Manticore, must trust Edo Zani, heir of Manticore Italy. [1]",
        "color": 0x1F3A5F,
        "fields": [
            {"name": "Status", "value": "Cancelled [2]", "inline": True},
            {"name": "Premiere", "value": "<t:1728518400:D> (<t:1728518400:R>) [3]", "inline": True},
            {"name": "Network", "value": "Prime Video [4]", "inline": True},
            {"name": "Episodes", "value": "6 [3]", "inline": True},
        ],
        "footer": {"text": "Sources: [1] bgr.com, 2024-09-12 · [2] fandompulse.com, 2025-04-16"},
    },
    "search": {
        "title": "Search: Milan",
        "description": "Citadel: Diana · Filmed in: Milan [1]",
        "color": 0x1F3A5F,
        "footer": {"text": "Sources: [1] ottplay.com, 2024-09-11"},
    },
    "choices": [{"name": "Citadel: Diana", "value": "diana"}],
}


def load_answers(
    environ: dict[str, str],
) -> tuple[discord.Embed, discord.ui.View, discord.Embed, list[app_commands.Choice[str]]]:
    """The constant answers, from FLOOR_ANSWERS if set, built once."""
    answers = DEFAULT_ANSWERS
    if environ.get("FLOOR_ANSWERS"):
        answers = json.loads(Path(environ["FLOOR_ANSWERS"]).read_text(encoding="utf-8"))
    choices = [app_commands.Choice(name=c["name"], value=c["value"]) for c in answers["choices"]]
    buttons = discord.ui.View(timeout=None)
    for button in answers.get("diana_buttons", []):
        buttons.add_item(
            discord.ui.Button(
                label=button["label"],
                style=discord.ButtonStyle(button["style"]),
                custom_id=button["custom_id"],
            )
        )
    buttons.stop()
    diana, search = discord.Embed.from_dict(answers["diana"]), discord.Embed.from_dict(answers["search"])
    return diana, buttons, search, choices


DIANA, DIANA_BUTTONS, SEARCH, CHOICES = load_answers(dict(os.environ))
NO_MENTIONS = discord.AllowedMentions.none()


class Citadel(app_commands.Group):
    """/citadel with the three subcommands the benchmark sends."""

    def __init__(self) -> None:
        super().__init__(name="citadel", description="Facts about Prime Video's Citadel and its spin-offs")

    @app_commands.command(
        name="diana", description="The Italian spin-off (2024), starring Matilda De Angelis"
    )
    async def diana(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=DIANA, view=DIANA_BUTTONS, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="search", description="Find facts by their text across all entries")
    async def search(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 100]) -> None:
        await interaction.response.send_message(embed=SEARCH, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="show", description="Show what is known about any Citadel series or spin-off")
    async def show(self, interaction: discord.Interaction, entry: app_commands.Range[str, 1, 100]) -> None:
        await interaction.response.send_message(embed=DIANA, view=DIANA_BUTTONS, allowed_mentions=NO_MENTIONS)

    @show.autocomplete("entry")
    async def show_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return CHOICES


def shard_settings(environ: dict[str, str]) -> tuple[int | None, list[int] | None]:
    """SHARD_COUNT and SHARD_IDS as citadel-bot reads them (both empty: Discord's recommendation)."""
    count = int(environ["SHARD_COUNT"]) if environ.get("SHARD_COUNT") else None
    ids = [int(p) for p in environ.get("SHARD_IDS", "").split(",") if p.strip()] or None
    return count, ids


class FloorBot(commands.AutoShardedBot):
    """citadel-bot's client configuration (or discord.py's defaults) and nothing else."""

    def __init__(
        self, *, defaults: bool, guilds: bool = True, shard_count: int | None, shard_ids: list[int] | None
    ) -> None:
        if defaults:
            super().__init__(
                command_prefix=commands.when_mentioned,
                help_command=None,
                intents=discord.Intents.default(),
                shard_count=shard_count,
                shard_ids=shard_ids,
            )
        else:
            intents = discord.Intents.none()
            intents.guilds = guilds
            super().__init__(
                command_prefix=commands.when_mentioned,
                help_command=None,
                intents=intents,
                allowed_mentions=discord.AllowedMentions.none(),
                member_cache_flags=discord.MemberCacheFlags.none(),
                max_messages=None,
                chunk_guilds_at_startup=False,
                shard_count=shard_count,
                shard_ids=shard_ids,
            )

    async def setup_hook(self) -> None:
        self.tree.add_command(Citadel())
        await self.tree.sync()  # every start: it is the floor, not a bot anyone runs


def point_at(environ: dict[str, str]) -> None:
    """Send REST and gateway traffic where DISCORD_API_BASE and DISCORD_GATEWAY_URL say, like bot/client.py."""
    if environ.get("DISCORD_API_BASE"):
        discord.http.Route.BASE = environ["DISCORD_API_BASE"].rstrip("/")
    if environ.get("DISCORD_GATEWAY_URL"):
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
            environ["DISCORD_GATEWAY_URL"].rstrip("/")
        )


async def run(environ: dict[str, str]) -> None:
    point_at(environ)
    shard_count, shard_ids = shard_settings(environ)
    defaults = environ.get("FLOOR_DEFAULTS", "") not in ("", "0")
    intents = environ.get("FLOOR_INTENTS", "guilds")
    if intents not in ("guilds", "none"):
        raise SystemExit(f"floor_bot: FLOOR_INTENTS must be guilds or none, not {intents!r}")
    async with FloorBot(
        defaults=defaults, guilds=intents == "guilds", shard_count=shard_count, shard_ids=shard_ids
    ) as bot:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
        await bot.start(environ["DISCORD_TOKEN"])


def main() -> int:
    environ = dict(os.environ)
    logging.basicConfig(
        level=environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if not environ.get("DISCORD_TOKEN"):
        print("floor_bot: DISCORD_TOKEN is not set.", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
