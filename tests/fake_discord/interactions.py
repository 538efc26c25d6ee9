"""INTERACTION_CREATE payloads built as Discord builds them, and the record of how each one was answered."""

# The waits take a deadline (`timeout`) that their TimeoutError names, with what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from .payloads import (
    CHANNEL_DM,
    FLAG_LOADING,
    dm_channel_payload,
    member_payload,
    role_payload,
    text_channel_payload,
    user_payload,
)
from .waiting import Changes

if TYPE_CHECKING:
    from .server import FakeDiscord

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Interaction contexts
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1
CONTEXT_PRIVATE_CHANNEL = 2

# Application command option types
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11

# Which callback types Discord accepts for which interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    APPLICATION_COMMAND: frozenset({4, 5, 9}),
    MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    AUTOCOMPLETE: frozenset({8}),
    MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class DefaultGuild(Enum):
    GUILD = "the first guild"


# The default of ``guild_id=`` in the invoke helpers, where None already means "no guild (a DM)".
FIRST_GUILD = DefaultGuild.GUILD


class CommandNotSynced(LookupError):
    """The test invoked a command the bot never synced; pass ``command_id=`` to forge one on purpose."""


@dataclass(frozen=True, slots=True)
class TypedOption:
    """An option value with an explicit Discord option type, for commands the fake cannot look up."""

    type: int
    value: Any


@dataclass(eq=False)
class InteractionRecord:
    """One interaction sent by the fake and everything the bot did about it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int | None
    user_id: int
    shard_id: int = 0
    dispatched_at: float | None = None  # time.perf_counter() when written to the websocket
    callback: dict[str, Any] | None = None  # the accepted callback body (type + data)
    callback_at: float | None = None
    rejected: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (status, error body)
    original: dict[str, Any] | None = None  # the response message as it stands now
    original_edits: list[dict[str, Any]] = field(default_factory=list)  # PATCH @original bodies
    original_deleted: bool = False
    followups: list[dict[str, Any]] = field(default_factory=list)  # follow-up messages created
    callbacks_held: int = 0  # callback requests that arrived while the fake held callbacks
    changes: Changes = field(default_factory=Changes, repr=False)

    @property
    def latency(self) -> float | None:
        """Seconds from the dispatch being written to the websocket to the callback request arriving."""
        if self.dispatched_at is None or self.callback_at is None:
            return None
        return self.callback_at - self.dispatched_at

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot answered with (callback type 9), if any."""
        if self.callback is not None and self.callback.get("type") == 9:
            return self.callback.get("data")
        return None

    def mark_dispatched(self, written_at: float | None) -> None:
        """The gateway's write hook: the first successful write starts the response window."""
        if written_at is None:
            if self.callback is None:
                self.dispatched_at = None  # that write failed; a replay after RESUME will set it again
        elif self.dispatched_at is None:
            self.dispatched_at = written_at
        self.changes.notify()

    def age(self) -> float:
        return time.perf_counter() - (self.dispatched_at or time.perf_counter())

    async def wait_dispatched(self, timeout: float = 5.0) -> float:
        return await self.changes.wait_for(
            lambda: self.dispatched_at, timeout, f"dispatch of interaction {self.id}"
        )

    async def wait_response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The accepted callback body ({"type": ..., "data": ...})."""
        return await self.changes.wait_for(lambda: self.callback, timeout, self._what("a callback"))

    async def wait_rejected(self, timeout: float = 5.0, count: int = 1) -> tuple[int, dict[str, Any]]:
        """The ``count``-th refused callback as (HTTP status, Discord error body)."""
        return await self.changes.wait_for(
            lambda: self.rejected[count - 1] if len(self.rejected) >= count else None,
            timeout,
            self._what(f"{count} refused callback(s)"),
        )

    async def wait_original_edit(self, timeout: float = 5.0, count: int = 1) -> dict[str, Any]:
        """The original response message once it has been edited ``count`` times (PATCH @original)."""
        return await self.changes.wait_for(
            lambda: self.original if len(self.original_edits) >= count else None,
            timeout,
            self._what(f"{count} edit(s) of @original"),
        )

    async def wait_followup(self, timeout: float = 5.0, count: int = 1) -> dict[str, Any]:
        """The ``count``-th follow-up message."""
        return await self.changes.wait_for(
            lambda: self.followups[count - 1] if len(self.followups) >= count else None,
            timeout,
            self._what(f"{count} follow-up(s)"),
        )

    async def wait_answer(self, timeout: float = 5.0) -> dict[str, Any]:
        """The visible answer however it came: the response message, or the edit after a deferral."""

        def visible() -> dict[str, Any] | None:
            if self.original is None or self.original["flags"] & FLAG_LOADING:
                return self.followups[0] if self.followups else None
            return self.original

        return await self.changes.wait_for(visible, timeout, self._what("a visible answer"))

    def _what(self, thing: str) -> str:
        data = self.payload.get("data") or {}
        name = data.get("name") or data.get("custom_id") or "?"
        extra = f"; refused so far: {self.rejected}" if self.rejected else ""
        return f"{thing} to interaction {self.id} ({name!r}, type {self.type}){extra}"


def new_token() -> str:
    # Real tokens are long opaque strings; the fake's only need to be unique and URL-safe.
    return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)


def _user_for(fake: FakeDiscord, user: int | Mapping[str, Any] | None) -> dict[str, Any]:
    if user is None:
        return dict(fake.tester)
    if isinstance(user, Mapping):
        return dict(user)
    return user_payload(int(user))


def find_synced(
    fake: FakeDiscord, name: str, command_type: int, guild_id: int | None
) -> dict[str, Any] | None:
    """The synced command an invocation in this guild would hit: the guild's own first, then global."""
    scopes: list[int | str] = [guild_id] if guild_id is not None else []
    scopes.append("global")
    for scope in scopes:
        for command in fake.commands(scope):
            if command["name"] == name and command.get("type", 1) == command_type:
                return command
    return None


