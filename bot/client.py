"""The bot itself: a commands.Bot with no privileged intents and no caches, its error handling, and command sync."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.announcer import CITADEL_COMMAND_KEY, Announcer
from bot.clock import SystemClock, Timer
from bot.config import Settings
from bot.store import Store

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.citadel", "cogs.curation", "cogs.review", "cogs.announce")
TREE_DIGEST_KEY = "command_tree_digest"


def point_at(settings: Settings) -> None:
    """Send REST and gateway traffic to the configured endpoints (a local fake Discord in tests)."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def reply_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Say one line only the user sees, through whichever channel is still open."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException as exc:  # the interaction expired or was answered elsewhere
        log.warning("could not tell the user about an error: %s", exc)


class Refused(app_commands.CheckFailure):
    """A check refused the user; the message says why and is shown to them as it is."""


class CitadelTree(app_commands.CommandTree):
    """Maps every error to one short ephemeral sentence; unexpected ones are logged with their traceback."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        if interaction.type is discord.InteractionType.autocomplete:
            log.exception("autocomplete for /%s failed", command, exc_info=error)
            return
        if isinstance(error, app_commands.CommandOnCooldown):
            message = f"Slow down a little: try again in {error.retry_after:.0f} seconds."
        elif isinstance(error, app_commands.MissingPermissions):
            message = f"You need the {', '.join(error.missing_permissions)} permission to do that."
        elif isinstance(error, Refused):
            message = str(error)
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = "That only works in a server."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You can't use that command here."
        elif isinstance(error, app_commands.TransformerError):
            message = f"I couldn't read “{error.value}”; check the option and try again."
        elif isinstance(error, app_commands.CommandNotFound):
            message = (
                "That command isn't available here; Discord may take a minute to refresh your command list."
            )
        else:
            log.error("/%s failed", command, exc_info=error)
            message = "Something went wrong on our side and it has been logged. Please try again in a minute."
        await reply_ephemeral(interaction, message)


def tree_digest(
    tree: app_commands.CommandTree, application_id: int | None, guild_ids: tuple[int, ...]
) -> str:
    """A hash of exactly what a sync would send, so unchanged commands are never re-synced."""
    payload = {
        "application": application_id,
        "global": [cmd.to_dict(tree) for cmd in tree.get_commands()],
        "guilds": {
            str(g): [cmd.to_dict(tree) for cmd in tree.get_commands(guild=discord.Object(g))]
            for g in guild_ids
        },
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class CitadelBot(commands.AutoShardedBot):
    """The bot. Resources (settings, an open store, a clock) are passed in and outlive it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Timer | None = None,
        force_sync: bool = False,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # enough for slash commands; nothing privileged
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            tree_cls=CitadelTree,
            allowed_mentions=discord.AllowedMentions.none(),
            member_cache_flags=discord.MemberCacheFlags.none(),
            max_messages=None,
            chunk_guilds_at_startup=False,
            guild_ready_timeout=guild_ready_timeout,
            # None and None: Discord's recommended shard count, all in this process.
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids) if settings.shard_ids is not None else None,
        )
        self.settings = settings
        self.store = store
        self.clock: Timer = clock or SystemClock()
        self.force_sync = force_sync
        self.synced = False  # whether this start sent the command tree to Discord
        self.sync_finished = asyncio.Event()  # set once this start's sync succeeded, failed or was not needed
        self._syncing: asyncio.Task[None] | None = None
        self.announcer = Announcer(self)

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.force_sync:  # `python -m bot sync`: the sync is the whole job; its errors are the operator's
            await self.sync_commands(force=True)
            self.sync_finished.set()
        else:
            # The commands Discord already has keep working meanwhile, so the gateway connects at once
            # instead of after the sync's round trips.
            self._syncing = asyncio.create_task(self._sync_in_background(), name="command sync")
        self.announcer.start()  # it waits for the gateway and the sync before its first step

    async def _sync_in_background(self) -> None:
        try:
            await self.sync_commands()
        except discord.HTTPException as exc:
            log.error(
                "Discord refused the command sync: %s. The commands it already has keep working; the next "
                "start (or `python -m bot sync`) tries again",
                exc,
            )
        except Exception:
            log.exception("the command sync failed; the next start tries again")
        finally:
            self.sync_finished.set()

    async def close(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()  # a sync cut short is not recorded, so the next start syncs again
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing
        await self.announcer.stop()
        await super().close()

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync global and home-guild commands if the tree changed since the last sync (or if forced)."""
        guild_ids = self.settings.home_guild_ids
        digest = tree_digest(self.tree, self.application_id, guild_ids)
        if not force and await self.store.get_meta(TREE_DIGEST_KEY) == digest:
            log.info("commands unchanged since the last sync; not syncing")
            return False
        synced = await self.tree.sync()
        citadel = next((c for c in synced if c.name == "citadel"), None)
        if citadel is not None:  # posts link to /citadel <entry> as a clickable command mention
            await self.store.set_meta(CITADEL_COMMAND_KEY, str(citadel.id))
        for guild_id in guild_ids:
            await self.tree.sync(guild=discord.Object(guild_id))
        await self.store.set_meta(TREE_DIGEST_KEY, digest)
        self.synced = True
        log.info("synced commands (global and %d home servers)", len(guild_ids))
        return True

    async def on_ready(self) -> None:
        # Fires again after every reconnect, so nothing is started here.
        log.info("ready as %s in %d servers", self.user, len(self.guilds))


def editor_check(interaction: discord.Interaction) -> bool:
    """The server-side guard of every editing command and review button: the bot's home server, and
    Manage Server or the editor role. Discord's command permissions can be overridden by a server's
    admins, so they never decide alone."""
    client = interaction.client
    settings: Settings = client.settings  # type: ignore[attr-defined]
    if interaction.guild_id is None or interaction.guild_id not in settings.home_guild_ids:
        raise Refused("Editing the facts works only in the bot's home server.")
    if interaction.permissions.manage_guild:
        return True
    member = interaction.user
    role_id = settings.editor_role_id
    if role_id and isinstance(member, discord.Member) and member.get_role(role_id) is not None:
        return True
    raise Refused("Only moderators can do that: it needs the Manage Server permission or the editor role.")


def who(user: discord.abc.User) -> str:
    """How a revision names the person who made it."""
    return f"{user.name} ({user.id})"
