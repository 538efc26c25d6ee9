"""The bot itself: a commands.Bot with no privileged intents and no caches, the services it owns, the
scheduler's way of sending through discord.py, and command sync."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.announcer import Announcer, Outgoing, PremiereEvent
from bot.backup import BackupSchedule
from bot.clock import SystemClock, Timer
from bot.config import Settings
from bot.health import HealthServer
from bot.i18n import CommandTranslator, catalogue_digest, reading
from bot.metrics import Metrics
from bot.pacing import Pacer
from bot.posts import CITADEL_COMMAND_KEY, Posts
from bot.presence import Presence
from bot.services import Announcements, Catalogue, Curation, Follows, Reminders
from bot.store import Store
from bot.store.servers import Shards
from bot.tree import CitadelTree
from bot.watcher import Proposal, Watcher, readers

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.citadel", "cogs.curation", "cogs.review", "cogs.announce")
TREE_DIGEST_KEY = "command_tree_digest"
# A graceful stop (SIGTERM, SIGINT) gives posts being sent this long to finish, and interactions being
# answered this long (Discord waits 3 s for an answer), so the process is gone well within 10 s.
POST_GRACE = 5.0
INTERACTION_GRACE = 3.0


def point_at(settings: Settings) -> None:
    """Send REST and gateway traffic to the configured endpoints (a local fake Discord in tests)."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def tree_digest(
    tree: app_commands.CommandTree, application_id: int | None, guild_ids: tuple[int, ...]
) -> str:
    """A hash of what a sync would send, so unchanged commands are never re-synced: the commands, and
    the catalogue files their translations come from (hashed as bytes, not translated: a start whose
    commands did not change reads no catalogue)."""
    payload = {
        "application": application_id,
        "global": [cmd.to_dict(tree) for cmd in tree.get_commands()],
        "guilds": {
            str(g): [cmd.to_dict(tree) for cmd in tree.get_commands(guild=discord.Object(g))]
            for g in guild_ids
        },
        "translations": catalogue_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def configured_shards(settings: Settings) -> Shards | None:
    """The shards a process with these settings owns, or None when it runs them all (SHARD_IDS unset)."""
    if settings.shard_ids is None or not settings.shard_count:
        return None
    return Shards(settings.shard_count, settings.shard_ids)


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
        presence: Presence | None = None,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # enough for slash commands; nothing privileged
        # Sees every REST request and response (through discord.py's HTTP trace) to pace posts by them.
        pacer = Pacer(ceiling=settings.announce_rate)
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
            # discord.py types shard_ids as a list, but its default (all shards) is None.
            shard_ids=list(settings.shard_ids) if settings.shard_ids is not None else None,  # type: ignore[arg-type]
            http_trace=pacer.trace,
        )
        self.pacer = pacer
        _read_in_the_members_language(self._connection)
        self.settings = settings
        self.store = store
        self.clock: Timer = clock or SystemClock()
        self.metrics = Metrics()  # served on /metrics with HTTP_PORT (bot/health.py)
        self.health: HealthServer | None = None  # /healthz and /metrics, started in setup_hook
        self.force_sync = force_sync
        self.synced = False  # whether this start sent the command tree to Discord
        self.sync_finished = asyncio.Event()  # set once this start's sync succeeded, failed or was not needed
        self._syncing: asyncio.Task[None] | None = None
        # The services: cogs receive them from here and never find each other.
        self.catalogue = Catalogue(
            store, self.clock, default_time=settings.default_premiere_time, public_url=settings.public_url
        )
        self.curation = Curation(store, self.catalogue, self.clock)
        posts = Posts(store, settings.default_premiere_time)
        # This process in the store's register: its name is on every delivery it claims.
        self.presence = presence or Presence(store, self.clock, configured_shards(settings))
        self.announcer = Announcer(
            store,
            self.clock,
            DiscordSender(self),
            posts,
            settle=timedelta(seconds=settings.update_settle_seconds),
            pacer=pacer,
            shards=self.own_shards,
            ready=self._ready_to_announce,
            owner=self.presence.name,
            on_posted=self.metrics.posted,
        )
        self.announcements = Announcements(store, posts, self.announcer.poke)
        self.reminders = Reminders(store, self.clock, settings.default_premiere_time, self.announcer.poke)
        # The watcher of public sources, made in setup_hook (it reads through its own HTTP session).
        self.watcher: Watcher | None = None
        self._sources_session: aiohttp.ClientSession | None = None
        self.follows = Follows(store, self.catalogue)
        # The buttons that go with a post about an entry (its Follow button), set by the cog that
        # answers them (cogs/citadel.py), so the scheduler's posts carry them without importing a cog.
        self.post_buttons: Callable[[str], discord.ui.View] | None = None
        # Rotating backups (BACKUP_DIR), kept by the process that runs shard 0 only.
        self.backups: BackupSchedule | None = None

    def own_shards(self) -> Shards | None:
        """The shards this process owns, or None when it runs them all (SHARD_IDS unset)."""
        return configured_shards(self.settings)

    async def _ready_to_announce(self) -> None:
        await self.wait_until_ready()
        await self.sync_finished.wait()  # posts link to /citadel <entry> by the synced command's id

    async def setup_hook(self) -> None:
        if not self.presence.joined:  # `python -m bot` joins before logging in, to refuse a bad store first
            await self.presence.join()
        self.presence.start()
        await self.catalogue.open()
        # Command names and descriptions in seven languages besides English (bot/i18n.py).
        await self.tree.set_translator(CommandTranslator())
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
        if self.settings.watch_interval_hours and not self.force_sync:
            self._sources_session = aiohttp.ClientSession()
            self.watcher = Watcher(
                self.store,
                self.clock,
                readers(self._sources_session, self.settings),
                interval=timedelta(hours=self.settings.watch_interval_hours),
                proposed=self._proposed,
                ready=self.wait_until_ready,  # its proposals are posted for review as they are filed
                on_round=self.metrics.watcher_round,
            )
            self.watcher.start()
        # A PostgreSQL store (no file: store.path is None) is backed up with pg_dump; config refuses BACKUP_DIR.
        keeps_backups = (self.settings.shard_ids is None or 0 in self.settings.shard_ids) and self.store.path is not None
        if self.settings.backup_dir is not None and not self.force_sync and keeps_backups:
            assert self.store.path is not None
            self.backups = BackupSchedule(
                self.store.path,
                self.settings.backup_dir,
                timedelta(hours=self.settings.backup_every_hours),
                self.settings.backup_keep,
                self.clock,
            )
            self.backups.start()
        if self.settings.http_port is not None and not self.force_sync:
            # A port it cannot have stops the start with one line naming HTTP_PORT (a ConfigError).
            from bot.web.site import Site  # only with a port: its templates and formats cost memory

            site = Site(self.catalogue, self.clock, self.settings.public_url)  # the public page, on the same port
            self.health = HealthServer(
                self, self.metrics, self.settings.http_host, self.settings.http_port, routes=site.add_routes
            )
            await self.health.start()

    def _proposed(self, proposal: Proposal) -> None:
        # The review cog puts it in front of the moderators, as it does members' suggestions.
        self.dispatch("suggestion_made", proposal.suggestion, proposal.current)

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

    async def stop_gracefully(self) -> GracefulStop:
        """Stop taking new work and finish what is under way, within bounds: the posts being sent get
        POST_GRACE seconds (the rest are released for the next start), the interactions being answered
        get INTERACTION_GRACE; then everything closes."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        posts, unanswered = await asyncio.gather(
            self.announcer.stop(grace=POST_GRACE), _finish_interactions(INTERACTION_GRACE)
        )
        await self.close()
        left = (await self.store.outbox.status_counts(self.own_shards()))["pending"]
        return GracefulStop(
            loop.time() - started, posts.finished, posts.cut_off, posts.released, left, unanswered
        )

    async def close(self) -> None:
        if self.health is not None:
            await self.health.stop()
        if self._syncing is not None:
            self._syncing.cancel()  # a sync cut short is not recorded, so the next start syncs again
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing
        await self.announcer.stop()
        if self.watcher is not None:
            await self.watcher.stop()
        if self._sources_session is not None:
            await self._sources_session.close()
        if self.backups is not None:
            await self.backups.stop()
        self.catalogue.close()
        with contextlib.suppress(Exception):  # gone from the register, or stale there within STALE
            await self.presence.leave()
        await super().close()

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync global and home-guild commands if the tree changed since the last sync (or if forced)."""
        guild_ids = self.settings.home_guild_ids
        digest = tree_digest(self.tree, self.application_id, guild_ids)
        if not force and await self.store.meta.get(TREE_DIGEST_KEY) == digest:
            log.info("commands unchanged since the last sync; not syncing")
            return False
        synced = await self.tree.sync()
        citadel = next((c for c in synced if c.name == "citadel"), None)
        if citadel is not None:  # posts link to /citadel <entry> as a clickable command mention
            await self.store.meta.set(CITADEL_COMMAND_KEY, str(citadel.id))
        for guild_id in guild_ids:
            await self.tree.sync(guild=discord.Object(guild_id))
        await self.store.meta.set(TREE_DIGEST_KEY, digest)
        self.synced = True
        log.info("synced commands (global and %d home servers)", len(guild_ids))
        return True

    async def on_ready(self) -> None:
        # Fires again after every reconnect, so nothing is started here.
        log.info("ready as %s in %d servers", self.user, len(self.guilds))