def _lookup_option(definitions: Sequence[Mapping[str, Any]] | None, name: str) -> Mapping[str, Any] | None:
    for option in definitions or ():
        if option.get("name") == name:
            return option
    return None


def _infer_type(value: Any) -> int:
    if isinstance(value, TypedOption):
        return value.type
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    return STRING


class _Resolver:
    """Collects ``data.resolved`` for user, channel, role and attachment options."""

    def __init__(self, fake: FakeDiscord, guild_id: int | None) -> None:
        self.fake = fake
        self.guild_id = guild_id
        self.resolved: dict[str, dict[str, Any]] = {}

    def _put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        self.resolved.setdefault(kind, {})[key] = value

    def option_value(self, option_type: int, raw: Any) -> Any:
        value = raw.value if isinstance(raw, TypedOption) else raw
        if option_type == STRING:
            return value if isinstance(value, str) else str(value)
        if option_type == INTEGER:
            return int(value)
        if option_type == NUMBER:
            return float(value)
        if option_type == BOOLEAN:
            return bool(value)
        if option_type == USER or (option_type == MENTIONABLE and not self._is_role(value)):
            user = dict(value) if isinstance(value, Mapping) else user_payload(int(value))
            self._put("users", user["id"], user)
            if self.guild_id is not None:
                self._put(
                    "members", user["id"], member_payload(None, permissions=self.fake.default_permissions)
                )
            return user["id"]
        if option_type in (ROLE, MENTIONABLE):
            role = dict(value) if isinstance(value, Mapping) else self._role(int(value))
            self._put("roles", role["id"], role)
            return role["id"]
        if option_type == CHANNEL:
            channel = dict(value) if isinstance(value, Mapping) else self._channel(int(value))
            channel.setdefault("permissions", str(self.fake.default_permissions))
            self._put("channels", channel["id"], channel)
            return channel["id"]
        if option_type == ATTACHMENT:
            attachment = dict(value) if isinstance(value, Mapping) else self._attachment(int(value))
            self._put("attachments", attachment["id"], attachment)
            return attachment["id"]
        return value

    def _is_role(self, value: Any) -> bool:
        if isinstance(value, Mapping):
            return "permissions" in value and "username" not in value
        return self.fake.find_role(self.guild_id, int(value)) is not None

    def _role(self, role_id: int) -> dict[str, Any]:
        return self.fake.find_role(self.guild_id, role_id) or role_payload(role_id, f"role-{role_id % 10000}")

    def _channel(self, channel_id: int) -> dict[str, Any]:
        known = self.fake.channel(channel_id)
        if known is not None:
            return dict(known)
        return text_channel_payload(channel_id, self.guild_id or 0, name=f"channel-{channel_id % 10000}")

    @staticmethod
    def _attachment(attachment_id: int) -> dict[str, Any]:
        return {
            "id": str(attachment_id),
            "filename": "upload.txt",
            "size": 5,
            "url": f"https://cdn.discordapp.com/attachments/0/{attachment_id}/upload.txt",
            "proxy_url": f"https://media.discordapp.net/attachments/0/{attachment_id}/upload.txt",
            "content_type": "text/plain; charset=utf-8",
        }


