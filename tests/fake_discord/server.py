"""FakeDiscord: the aiohttp server, its in-memory state, and the API tests use to drive and inspect it."""

# The waits take a deadline (`timeout`) that their TimeoutError names, with what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import socket
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yarl
from aiohttp import web

from . import openapi
from .gateway import Connection, GatewayHandler, Session
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    FIRST_GUILD,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    DefaultGuild,
    InteractionRecord,
    build_command_data,
    build_interaction,
    modal_submit_components,
)
from .payloads import (
    BOT_PERMISSIONS,
    DEFAULT_BOT_USER_ID,
    DEFAULT_OWNER_ID,
    DEFAULT_TESTER_ID,
    EVENT_ACTIVE,
    EVENT_EXTERNAL,
    EVENT_SCHEDULED,
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    GuildSpec,
    SnowflakeFactory,
    client_user_payload,
    dm_channel_payload,
    guild_channels,
    guild_create_payload,
    guild_roles,
    iso,
    member_payload,
    message_payload,
    role_payload,
    scheduled_event_payload,
    shard_for_guild,
    text_channel_payload,
    user_payload,
)
from .permissions import (
    ALL_PERMISSIONS,
    OVERWRITE_MEMBER,
    OVERWRITE_ROLE,
    base_permissions,
    channel_permissions,
    overwrite,
)
from .ratelimits import RateLimiter, RateLimits
from .rest import API_PREFIX, FailureRule, InvalidRequest, RequestRecord, RestAPI, SyncEvent, json_response
from .waiting import Changes

log = logging.getLogger(__name__)
T = TypeVar("T")
RESUME_WINDOW = 120.0  # seconds a closed session stays resumable (Discord does not publish its own)

GUILDS = 1 << 0
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
GUILD_SCHEDULED_EVENTS = 1 << 16

# (method, path below /api/v10, "global" or "user", time.time()) of every 429 the emulated limits gave.
RateLimitHit = tuple[str, str, str, float]


class Restore:
    """Undoes ``point_discord_py_here``; call it or use it as a context manager."""

    def __init__(self, undo: Callable[[], None]) -> None:
        self._undo = undo

    def __call__(self) -> None:
        self._undo()

    def __enter__(self) -> Restore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._undo()