# discord.py runs each interaction's handler as a task with one of these names (pinned: discord.py 2.7).
_INTERACTION_TASKS = ("CommandTree-invoker", "discord-ui-view-dispatch-", "discord-ui-modal-dispatch-")


async def _finish_interactions(grace: float) -> int:
    """Wait up to `grace` seconds for the interactions being handled to be answered; how many were not."""
    handling = {
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and task.get_name().startswith(_INTERACTION_TASKS)
    }
    if not handling:
        return 0
    _, pending = await asyncio.wait(handling, timeout=grace)
    return len(pending)


@dataclass(frozen=True)
class GracefulStop:
    """What a graceful stop did, for its one log line."""

    seconds: float
    finished: int  # posts that were being sent and were sent
    cut_off: int  # posts Discord had not answered within POST_GRACE (released, retried with their nonce)
    released: int  # claimed posts handed back, unsent, for the next start
    left: int  # posts still pending for this process's shards (the released ones among them)
    unanswered: int  # interactions still being handled when the bot closed

    def line(self, signal_name: str) -> str:
        return (
            f"stopped on {signal_name} in {self.seconds:.1f} s: posts in flight: {self.finished} sent, "
            f"{self.cut_off} cut off unanswered after {POST_GRACE:g} s; {self.left} pending posts are left for "
            f"the next start ({self.released} claims released); interactions cut off while being answered: "
            f"{self.unanswered}"
        )