def build_options(
    resolver: _Resolver,
    definitions: Sequence[Mapping[str, Any]] | None,
    values: Mapping[str, Any],
    focused: str | None,
    forged: bool,
) -> list[dict[str, Any]]:
    """Leaf options as Discord sends them: typed by the synced definition, ``focused`` for autocomplete."""
    options = []
    for name, raw in values.items():
        definition = _lookup_option(definitions, name)
        if definition is None and not forged:
            known = [o.get("name") for o in definitions or ()]
            raise ValueError(f"option {name!r} is not in the synced command (it has {known})")
        option_type = definition["type"] if definition is not None else _infer_type(raw)
        if name == focused:
            # While the user types, Discord sends the raw text of the focused option, unconverted.
            raw_value = raw.value if isinstance(raw, TypedOption) else raw
            value: Any = raw_value if isinstance(raw_value, str) else str(raw_value)
            options.append({"name": name, "type": option_type, "value": value, "focused": True})
        else:
            options.append(
                {"name": name, "type": option_type, "value": resolver.option_value(option_type, raw)}
            )
    return options


def build_command_data(
    fake: FakeDiscord,
    *,
    name: str,
    command_type: int,
    subcommand: str | None,
    options: Mapping[str, Any],
    focused: str | None,
    guild_id: int | None,
    command_id: int | None,
) -> dict[str, Any]:
    """``data`` of an APPLICATION_COMMAND or AUTOCOMPLETE interaction."""
    synced = find_synced(fake, name, command_type, guild_id)
    forged = command_id is not None
    if synced is None and not forged:
        scopes = "global" + (f" or guild {guild_id}" if guild_id is not None else "")
        raise CommandNotSynced(
            f"command {name!r} (type {command_type}) is not synced for {scopes}; synced: "
            f"{[c['name'] for c in fake.commands('global')]} global"
            + (f", {[c['name'] for c in fake.commands(guild_id)]} in guild" if guild_id is not None else "")
            + ". Pass command_id= to send it anyway."
        )
    resolver = _Resolver(fake, guild_id)
    definitions: Sequence[Mapping[str, Any]] | None = synced.get("options") if synced else None
    path = subcommand.split() if subcommand else []
    nest: list[tuple[str, int]] = []
    for part in path:
        definition = _lookup_option(definitions, part)
        if definition is None and not forged:
            raise ValueError(f"{name!r} has no subcommand or group {part!r} in its synced definition")
        kind = (
            definition["type"]
            if definition is not None
            else (SUB_COMMAND_GROUP if part != path[-1] else SUB_COMMAND)
        )
        if kind not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            raise ValueError(f"{part!r} in {name!r} is an option, not a subcommand")
        nest.append((part, kind))
        definitions = definition.get("options") if definition is not None else None

    leaf = build_options(resolver, definitions, options, focused, forged or synced is None)
    for part, kind in reversed(nest):
        leaf = [{"name": part, "type": kind, "options": leaf}]

    data: dict[str, Any] = {
        "id": str(command_id if forged else synced["id"]),  # type: ignore[index]  # synced is set unless forged
        "name": name,
        "type": command_type,
    }
    if leaf or command_type == 1:
        data["options"] = leaf
    if resolver.resolved:
        data["resolved"] = resolver.resolved
    command_guild = synced.get("guild_id") if synced else None
    if command_guild is not None:
        data["guild_id"] = str(command_guild)
    return data