class FakeDiscord:
    """Enough of Discord's gateway and REST API for a real discord.py client, over loopback.

    ``guilds`` is a count (deterministic snowflakes that spread evenly over shards, each with one
    text channel) or a list of GuildSpec.

    ``rate_limits=True`` emulates Discord's REST rate limits with Discord's numbers; a ``RateLimits``
    sets other numbers (see ratelimits.py for the model). Off by default.
    """

    def __init__(
        self,
        guilds: int | Sequence[GuildSpec] = 1,
        *,
        token: str = "fake-bot-token",
        application_id: int | None = None,
        bot_user_id: int = DEFAULT_BOT_USER_ID,
        bot_username: str = "citadel-bot",
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval_ms: int = 41250,
        interaction_window: float = 3.0,
        recommended_shards: int = 1,
        privileged_intents: int = 0,
        validate: bool = True,
        spec_path: Path | None = openapi.SPEC_PATH,
        rate_limits: bool | RateLimits = False,
    ) -> None:
        self.token = token
        self.bot_user_id = bot_user_id
        # Bots made since 2020 have the application id equal to the bot user id.
        self.application_id = application_id if application_id is not None else bot_user_id
        self.bot_user = client_user_payload(bot_user_id, bot_username)
        self.bot_user_public = user_payload(bot_user_id, bot_username, bot=True)
        self.tester = user_payload(DEFAULT_TESTER_ID, "tester")
        self.guild_owner_id = DEFAULT_OWNER_ID
        self.default_permissions = EVERYONE_PERMISSIONS  # the invoking member's, in interactions
        # The @everyone role and the bot's managed role as GUILD_CREATE sends them; change them before
        # the bot connects to take a permission away everywhere (e.g. Manage Events).
        self.everyone_permissions = EVERYONE_PERMISSIONS
        self.bot_permissions = BOT_PERMISSIONS
        self.host = host
        self.port = port
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_window = interaction_window
        self.recommended_shards = recommended_shards
        self.privileged_intents = privileged_intents
        self.spec = openapi.load_spec(spec_path) if validate else None
        self.joined_at = iso(1609459200)
        self.snowflake = SnowflakeFactory()

        if isinstance(guilds, int):
            self._guild_list = [GuildSpec.numbered(i) for i in range(guilds)]
        else:
            self._guild_list = list(guilds)
        self._guilds: dict[int, GuildSpec] = {g.id: g for g in self._guild_list}
        self._channel_guild: dict[int, GuildSpec] = {g.channel_id: g for g in self._guild_list}
        self._shard_indexes: dict[int, list[list[GuildSpec]]] = {}
        self._extra_channels: dict[int, dict[str, Any]] = {}
        for spec in self._guild_list:
            for channel in spec.extra_channels:
                self._extra_channels[int(channel["id"])] = dict(channel, guild_id=str(spec.id))
        self._dm_channels: dict[str, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {DEFAULT_TESTER_ID: self.tester}
        # Users who do not accept DMs from the bot (privacy settings, or they blocked it): Discord opens
        # the DM channel all the same, and refuses each message in it with 403 50007.
        self.closed_dms: set[int] = set()
        # Channel changes live here, not in the GuildSpecs: tests share GuildSpec constants between fakes.
        self._added_channels: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self._deleted_channels: set[int] = set()
        # guild id -> user id -> role ids beyond @everyone (and, for the bot, beyond its managed role).
        self.member_roles: defaultdict[int, dict[int, list[int]]] = defaultdict(dict)
        # Roles made after the guild's own (by the bot through POST /guilds/{id}/roles, or by a test as an
        # admin), oldest first; roles deleted since; positions a test moved roles to.
        self.created_roles: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.deleted_roles: set[int] = set()
        self.moved_roles: dict[int, int] = {}
        # guild id -> event id -> the event object as Discord returns it.
        self.scheduled_events: defaultdict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.held_replies: dict[int, asyncio.Event] = {}
        self.held_callbacks: asyncio.Event | None = None

        # What tests inspect.
        self.requests: list[RequestRecord] = []
        self.invalid_requests: list[InvalidRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.syncs: list[SyncEvent] = []
        self.messages: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.invalid_sessions: list[str] = []
        # As Discord does, a session stays resumable for a while after its socket closes; a RESUME later
        # than `resume_window` seconds is answered op 9 (not resumable). `monotonic` is the fake's
        # clock for it, which a test may replace.
        self.resume_window: float = RESUME_WINDOW
        self.monotonic: Callable[[], float] = time.monotonic
        self.heartbeats = 0
        self.gateway_compressions: list[str | None] = []  # the compress= of each websocket, in order
        self.other_gateway_ops: list[tuple[int, Any]] = []
        self.dispatch_counts: Counter[str] = Counter()  # gateway event name -> dispatches, all sessions
        self.errors: list[str] = []
        self.failure_rules: list[FailureRule] = []
        self.nonces: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}
        # Off: enforce_nonce is ignored and every send posts (as once Discord has forgotten the nonce).
        self.dedupe_nonces = True
        self.rate_limits: RateLimits | None = (
            rate_limits if isinstance(rate_limits, RateLimits) else RateLimits() if rate_limits else None
        )
        self.rate_limiter = RateLimiter(self.rate_limits) if self.rate_limits is not None else None
        self.rate_limited: list[RateLimitHit] = []
        # "METHOD /route/{template}" (or the raw path of an unknown route) -> time.time() of each request.
        self.request_times: defaultdict[str, list[float]] = defaultdict(list)

        # Gateway state.
        self.connections: set[Connection] = set()
        self.sessions: dict[str, Session] = {}
        self.shard_sessions: dict[int, Session] = {}
        self.connected = asyncio.Event()
        self.changes = Changes()
        self.background_tasks: set[asyncio.Task[Any]] = set()

        self._commands: dict[str | int, list[dict[str, Any]]] = {}
        self._message_index: dict[int, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.app = self._make_app()

    # --- lifecycle --------------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        from .control import add_control_routes

        app = web.Application(client_max_size=64 * 1024 * 1024)
        rest = RestAPI(self)
        add_control_routes(app, self)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", rest.handle)
        app.router.add_get("/", GatewayHandler(self).handle)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        self.unknown_routes.append((request.method, request.path))
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def start(self) -> FakeDiscord:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        for task in list(self.background_tasks):
            task.cancel()
        for conn in list(self.connections):
            conn.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    @property
    def application(self) -> dict[str, Any]:
        """The application object of GET /oauth2/applications/@me (discord.py's login reads it)."""
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "hook": True,
            "is_monetized": False,
            "owner": user_payload(self.guild_owner_id, "owner"),
            "team": None,
            "bot": self.bot_user_public,
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": self.guild_count,
            "integration_types_config": {"0": {}, "1": {}},
        }

    def point_discord_py_here(self) -> Restore:
        """Send this process's discord.py REST and gateway traffic to the fake; returns the undo."""
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

        def undo() -> None:
            Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

        return Restore(undo)

    def record_error(self, message: str) -> None:
        log.error("fake Discord: %s", message)
        self.errors.append(message)

    # --- guilds, channels, users ------------------------------------------------------------------------

    @property
    def guild_ids(self) -> list[int]:
        return [g.id for g in self._guild_list]

    @property
    def guild_count(self) -> int:
        return len(self._guild_list)

    def guild(self, guild_id: int) -> GuildSpec | None:
        return self._guilds.get(guild_id)

    def guilds_for_shard(self, shard_id: int, shard_count: int) -> Iterator[GuildSpec]:
        return iter(self._shard_index(shard_count)[shard_id])

    def _shard_index(self, shard_count: int) -> list[list[GuildSpec]]:
        """The guilds of each shard, made once per shard count (the guild list never changes): READY
        and the GUILD_CREATE stream of every shard would otherwise scan all guilds, 200 scans of
        100,000 guilds for a 100-shard start."""
        index = self._shard_indexes.get(shard_count)
        if index is None:
            index = [[] for _ in range(shard_count)]
            for spec in self._guild_list:
                index[shard_for_guild(spec.id, shard_count)].append(spec)
            self._shard_indexes[shard_count] = index
        return index

    def guild_payload(self, guild_id: int) -> dict[str, Any] | None:
        spec = self._guilds.get(guild_id)
        return None if spec is None else self.render_guild(spec)

    def render_guild(self, spec: GuildSpec) -> dict[str, Any]:
        """GUILD_CREATE ``d`` for ``spec`` as the guild stands now (roles, added and deleted channels)."""
        channels = [c for c in guild_channels(spec) if int(c["id"]) not in self._deleted_channels]
        channels.extend(self._added_channels.get(spec.id, ()))
        payload = guild_create_payload(
            spec, self.bot_user_id, self.joined_at, roles=self.roles(spec.id), channels=channels
        )
        # Discord lists the guild's events that have not finished yet.
        payload["guild_scheduled_events"] = [
            dict(e) for e in self.scheduled_events.get(spec.id, {}).values() if e["status"] in (1, 2)
        ]
        return payload

    def roles(self, guild_id: int) -> list[dict[str, Any]]:
        """The guild's roles as GUILD_CREATE sends them (empty for an unknown guild). As on Discord, a new
        role goes in at position 1, just above @everyone, and every other role moves up one."""
        spec = self._guilds.get(guild_id)
        if spec is None:
            return []
        created = self.created_roles.get(guild_id, [])
        roles = []
        for role in guild_roles(
            spec,
            self.bot_user_id,
            everyone_permissions=self.everyone_permissions,
            bot_permissions=self.bot_permissions,
        ):
            if role["id"] != str(guild_id):
                role["position"] += len(created)
            roles.append(role)
        roles += [dict(r, position=len(created) - i) for i, r in enumerate(created)]
        for role in roles:
            role["position"] = self.moved_roles.get(int(role["id"]), role["position"])
        return [r for r in roles if int(r["id"]) not in self.deleted_roles]

    def top_role_position(self, guild_id: int, user_id: int | None = None) -> int:
        """The position of the highest role of ``user_id`` (default the bot): the roles it may manage
        are those below it (the owner may manage every role)."""
        uid = self.bot_user_id if user_id is None else user_id
        spec = self._guilds.get(guild_id)
        if spec is not None and spec.owner_id == uid:
            return 1 << 30
        held = {str(r) for r in self.member_role_ids(guild_id, uid)}
        return max((int(r["position"]) for r in self.roles(guild_id) if r["id"] in held), default=0)

    async def create_role(self, guild_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new role in ``guild_id`` from a POST /guilds/{id}/roles body, announced with
        GUILD_ROLE_CREATE; returns the role object as it stands."""
        role = role_payload(
            self.snowflake(),
            body.get("name") or "new role",
            permissions=int(body.get("permissions") or 0),
        )
        role.update(
            color=int(body.get("color") or 0),
            hoist=bool(body.get("hoist")),
            mentionable=bool(body.get("mentionable")),
        )
        before = self._positions(guild_id)
        self.created_roles[guild_id].append(role)
        created = self.find_role(guild_id, int(role["id"]))
        assert created is not None
        await self.dispatch_guild_event(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": created}, guild_id, GUILDS
        )
        await self._announce_moves(guild_id, before)
        return created

    def _positions(self, guild_id: int) -> dict[str, int]:
        return {r["id"]: r["position"] for r in self.roles(guild_id)}

    async def _announce_moves(self, guild_id: int, before: Mapping[str, int]) -> None:
        """GUILD_ROLE_UPDATE for every role whose position changed since ``before``, as Discord sends."""
        for role in self.roles(guild_id):
            if role["id"] in before and before[role["id"]] != role["position"]:
                data = {"guild_id": str(guild_id), "role": role}
                await self.dispatch_guild_event("GUILD_ROLE_UPDATE", data, guild_id, GUILDS)
        self.changes.notify()

    async def delete_role(self, guild_id: int, role_id: int) -> None:
        """Delete a role (as an admin, or DELETE /guilds/{id}/roles/{role_id}): gone from the guild and
        from every member, announced with GUILD_ROLE_DELETE."""
        before = self._positions(guild_id)
        created = self.created_roles.get(guild_id, [])
        created[:] = [r for r in created if r["id"] != str(role_id)]
        self.deleted_roles.add(role_id)
        for held in self.member_roles.get(guild_id, {}).values():
            held[:] = [r for r in held if r != role_id]
        data = {"guild_id": str(guild_id), "role_id": str(role_id)}
        await self.dispatch_guild_event("GUILD_ROLE_DELETE", data, guild_id, GUILDS)
        await self._announce_moves(guild_id, before)

    async def move_role(self, guild_id: int, role_id: int, position: int) -> None:
        """Move a role to ``position`` (an admin dragging it in Server Settings), with GUILD_ROLE_UPDATE."""
        self.moved_roles[role_id] = position
        role = self.find_role(guild_id, role_id)
        if role is None:
            raise ValueError(f"role {role_id} is not in guild {guild_id}")
        await self.dispatch_guild_event(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": role}, guild_id, GUILDS
        )
        self.changes.notify()

    def role_names(self, guild_id: int) -> list[str]:
        """The names of the guild's roles, lowest first (what a test compares whole)."""
        return [r["name"] for r in sorted(self.roles(guild_id), key=lambda r: (r["position"], int(r["id"])))]

    def channel(self, channel_id: int) -> dict[str, Any] | None:
        if channel_id in self._deleted_channels:
            return None
        spec = self._channel_guild.get(channel_id)
        if spec is not None:
            return text_channel_payload(channel_id, spec.id)
        return self._extra_channels.get(channel_id)

    def add_channel(self, channel: Mapping[str, Any]) -> None:
        """Register another channel (a full Discord channel object)."""
        self._extra_channels[int(channel["id"])] = dict(channel)

    def find_role(self, guild_id: int | None, role_id: int) -> dict[str, Any] | None:
        if guild_id is None:
            return None
        for role in self.roles(guild_id):
            if role["id"] == str(role_id):
                return role
        return None

    async def add_text_channel(
        self,
        guild_id: int,
        name: str = "announcements",
        *,
        deny_bot: int = 0,
        allow_bot: int = 0,
        on: str = "role",
        overwrites: Sequence[Mapping[str, Any]] = (),
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        """A new text channel in ``guild_id``, announced with CHANNEL_CREATE; returns the channel object.

        ``deny_bot``/``allow_bot`` (permission bits, e.g. SEND_MESSAGES) become an overwrite on the
        bot's managed role (``on="role"``) or on the bot's member (``on="member"``); ``overwrites``
        adds more entries as is (see permissions.overwrite). The bot then sees the channel in its cache
        and ``channel.permissions_for(member)`` reflects the overwrites; the fake refuses what Discord
        would (see ``permissions_in``).
        """
        spec = self._guilds.get(guild_id)
        if spec is None:
            raise ValueError(f"guild {guild_id} is not one of the fake's guilds")
        if on not in ("role", "member"):
            raise ValueError(f"on must be 'role' or 'member', not {on!r}")
        entries = [dict(o) for o in overwrites]
        if deny_bot or allow_bot:
            target, kind = (
                (spec.bot_role_id, OVERWRITE_ROLE) if on == "role" else (self.bot_user_id, OVERWRITE_MEMBER)
            )
            entries.append(overwrite(target, kind, allow=allow_bot, deny=deny_bot))
        position = len(self.render_guild(spec)["channels"])
        cid = channel_id if channel_id is not None else self.snowflake()
        channel = text_channel_payload(cid, guild_id, name, position, permission_overwrites=entries)
        self._added_channels[guild_id].append(channel)
        self._extra_channels[cid] = channel
        self._deleted_channels.discard(cid)
        await self.dispatch_guild_event("CHANNEL_CREATE", channel, guild_id, GUILDS)
        self.changes.notify()
        return channel

    def hold_replies(self, channel_id: int) -> asyncio.Event:
        """Messages posted in ``channel_id`` are created at once but answered only when the returned
        event is set: the moment between Discord posting a message and the sender hearing of it,
        where a crash is worst."""
        gate = asyncio.Event()
        self.held_replies[channel_id] = gate
        return gate

    def release_replies(self, channel_id: int) -> None:
        gate = self.held_replies.pop(channel_id, None)
        if gate is not None:
            gate.set()

    def hold_callbacks(self) -> None:
        """Interaction callbacks reach the fake but are taken (and answered) only after
        ``release_callbacks``: a bot caught in the middle of answering, as on a slow link. Until then
        the member sees nothing."""
        self.held_callbacks = asyncio.Event()

    def release_callbacks(self) -> None:
        if self.held_callbacks is not None:
            self.held_callbacks.set()
            self.held_callbacks = None

    async def delete_channel(self, channel_id: int) -> dict[str, Any]:
        """Delete a guild channel (CHANNEL_DELETE on the gateway); later requests on it get 404 10003."""
        channel = self.channel(channel_id)
        if channel is None or "guild_id" not in channel:
            raise ValueError(f"channel {channel_id} is not a guild channel the fake knows")
        guild_id = int(channel["guild_id"])
        self._deleted_channels.add(channel_id)
        self._extra_channels.pop(channel_id, None)
        added = self._added_channels.get(guild_id)
        if added:
            added[:] = [c for c in added if c["id"] != str(channel_id)]
        await self.dispatch_guild_event("CHANNEL_DELETE", channel, guild_id, GUILDS)
        self.changes.notify()
        return channel

    # --- members and permissions ----------------------------------------------------------------------

    def set_member_roles(self, guild_id: int, user_id: int, roles: Iterable[int]) -> None:
        """Roles (beyond @everyone, and for the bot beyond its managed role) of a member of ``guild_id``."""
        self.member_roles[guild_id][user_id] = [int(r) for r in roles]

    def member_role_ids(self, guild_id: int, user_id: int) -> list[int]:
        spec = self._guilds.get(guild_id)
        extra = self.member_roles.get(guild_id, {}).get(user_id, [])
        if spec is not None and user_id == self.bot_user_id:
            return [spec.bot_role_id, *(r for r in extra if r != spec.bot_role_id)]
        return list(extra)

    def member(self, guild_id: int, user_id: int) -> dict[str, Any] | None:
        """GET /guilds/{guild_id}/members/{user_id}: the bot or any user the fake knows, else None."""
        user = self.user(user_id)
        if self._guilds.get(guild_id) is None or user is None:
            return None
        return member_payload(user, roles=self.member_role_ids(guild_id, user_id), joined_at=self.joined_at)

    def permissions_in(self, channel_id: int, user_id: int | None = None) -> int | None:
        """What ``user_id`` (default: the bot) may do in a guild channel, computed as Discord does;
        None for DMs and unknown channels."""
        channel = self.channel(channel_id)
        return None if channel is None else self.permissions_of(channel, user_id)

    def permissions_of(self, channel: Mapping[str, Any], user_id: int | None = None) -> int | None:
        """``permissions_in`` for a channel object already at hand (None outside a guild)."""
        if "guild_id" not in channel:
            return None
        guild_id = int(channel["guild_id"])
        uid = self.bot_user_id if user_id is None else user_id
        spec = self._guilds.get(guild_id)
        if spec is not None and spec.owner_id == uid:
            return ALL_PERMISSIONS
        role_ids = self.member_role_ids(guild_id, uid)
        base = base_permissions(self.roles(guild_id), guild_id, role_ids)
        return channel_permissions(
            base,
            channel.get("permission_overwrites") or (),
            guild_id=guild_id,
            member_id=uid,
            member_role_ids=role_ids,
        )

    def guild_permissions(self, guild_id: int, user_id: int | None = None) -> int:
        """Guild-level permissions (roles only, no channel) of ``user_id``, default the bot."""
        uid = self.bot_user_id if user_id is None else user_id
        spec = self._guilds.get(guild_id)
        if spec is not None and spec.owner_id == uid:
            return ALL_PERMISSIONS
        return base_permissions(self.roles(guild_id), guild_id, self.member_role_ids(guild_id, uid))

    def user(self, user_id: int) -> dict[str, Any] | None:
        if user_id == self.bot_user_id:
            return self.bot_user_public
        return self._users.get(user_id)

    def make_user(self, user_id: int | None = None, username: str | None = None) -> dict[str, Any]:
        """A user the fake remembers (for GET /users/{id} and DMs)."""
        uid = user_id if user_id is not None else self.snowflake()
        user = user_payload(uid, username)
        self._users[uid] = user
        return user

    def dm_channel_for(self, user: Mapping[str, Any]) -> dict[str, Any]:
        existing = self._dm_channels.get(user["id"])
        if existing is None:
            existing = dm_channel_payload(self.snowflake(), user)
            self._dm_channels[user["id"]] = existing
            self._extra_channels[int(existing["id"])] = existing
        return existing

    # --- commands -------------------------------------------------------------------------------------

    def commands(self, scope: str | int = "global") -> list[dict[str, Any]]:
        """The command set as synced for ``scope`` ("global" or a guild id)."""
        return list(self._commands.get(scope, []))

    def replace_commands(self, scope: str | int, body: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        previous = {(c["name"], c.get("type", 1)): c for c in self._commands.get(scope, [])}
        result = []
        for item in body:
            kind = item.get("type") or 1
            before = previous.get((item["name"], kind))
            content = json.dumps(item, sort_keys=True)
            unchanged = before is not None and before["_content"] == content
            command: dict[str, Any] = {
                "id": before["id"] if before is not None else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": before["version"] if unchanged else str(self.snowflake()),
                "type": kind,
                "name": item["name"],
                "name_localizations": item.get("name_localizations"),
                "description": item.get("description") or "",
                "description_localizations": item.get("description_localizations"),
                "default_member_permissions": (
                    None
                    if item.get("default_member_permissions") is None
                    else str(item["default_member_permissions"])
                ),
                "dm_permission": item.get("dm_permission", True) if scope == "global" else None,
                "contexts": item.get("contexts"),
                "integration_types": item.get("integration_types") or [0],
                "nsfw": bool(item.get("nsfw")),
                "_content": content,
            }
            if item.get("options"):
                command["options"] = json.loads(json.dumps(item["options"]))
            if scope != "global":
                command["guild_id"] = str(scope)
            result.append(command)
        self._commands[scope] = result
        return [self._public_command(c) for c in result]

    @staticmethod
    def _public_command(command: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in command.items() if not k.startswith("_")}

    # --- messages -------------------------------------------------------------------------------------

    def store_message(
        self, message: dict[str, Any], *, guild_id: int | None = None, visible: bool = True
    ) -> None:
        self._message_index[int(message["id"])] = message
        if visible:
            self.messages[int(message["channel_id"])].append(message)
        self.changes.notify()

    def message_by_id(self, message_id: int) -> dict[str, Any] | None:
        return self._message_index.get(message_id)

    def delete_message(self, channel_id: int, message_id: int) -> None:
        self._message_index.pop(message_id, None)
        stored = self.messages.get(channel_id)
        if stored:
            stored[:] = [m for m in stored if m["id"] != str(message_id)]
        self.changes.notify()

    def create_interaction_message(
        self, rec: InteractionRecord, body: Mapping[str, Any], *, message_type: int, extra_flags: int = 0
    ) -> dict[str, Any]:
        data = rec.payload.get("data") or {}
        message = message_payload(
            message_id=self.snowflake(),
            channel_id=rec.channel_id or 0,
            author=self.bot_user_public,
            body=body,
            message_type=message_type,
            extra_flags=extra_flags,
            webhook_id=self.application_id,
            application_id=self.application_id,
            interaction_metadata={
                "id": str(rec.id),
                "type": rec.type,
                "name": data.get("name", ""),
                "user": rec.payload.get("user") or rec.payload["member"]["user"],
                "authorizing_integration_owners": rec.payload.get("authorizing_integration_owners", {}),
            },
        )
        # Ephemeral messages exist only for the user who invoked: they are not in the channel's history.
        self.store_message(message, guild_id=rec.guild_id, visible=not message["flags"] & FLAG_EPHEMERAL)
        return message

    async def dispatch_guild_event(
        self, event: str, data: dict[str, Any], guild_id: int, intent: int
    ) -> bool:
        """Dispatch ``event`` to the session owning ``guild_id`` if it asked for ``intent``; True if sent."""
        session = self._session_for(guild_id)
        if session is None or not session.intents & intent:
            return False
        await session.dispatch(event, data)
        return True

    def uncompleted_events(self, guild_id: int) -> int:
        """How many of the server's scheduled events are scheduled or active (what Discord caps at 100)."""
        return sum(
            1
            for e in self.scheduled_events.get(guild_id, {}).values()
            if e["status"] in (EVENT_SCHEDULED, EVENT_ACTIVE)
        )

    async def add_scheduled_event(
        self, guild_id: int, creator: Mapping[str, Any], name: str, start: dt.datetime
    ) -> dict[str, Any]:
        """An external event someone other than the bot made in the server, as Discord stores it."""
        body = {
            "name": name,
            "entity_type": EVENT_EXTERNAL,
            "entity_metadata": {"location": "Somewhere"},
            "scheduled_start_time": start.isoformat(),
            "scheduled_end_time": (start + dt.timedelta(hours=1)).isoformat(),
        }
        event = scheduled_event_payload(
            event_id=self.snowflake(), guild_id=guild_id, creator=creator, body=body
        )
        self.scheduled_events[guild_id][int(event["id"])] = event
        await self.dispatch_scheduled_event("GUILD_SCHEDULED_EVENT_CREATE", event)
        return event

    async def dispatch_scheduled_event(self, event: str, data: dict[str, Any]) -> bool:
        """GUILD_SCHEDULED_EVENT_* only to a session that asked for GUILD_SCHEDULED_EVENTS (1<<16)."""
        return await self.dispatch_guild_event(
            event, dict(data), int(data["guild_id"]), GUILD_SCHEDULED_EVENTS
        )

    async def dispatch_message_create(self, message: Mapping[str, Any], channel: Mapping[str, Any]) -> None:
        """MESSAGE_CREATE to the shard that owns the channel, if its session asked for message intents."""
        guild_id = int(channel["guild_id"]) if "guild_id" in channel else None
        session = self._session_for(guild_id)
        if session is None:
            return
        needed = GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES
        if not session.intents & needed:
            return
        data = dict(message)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data["member"] = member_payload(None, roles=[], joined_at=self.joined_at)
        await session.dispatch("MESSAGE_CREATE", data)

    # --- failures -------------------------------------------------------------------------------------

    def fail_channel(
        self, channel_id: int, kind: str = "missing_permissions", *, times: int | None = None
    ) -> None:
        """Every request on this channel answers 403 50013 ("missing_permissions") or 404 10003
        ("unknown_channel"), ``times`` times or until ``clear_failures``."""
        if kind == "missing_permissions":
            status, body = 403, {"message": "Missing Permissions", "code": 50013}
        elif kind == "unknown_channel":
            status, body = 404, {"message": "Unknown Channel", "code": 10003}
        else:
            raise ValueError(f"unknown failure kind {kind!r}")
        self.failure_rules.append(
            FailureRule((f"/channels/{channel_id}", f"/channels/{channel_id}/*"), status, body, times=times)
        )

    def inject_failure(
        self,
        path_glob: str,
        status: int,
        body: Mapping[str, Any] | None = None,
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> FailureRule:
        """Answer requests whose path (below /api/v10, fnmatch-style) matches with this status and body."""
        rule = FailureRule(
            (path_glob,),
            status,
            dict(body or {"message": "injected failure", "code": 0}),
            method=method,
            headers=dict(headers or {}),
            times=times,
        )
        self.failure_rules.append(rule)
        return rule

    def inject_rate_limit(
        self,
        path_glob: str,
        *,
        retry_after: float = 0.05,
        method: str | None = None,
        is_global: bool = False,
        times: int | None = 1,
    ) -> FailureRule:
        """A 429 exactly as Discord sends it, so discord.py waits ``retry_after`` and retries by itself."""
        headers = {
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket429",
            "X-RateLimit-Scope": "global" if is_global else "user",
            # discord.py treats a 429 without Via as a Cloudflare ban and gives up.
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
            "code": 0,
        }
        return self.inject_failure(path_glob, 429, body, method=method, headers=headers, times=times)

    def hold_requests(self, path_glob: str, *, method: str | None = None) -> asyncio.Event:
        """Requests whose path matches wait until the returned event is set, then are answered as usual:
        a slow Discord, for one route."""
        gate = asyncio.Event()
        self.failure_rules.append(FailureRule((path_glob,), 0, {}, method=method, gate=gate))
        return gate

    def clear_failures(self) -> None:
        self.failure_rules.clear()

    # --- gateway control ------------------------------------------------------------------------------

    async def wait_for_ready(self, shard: int = 0, timeout: float = 5.0) -> Session:
        """Until READY and every GUILD_CREATE of ``shard`` have been written to a live connection."""

        def ready() -> Session | None:
            session = self.shard_sessions.get(shard)
            if session is not None and session.guilds_sent and session.connection is not None:
                return session
            return None

        return await self.changes.wait_for(ready, timeout, f"READY and all GUILD_CREATEs on shard {shard}")

    async def wait_for_resume(self, count: int = 1, timeout: float = 5.0) -> Session:
        """Until ``count`` RESUMEs were accepted; returns the resumed session."""

        def resumed() -> Session | None:
            accepted = [r for r in self.resumes if r.get("session_id") not in self.invalid_sessions]
            if len(accepted) < count:
                return None
            session = self.sessions.get(accepted[count - 1]["session_id"])
            return session if session is not None and session.connection is not None else None

        return await self.changes.wait_for(resumed, timeout, f"{count} accepted RESUME(s)")

    async def drop_connections(self, *, code: int = 4000, abort: bool = False) -> None:
        """Close every gateway websocket (close code 4000 by default, or a TCP abort) so clients RESUME."""
        for conn in list(self.connections):
            if abort:
                conn.abort()
            else:
                await conn.close(code, "fake Discord dropped the connection")

    async def send_reconnect(self) -> None:
        """op 7 on every connection: the client closes and RESUMEs."""
        for conn in list(self.connections):
            await conn.send({"op": 7, "s": None, "t": None, "d": None})

    async def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """op 9 on every connection; with resumable=False the client must IDENTIFY again."""
        for conn in list(self.connections):
            if conn.session is not None and not resumable:
                conn.session.invalidated = True
            await conn.send({"op": 9, "s": None, "t": None, "d": resumable})

    def _session_for(self, guild_id: int | None) -> Session | None:
        candidates = [s for s in self.shard_sessions.values() if not s.invalidated]
        for session in candidates:
            if guild_id is None and session.shard_id == 0:
                return session
            if guild_id is not None and session.owns_guild(guild_id):
                return session
        return None

    # --- interactions ---------------------------------------------------------------------------------

    async def dispatch_interaction(
        self, record: InteractionRecord, *, timeout: float = 5.0
    ) -> InteractionRecord:
        """Send a built interaction on the gateway connection of the shard that owns its guild."""
        shard = 0 if record.guild_id is None else None

        def target() -> Session | None:
            session = self._session_for(record.guild_id)
            return session if session is not None and session.ready_at is not None else None

        what = f"a gateway session for {'DMs (shard 0)' if shard == 0 else f'guild {record.guild_id}'}"
        session = await self.changes.wait_for(target, timeout, what)
        record.shard_id = session.shard_id
        self.interactions[record.id] = record
        self.interactions_by_token[record.token] = record
        await session.dispatch("INTERACTION_CREATE", record.payload, on_written=record.mark_dispatched)
        return record

    def _guild_arg(self, guild_id: int | DefaultGuild | None) -> int | None:
        if guild_id is FIRST_GUILD:
            if not self._guild_list:
                raise ValueError("the fake has no guilds; pass guild_id=None for a DM")
            return self._guild_list[0].id
        return guild_id  # type: ignore[return-value]  # FIRST_GUILD was handled above: an int or None is left

    async def invoke_command(
        self,
        name: str,
        *,
        subcommand: str | None = None,
        options: Mapping[str, Any] | None = None,
        guild_id: int | DefaultGuild | None = FIRST_GUILD,
        channel_id: int | None = None,
        user: int | Mapping[str, Any] | None = None,
        permissions: int | str | None = None,
        roles: Sequence[int] | None = None,
        locale: str = "en-US",
        command_id: int | None = None,
        command_type: int = 1,
        context: int | None = None,
        integration_owners: Mapping[str, str] | None = None,
        app_permissions: int | str | None = None,
    ) -> InteractionRecord:
        """Send a slash command (type 2) as Discord would. ``subcommand`` is "sub" or "group sub".
        The member's ``roles`` are those the fake holds for them unless the test names others.

        The command must have been synced (its id is looked up, guild scope first) unless
        ``command_id`` is given to forge one. ``guild_id=None`` invokes from the bot's DM (context 1).
        """
        gid = self._guild_arg(guild_id)
        data = build_command_data(
            self,
            name=name,
            command_type=command_type,
            subcommand=subcommand,
            options=options or {},
            focused=None,
            guild_id=gid,
            command_id=command_id,
        )
        record = build_interaction(
            self,
            interaction_type=APPLICATION_COMMAND,
            data=data,
            guild_id=gid,
            channel_id=channel_id,
            user=user,
            permissions=permissions,
            roles=roles,
            locale=locale,
            context=context,
            integration_owners=integration_owners,
            app_permissions=app_permissions,
        )
        return await self.dispatch_interaction(record)

    async def autocomplete(
        self, name: str, *, option: str, value: Any, timeout: float = 5.0, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Type ``value`` into ``option`` and return the choices the bot answered (callback type 8).

        Other keyword arguments are those of ``send_autocomplete``.
        """
        record = await self.send_autocomplete(name, option=option, value=value, **kwargs)
        body = await record.wait_response(timeout)
        if body.get("type") != 8:
            raise AssertionError(
                f"autocomplete answered with callback type {body.get('type')}, not 8: {body}"
            )
        return list((body.get("data") or {}).get("choices") or [])

    async def send_autocomplete(
        self,
        name: str,
        *,
        option: str,
        value: Any,
        subcommand: str | None = None,
        options: Mapping[str, Any] | None = None,
        guild_id: int | DefaultGuild | None = FIRST_GUILD,
        channel_id: int | None = None,
        user: int | Mapping[str, Any] | None = None,
        permissions: int | str | None = None,
        locale: str = "en-US",
        command_id: int | None = None,
    ) -> InteractionRecord:
        """Like ``autocomplete`` but returns the record (for latency or refusal checks)."""
        gid = self._guild_arg(guild_id)
        values = dict(options or {})
        values[option] = value
        data = build_command_data(
            self,
            name=name,
            command_type=1,
            subcommand=subcommand,
            options=values,
            focused=option,
            guild_id=gid,
            command_id=command_id,
        )
        record = build_interaction(
            self,
            interaction_type=AUTOCOMPLETE,
            data=data,
            guild_id=gid,
            channel_id=channel_id,
            user=user,
            permissions=permissions,
            locale=locale,
        )
        return await self.dispatch_interaction(record)

    async def click_button(
        self,
        message: Mapping[str, Any],
        custom_id: str,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        user: int | Mapping[str, Any] | None = None,
        permissions: int | str | None = None,
        roles: Sequence[int] | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A MESSAGE_COMPONENT interaction (type 3) on ``message``: a button, or a select with ``values``."""
        channel_id = int(message["channel_id"])
        channel = self.channel(channel_id)
        guild_id = int(channel["guild_id"]) if channel and "guild_id" in channel else None
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        record = build_interaction(
            self,
            interaction_type=MESSAGE_COMPONENT,
            data=data,
            guild_id=guild_id,
            channel_id=channel_id,
            user=user,
            permissions=permissions,
            roles=roles,
            locale=locale,
            message=message,
        )
        return await self.dispatch_interaction(record)

    async def select(
        self, message: Mapping[str, Any], custom_id: str, values: Sequence[str], **kwargs: Any
    ) -> InteractionRecord:
        """Choose ``values`` in a string select menu."""
        return await self.click_button(message, custom_id, component_type=3, values=values, **kwargs)

    async def submit_modal(
        self,
        source: InteractionRecord,
        values: Mapping[str, Any],
        *,
        user: int | Mapping[str, Any] | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot showed in answer to ``source`` (type 5 interaction)."""
        modal = source.modal
        if modal is None:
            raise ValueError(f"interaction {source.id} was not answered with a modal: {source.callback}")
        data = {"custom_id": modal["custom_id"], "components": modal_submit_components(modal, values)}
        payload = source.payload
        user_arg = user if user is not None else (payload.get("user") or payload["member"]["user"])
        record = build_interaction(
            self,
            interaction_type=MODAL_SUBMIT,
            data=data,
            guild_id=source.guild_id,
            channel_id=source.channel_id,
            user=user_arg,
            permissions=(payload.get("member") or {}).get("permissions"),
            roles=[int(r) for r in (payload.get("member") or {}).get("roles", [])],
            locale=locale,
            context=payload.get("context"),
            integration_owners=payload.get("authorizing_integration_owners"),
            app_permissions=payload.get("app_permissions"),
            message=payload.get("message"),
        )
        return await self.dispatch_interaction(record)

    async def send_interaction(self, payload: Mapping[str, Any]) -> InteractionRecord:
        """Dispatch a hand-written INTERACTION_CREATE ``d`` (for malformed or hostile payloads)."""
        guild_id = int(payload["guild_id"]) if payload.get("guild_id") else None
        user = payload.get("user") or (payload.get("member") or {}).get("user") or self.tester
        record = InteractionRecord(
            id=int(payload["id"]),
            token=str(payload["token"]),
            type=int(payload["type"]),
            payload=dict(payload),
            guild_id=guild_id,
            channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
            user_id=int(user["id"]),
        )
        return await self.dispatch_interaction(record)

    async def wait_for_message(
        self, channel_id: int, *, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Until ``channel_id`` holds at least ``count`` messages; returns them all."""
        return await self.changes.wait_for(
            lambda: (
                list(self.messages[channel_id]) if len(self.messages.get(channel_id, [])) >= count else None
            ),
            timeout,
            f"{count} message(s) in channel {channel_id}",
        )

    async def wait_for_sync(self, count: int = 1, timeout: float = 5.0) -> list[SyncEvent]:
        return await self.changes.wait_for(
            lambda: list(self.syncs) if len(self.syncs) >= count else None,
            timeout,
            f"{count} command sync(s)",
        )

    async def wait_for_requests(
        self, method: str, path_glob: str, *, count: int = 1, timeout: float = 5.0
    ) -> list[RequestRecord]:
        """Until ``count`` requests whose path (below /api/v10, fnmatch-style) matches have been
        answered; returns every answered one so far."""

        def answered() -> list[RequestRecord] | None:
            found = [
                r for r in self.requests if r.status and r.method == method and fnmatchcase(r.path, path_glob)
            ]
            return found if len(found) >= count else None

        return await self.changes.wait_for(answered, timeout, f"{count} answered {method} {path_glob}")

    async def wait_until(self, predicate: Callable[[], T | None], *, timeout: float = 5.0, what: str) -> T:
        """Until ``predicate()`` is truthy (returned), checked again whenever the fake's state changes:
        a request answered, a message stored, a dispatch read. For a condition no other wait names."""
        return await self.changes.wait_for(predicate, timeout, what)

    async def wait_for_dispatches_read(self, shard: int | None = None, timeout: float = 5.0) -> None:
        """Until the client has read, and discord.py has parsed into its cache, every dispatch sent so
        far on ``shard`` (on every connected session if None): e.g. a CHANNEL_CREATE is in
        ``guild.get_channel`` afterwards. Asks for a heartbeat (op 1) and waits for the answer; see
        ``Session.request_heartbeat``."""
        sessions = [
            s
            for s in self.shard_sessions.values()
            if (shard is None or s.shard_id == shard) and not s.invalidated and s.connection is not None
        ]
        if not sessions:
            raise LookupError(f"no connected gateway session{'' if shard is None else f' on shard {shard}'}")
        asked = [(session, await session.request_heartbeat()) for session in sessions]
        lost = [s.shard_id for s, seq in asked if seq is None]
        if lost:
            raise LookupError(f"shard(s) {lost} lost their gateway connection before the heartbeat request")

        def all_read() -> bool:
            return all(session.read_seq >= seq for session, seq in asked if seq is not None)

        what = "the client to read every dispatch (a heartbeat answering op 1)"
        await self.changes.wait_for(all_read, timeout, what)


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeDiscord]:
    """``async with running_fake(guilds=3) as fake:`` with discord.py already pointed at it."""
    async with FakeDiscord(**kwargs) as fake:
        with fake.point_discord_py_here():
            yield fake
