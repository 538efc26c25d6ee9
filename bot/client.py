"""The bot itself: a commands.Bot with no privileged intents and no caches, the services it owns, the
scheduler's way of sending through discord.py, and command sync."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sys
from collections import OrderedDict
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
from bot.gateway import (
    IDENTIFY_SPACING,
    LEASE,
    SessionKeeper,
    ShardLeaser,
    ShardSessions,
    resume_shard,
    stop_shard,
)
from bot.health import HealthServer
from bot.i18n import CommandTranslator, catalogue_digest, read_as, stop_reading
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


def _not_the_guilds_intent_warning(record: logging.LogRecord) -> bool:
    # discord.py warns at every start that the guilds intent is off: for this bot that is the design.
    return not record.getMessage().startswith("Guilds intent seems to be disabled")


logging.getLogger("discord.state").addFilter(_not_the_guilds_intent_warning)

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
        # No intents at all: slash commands, buttons and forms need none, and without GUILDS Discord sends
        # no GUILD_CREATE, so the bot keeps no copy of its servers (memory, and a RESUMEd start that
        # gets no guilds works the same as an IDENTIFYed one). Interactions carry what commands need.
        intents = discord.Intents.none()
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
        _keep_no_servers(self._connection)
        # Which shards are live (READY or RESUMED), and their sessions kept across restarts (bot/gateway.py).
        self.gateway = ShardSessions(self.own_shard_ids)
        self.gateway.attach(self)
        self._last_identify: float | None = None
        # The shards this process runs, once it has taken their leases: the list discord.py reads (its
        # client's and its state's shard_ids), and the same as a set and sorted (see _follow_leased).
        self._leased: list[int] | None = None
        self._running: frozenset[int] | None = None
        self._running_ids: tuple[int, ...] = ()
        self.settings = settings
        self.store = store
        self.clock: Timer = clock or SystemClock()
        self.sessions = SessionKeeper(self, store, self.clock)
        self.metrics = Metrics()  # served on /metrics with HTTP_PORT (bot/health.py)
        self.health: HealthServer | None = None  # /healthz and /metrics, started in setup_hook
        self.force_sync = force_sync
        self.synced = False  # whether this start sent the command tree to Discord
        self.sync_finished = asyncio.Event()  # set once this start's sync succeeded, failed or was not needed
        self._syncing: asyncio.Task[None] | None = None
        self._connected_event: asyncio.Task[None] | None = None
        # The services: cogs receive them from here and never find each other.
        self.catalogue = Catalogue(
            store, self.clock, default_time=settings.default_premiere_time, public_url=settings.public_url
        )
        self.curation = Curation(store, self.catalogue, self.clock)
        posts = Posts(store, settings.default_premiere_time)
        # This process in the store's register: its name is on every delivery it claims.
        self.presence = presence or Presence(store, self.clock, configured_shards(settings))
        candidates = settings.shard_ids
        self.leaser = ShardLeaser(
            self, store, self.presence.name, lambda: candidates or range(self.shard_count or 0)
        )
        # Interactions are answered through a session of their own, with no trace (made at login).
        self.answers_session: aiohttp.ClientSession | None = None
        _parse_interactions_as_the_bot_answers(self)
        sender = DiscordSender(self)
        self.announcer = Announcer(
            store,
            self.clock,
            sender,
            posts,
            settle=timedelta(seconds=settings.update_settle_seconds),
            pacer=pacer,
            shards=self.own_shards,
            ready=self._ready_to_announce,
            owner=self.presence.name,
            on_posted=self.metrics.posted,
        )
        self.announcements = Announcements(store, posts, self.announcer.poke, sender.server_locale)
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
        """The shards this process runs now (those whose leases it holds); before it has any leases, those
        it may run (None: all of them)."""
        if self._running is None or not self.shard_count:
            return configured_shards(self.settings)
        return Shards(self.shard_count, self._running_ids)

    def own_shard_ids(self) -> list[int]:
        """The ids of the shards this process runs now (see own_shards), once their count is known."""
        if self._running is not None:
            return list(self._running_ids)
        return list(self.settings.shard_ids or range(self.shard_count or 0))

    def runs_shard(self, shard_id: int) -> bool:
        """Whether this process runs the shard now (every interaction asks: a set lookup)."""
        if self._running is not None:
            return shard_id in self._running
        return self.settings.shard_ids is None or shard_id in self.settings.shard_ids

    def took_shard(self, shard_id: int) -> None:
        """A shard's lease came to this process, which runs it from now. The process that ran it may have
        changed its servers' settings: what the store kept of them is dropped."""
        assert self._leased is not None  # launched
        self._leased.append(shard_id)
        self._follow_leased()
        self.store.servers.forget_kept()

    def dropped_shard(self, shard_id: int) -> None:
        """This process no longer runs the shard (stopped here, its lease given up or lost)."""
        if self._leased is not None and shard_id in self._leased:
            self._leased.remove(shard_id)
            self._follow_leased()

    def _follow_leased(self) -> None:
        """What own_shards, own_shard_ids and runs_shard read follows the leased list."""
        assert self._leased is not None
        self._running = frozenset(self._leased)
        self._running_ids = tuple(sorted(self._running))

    def standing_by(self) -> bool:
        """Whether this process runs no shard, because other processes hold the leases of all it may run."""
        return self._running is not None and not self._running

    async def launch_shards(self) -> None:
        """discord.py's own launch_shards (pinned: 2.7), but only for the shards whose leases this process
        takes: SHARD_IDS (or every shard) that no live process holds. With none, it stands by, and the
        leaser starts any that come free (bot/gateway.py)."""
        if self.is_closed():
            return
        if self.shard_count is None:
            self.shard_count, gateway_url, _limits = await self.http.get_bot_gateway()
            gateway = yarl.URL(gateway_url)
        else:
            gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        self._connection.shard_count = self.shard_count
        # One list for discord.py (the client's and its state's shard_ids); took_shard and dropped_shard change it.
        self._leased = sorted(await self.leaser.hold())
        self.shard_ids = self._connection.shard_ids = self._leased
        self._follow_leased()
        if not self._leased:
            log.info("standing by: every shard this process may run has a live owner")
        # Renewed from now on: IDENTIFYs go 5 s apart (100 shards take 495 s), and leases left unrenewed
        # that long would leave the shards already up unanswered after FENCE, then go to a standby.
        self.leaser.start(gateway)
        for index, shard_id in enumerate(list(self._leased)):
            if not self.runs_shard(shard_id):
                continue  # its lease went meanwhile
            await self.launch_shard(gateway, shard_id, initial=index == 0)
            if not self.runs_shard(shard_id):  # it went while the shard waited for its turn to IDENTIFY
                await stop_shard(self, shard_id)

    async def wait_until_connected(self) -> None:
        """Until every shard of this process has had READY or RESUMED once (not discord.py's
        wait_until_ready, which a RESUMEd start never reaches)."""
        await self.gateway.connected.wait()

    async def _ready_to_announce(self) -> None:
        await self.wait_until_connected()
        await self.sync_finished.wait()  # posts link to /citadel <entry> by the synced command's id

    async def setup_hook(self) -> None:
        # discord.py's session (made at login) has the pacer's trace; answers share its connections only.
        self.answers_session = aiohttp.ClientSession(
            connector=self.http.connector, connector_owner=False, cookie_jar=aiohttp.DummyCookieJar()
        )
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
        self.sessions.start()
        self._connected_event = asyncio.create_task(self._dispatch_connected(), name="connected event")
        if self.settings.watch_interval_hours and not self.force_sync:
            self._sources_session = aiohttp.ClientSession()
            self.watcher = Watcher(
                self.store,
                self.clock,
                readers(self._sources_session, self.settings),
                interval=timedelta(hours=self.settings.watch_interval_hours),
                proposed=self._proposed,
                ready=self.wait_until_connected,  # its proposals are posted for review as they are filed
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

            site = Site(
                self.catalogue, self.clock, self.settings.public_url
            )  # the public page, on the same port
            self.health = HealthServer(
                self, self.metrics, self.settings.http_host, self.settings.http_port, routes=site.add_routes
            )
            await self.health.start()

    async def _dispatch_connected(self) -> None:
        await self.wait_until_connected()
        self.dispatch("gateway_connected")  # once a start: what waits for the gateway (the review cog)

    async def launch_shard(self, gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        """A shard whose session the last run saved RESUMEs it (no 5-second IDENTIFY spacing);
        any other shard IDENTIFYs, as discord.py does."""
        saved = await self.sessions.saved_session(shard_id)
        if saved is not None and await resume_shard(self, saved):
            log.info("shard %d: resuming its session from the last run", shard_id)
            self.sessions.resumed.add(shard_id)
            return
        await super().launch_shard(gateway, shard_id, initial=initial)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord allows one IDENTIFY per IDENTIFY_SPACING seconds (max_concurrency 1): wait out the
        last IDENTIFY's spacing, not discord.py's fixed 5 s before every IDENTIFY but the first (after
        RESUMEs, the first shard to IDENTIFY need not wait)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = now if self._last_identify is None else max(now, self._last_identify + IDENTIFY_SPACING)
        self._last_identify = at
        if at > now:
            await asyncio.sleep(at - now)

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
        if self._connected_event is not None:
            self._connected_event.cancel()
        try:  # sockets closed so that Discord keeps the sessions, which the next start RESUMEs
            saved = await self.sessions.stop()
            log.info("saved %d gateway sessions for the next start", saved)
        except Exception as exc:  # the next start IDENTIFYs: slower, never wrong
            log.warning("could not save the gateway sessions (%s); the next start identifies afresh", exc)
        try:  # a standby takes the shards now rather than when the leases run out
            await self.leaser.stop()
        except Exception as exc:
            log.warning("could not give up the shard leases (%s); they run out within %s", exc, LEASE)
        with contextlib.suppress(Exception):  # gone from the register, or stale there within STALE
            await self.presence.leave()
        await super().close()
        if self.answers_session is not None:
            await self.answers_session.close()

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

    async def on_gateway_connected(self) -> None:
        resumed = len(self.sessions.resumed)
        log.info(
            "connected as %s: %d shards, %d of them resumed", self.user, len(self.own_shard_ids()), resumed
        )


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


def _keep_no_servers(connection: Any) -> None:
    """READY lists the shard's servers (as unavailable, with nothing else in them); discord.py would keep
    an empty Guild for each, 1.3 KB a server (130 MB at 100,000) that nothing here reads: an interaction
    brings its own, and the scheduler reaches servers by id. One
    wrapper around that parser (pinned: discord.py 2.7 keeps its parsers in `ConnectionState.parsers`)."""
    parse = connection.parsers["READY"]

    def parse_without_servers(data: dict[str, Any]) -> None:
        parse({**data, "guilds": []})

    connection.parsers["READY"] = parse_without_servers


SERVERS_KEPT = 1_000  # servers whose Guilds KeptServers keeps (1.5 KB each)


class KeptServers:
    """The last SERVERS_KEPT servers that had an interaction, each with the empty Guild (and the bot's
    Member in it) discord.py looks for when it parses one, in discord.py's own `_guilds` (pinned:
    discord.py 2.7 makes a Guild it does not find there afresh for every interaction, and keeps none).
    The bot keeps no copy of its servers, so the one whose interaction came longest ago goes.

    A server new to the kept ones takes over the Guild of the one that goes, unless anything but that
    Guild's own bot Member still refers to it: a Guild made from nothing but its id, with the bot's
    Member in it, and nothing else to change it (no intent, so no event about servers), is the same
    for any server but its id. Making a Guild, its Member and collecting the one that went took a
    twentieth of every answer in a server not kept; an interaction still being handled (or a message,
    channel or member one made) refers to its Guild, which then stays its own."""

    def __init__(self, connection: Any) -> None:
        self._guilds: dict[int, discord.Guild] = connection._guilds
        self._make: Callable[[dict[str, Any]], discord.Guild] = connection._add_guild_from_data
        self._order: OrderedDict[int, None] = OrderedDict()

    def keep(self, server: int) -> None:
        order = self._order
        if server in order:
            order.move_to_end(server)
            return
        order[server] = None
        if len(order) > SERVERS_KEPT:
            gone = self._guilds.pop(order.popitem(last=False)[0], None)
            if gone is not None and _referred_to_by_its_member_only(gone):
                gone.id = server
                self._guilds[server] = gone
                return
        self._make({"id": server, "unavailable": True})


def _referred_to_by_its_member_only(guild: discord.Guild) -> bool:
    """Whether `guild`, just taken out of discord.py's servers, holds nothing but the bot's Member and
    nothing refers to either but each other (CPython's reference counts)."""
    members = guild._members
    if len(members) != 1 or guild._channels or guild._threads or guild._voice_states:
        return False
    (me,) = members.values()
    # `guild`: this frame, KeptServers.keep's, getrefcount's argument and me.guild;
    # `me`: this frame, `members` and getrefcount's argument.
    return sys.getrefcount(guild) == 4 and sys.getrefcount(me) == 3


def _parse_interactions_as_the_bot_answers(bot: CitadelBot) -> None:
    """What the bot does with every INTERACTION_CREATE before discord.py parses it, in one wrapper around
    that parser (pinned: discord.py 2.7 keeps its parsers in `ConnectionState.parsers`, parses there
    synchronously, and gives each Interaction the session `HTTPClient` holds at that moment):

    - **only while leased:** an interaction is handled only if it came for a shard whose lease this
      process surely holds: one that could not renew its leases for a while (its store unreachable, the
      process frozen) may have lost them to another process, which then answers; and a shard it just
      stopped may still be delivering;
    - **in the member's language:** everything made while handling it (a command, its autocomplete, a
      button, a form) is in the member's language: discord.py starts each handler's task while it
      parses, and a task keeps the reader set when it started (bot/i18n.py);
    - **its server kept:** the last SERVERS_KEPT servers' Guilds are kept (KeptServers);
    - **answered through a session of its own:** the answer, its follow-ups and edits go out through
      `bot.answers_session`, which has no trace: Discord leaves them out of the global limit, so the
      pacer has nothing to count in them, and the trace's callbacks cost a tenth of every answer."""
    connection: Any = bot._connection
    parse = connection.parsers["INTERACTION_CREATE"]
    http = connection.http
    leaser = bot.leaser
    kept = KeptServers(connection)

    def parse_interaction(data: dict[str, Any]) -> None:
        guild_id = data.get("guild_id")
        server = int(guild_id) if guild_id else None
        shard_id = (server >> 22) % (bot.shard_count or 1) if server is not None else 0  # DMs: shard 0
        if not (leaser.surely_ours() and bot.runs_shard(shard_id)):
            log.warning(
                "interaction %s left to the shard's next owner: the shard leases are not renewed",
                data.get("id"),
            )
            return
        if server is not None:
            kept.keep(server)
        traced = http._HTTPClient__session
        if bot.answers_session is not None:
            http._HTTPClient__session = bot.answers_session
        token = read_as(data.get("locale"))
        try:
            parse(data)
        finally:
            stop_reading(token)
            http._HTTPClient__session = traced

    connection.parsers["INTERACTION_CREATE"] = parse_interaction


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

    # A server's scheduled events through discord.py's REST calls by id: the bot keeps no copy of its
    # servers, and a Guild object would only be a way to reach these.

    async def create_event(self, guild_id: int, event: PremiereEvent) -> int:
        created = await self.bot.http.create_guild_scheduled_event(
            guild_id,
            name=event.name,
            scheduled_start_time=event.start.isoformat(),
            scheduled_end_time=event.end.isoformat(),
            entity_type=discord.EntityType.external.value,
            entity_metadata={"location": event.location},
            privacy_level=discord.PrivacyLevel.guild_only.value,
            description=event.description,
        )
        return int(created["id"])

    async def move_event(self, guild_id: int, event_id: int, event: PremiereEvent) -> None:
        await self.bot.http.edit_scheduled_event(
            guild_id,
            event_id,
            scheduled_start_time=event.start.isoformat(),
            scheduled_end_time=event.end.isoformat(),
        )

    async def cancel_event(self, guild_id: int, event_id: int) -> None:
        await self.bot.http.edit_scheduled_event(
            guild_id, event_id, status=discord.EventStatus.cancelled.value
        )

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        await self.bot.http.delete_scheduled_event(guild_id, event_id)

    async def server_locale(self, guild_id: int) -> str | None:
        guild = await self.bot.fetch_guild(guild_id, with_counts=False)
        return guild.preferred_locale.value

    async def uncompleted_events(self, guild_id: int) -> set[int]:
        events = await self.bot.http.get_scheduled_events(guild_id, False)
        running = (discord.EventStatus.scheduled.value, discord.EventStatus.active.value)
        return {int(e["id"]) for e in events if e["status"] in running}