def build_interaction(
    fake: FakeDiscord,
    *,
    interaction_type: int,
    data: dict[str, Any],
    guild_id: int | None,
    channel_id: int | None,
    user: int | Mapping[str, Any] | None,
    permissions: int | str | None,
    locale: str,
    roles: Sequence[int] | None = None,
    context: int | None = None,
    integration_owners: Mapping[str, str] | None = None,
    app_permissions: int | str | None = None,
    message: Mapping[str, Any] | None = None,
) -> InteractionRecord:
    """The full INTERACTION_CREATE ``d``, field for field as Discord sends it to a gateway bot."""
    user_data = _user_for(fake, user)
    interaction_id = fake.snowflake()
    token = new_token()
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(fake.application_id),
        "type": interaction_type,
        "token": token,
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "data": data,
    }
    perms = str(fake.default_permissions if permissions is None else int(permissions))
    if guild_id is not None:
        spec = fake.guild(guild_id)
        channel_id = channel_id or (spec.channel_id if spec is not None else None)
        if channel_id is None:
            raise ValueError(f"guild {guild_id} is not one of the fake's guilds; pass channel_id=")
        channel = dict(fake.channel(channel_id) or text_channel_payload(channel_id, guild_id))
        channel["permissions"] = perms
        # Discord computes app_permissions for the channel: roles and that channel's overwrites.
        computed = fake.permissions_of(channel) if spec is not None else None
        app_default = computed if computed is not None else fake.bot_permissions
        payload.update(
            guild_id=str(guild_id),
            guild={"id": str(guild_id), "locale": spec.locale if spec else "en-US", "features": []},
            guild_locale=spec.locale if spec else "en-US",
            channel_id=str(channel_id),
            channel=channel,
            # Discord sends the roles the member has now; a test may name others.
            member=member_payload(
                user_data,
                roles=fake.member_role_ids(guild_id, int(user_data["id"])) if roles is None else roles,
                permissions=perms,
            ),
            app_permissions=str(app_default if app_permissions is None else int(app_permissions)),
            context=CONTEXT_GUILD if context is None else context,
            authorizing_integration_owners=dict(integration_owners or {"0": str(guild_id)}),
        )
    else:
        context = CONTEXT_BOT_DM if context is None else context
        if channel_id is None:
            channel = (
                fake.dm_channel_for(user_data)
                if context == CONTEXT_BOT_DM
                else dm_channel_payload(fake.snowflake(), user_payload(fake.snowflake()))
            )
            channel_id = int(channel["id"])
        else:
            channel = dict(
                fake.channel(channel_id) or {"id": str(channel_id), "type": CHANNEL_DM, "flags": 0}
            )
        payload.update(
            channel_id=str(channel_id),
            channel=channel,
            user=user_data,
            # Outside a guild only user-install style permissions apply.
            app_permissions=str(fake.bot_permissions if app_permissions is None else int(app_permissions)),
            context=context,
            authorizing_integration_owners=dict(integration_owners or {"1": user_data["id"]}),
        )
    if message is not None:
        payload["message"] = dict(message)
    return InteractionRecord(
        id=interaction_id,
        token=token,
        type=interaction_type,
        payload=payload,
        guild_id=guild_id,
        channel_id=channel_id,
        user_id=int(user_data["id"]),
    )


def modal_submit_components(modal: Mapping[str, Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Mirror the modal's layout (action rows or labels) with the values the user typed."""

    def submitted(component: Mapping[str, Any]) -> dict[str, Any]:
        custom_id = component.get("custom_id")
        out: dict[str, Any] = {"type": component["type"], "custom_id": custom_id}
        if "id" in component:
            out["id"] = component["id"]
        if component["type"] == 4:  # text input
            out["value"] = str(values.get(custom_id, component.get("value") or ""))
        else:  # selects inside labels
            chosen = values.get(custom_id, [])
            out["values"] = [str(v) for v in (chosen if isinstance(chosen, (list, tuple)) else [chosen])]
        return out

    rows = []
    for component in modal.get("components") or []:
        if component["type"] == 1:
            rows.append({"type": 1, "components": [submitted(c) for c in component.get("components", [])]})
        elif component["type"] == 18:
            rows.append({"type": 18, "component": submitted(component["component"])})
        elif component["type"] == 10:  # text display: echoed without a value
            rows.append({"type": 10, "id": component.get("id", 0)})
    return rows