def _read_in_the_members_language(connection: Any) -> None:
    """Everything made while handling an interaction (a command, its autocomplete, a button, a form) is in
    the member's language: discord.py starts each handler's task while it parses INTERACTION_CREATE,
    and a task keeps the reader that was set when it started (bot/i18n.py). One wrapper around that
    parser (pinned: discord.py 2.7 keeps its parsers in `ConnectionState.parsers`)."""
    parse = connection.parsers["INTERACTION_CREATE"]

    def parse_in_language(data: dict[str, Any]) -> None:
        with reading(data.get("locale")):
            parse(data)

    connection.parsers["INTERACTION_CREATE"] = parse_in_language


def bot_of(interaction: discord.Interaction) -> CitadelBot:
    """The bot an interaction came to, typed: how cogs, forms and options reach its services."""
    bot = interaction.client
    assert isinstance(bot, CitadelBot)
    return bot


class DiscordSender:
    """How the scheduler posts and keeps premiere events, through discord.py's own API."""

    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot

    async def post(self, guild_id: int | None, channel_id: int, message: Outgoing) -> int:
        channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
        buttons = self.bot.post_buttons
        sent = await channel.send(
            content=message.content,
            embed=message.embed,
            nonce=message.nonce,
            allowed_mentions=message.allowed_mentions,
            view=buttons(message.entry_slug) if buttons and message.entry_slug else discord.utils.MISSING,
        )
        return sent.id

    async def open_dm(self, user_id: int) -> int:
        # The REST call itself (discord.py's create_dm would keep the channel in its cache): the store
        # keeps the channel's id, so a member's DM channel is opened once, not before every DM.
        data = await self.bot.http.start_private_message(user_id)
        return int(data["id"])

    async def _guild(self, guild_id: int) -> discord.Guild:
        return self.bot.get_guild(guild_id) or await self.bot.fetch_guild(guild_id)

    async def create_event(self, guild_id: int, event: PremiereEvent) -> int:
        guild = await self._guild(guild_id)
        created = await guild.create_scheduled_event(
            name=event.name,
            start_time=event.start,
            end_time=event.end,
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location=event.location,
            description=event.description,
        )
        return created.id

    async def _event(self, guild_id: int, event_id: int) -> discord.ScheduledEvent:
        # Events the server had when the bot connected came with GUILD_CREATE; later ones are fetched
        # (without the scheduled-events intent the cache never hears of them).
        guild = await self._guild(guild_id)
        return guild.get_scheduled_event(event_id) or await guild.fetch_scheduled_event(
            event_id, with_counts=False
        )

    async def move_event(self, guild_id: int, event_id: int, event: PremiereEvent) -> None:
        await (await self._event(guild_id, event_id)).edit(start_time=event.start, end_time=event.end)

    async def cancel_event(self, guild_id: int, event_id: int) -> None:
        await (await self._event(guild_id, event_id)).cancel()

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        await (await self._event(guild_id, event_id)).delete()

    def server_locale(self, guild_id: int) -> str | None:
        guild = self.bot.get_guild(guild_id)  # every server of the process's shards is cached
        return guild.preferred_locale.value if guild else None

    async def uncompleted_events(self, guild_id: int) -> set[int]:
        guild = await self._guild(guild_id)
        events = await guild.fetch_scheduled_events(with_counts=False)
        return {
            e.id for e in events if e.status in (discord.EventStatus.scheduled, discord.EventStatus.active)
        }
