"""Builds the JSON objects Discord sends (snowflakes, users, guilds, channels, roles, members, messages)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Deterministic ids: a guild's snowflake timestamp is GUILD_BASE_MS + its index, so
# (guild_id >> 22) % shard_count cycles through the shards and guilds spread evenly over them.
GUILD_BASE_MS = 1577836800000 - DISCORD_EPOCH_MS  # 2020-01-01
DEFAULT_BOT_USER_ID = ((1546300800000 - DISCORD_EPOCH_MS) << 22) | 1  # 2019-01-01
DEFAULT_OWNER_ID = ((1451606400000 - DISCORD_EPOCH_MS) << 22) | 7  # 2016-01-01
DEFAULT_TESTER_ID = ((1483228800000 - DISCORD_EPOCH_MS) << 22) | 9  # 2017-01-01

# Channel and role ids share the guild's timestamp but differ in the worker bits, so they are unique
# and still computable from the guild id without any table.
_CHANNEL_WORKER = 1 << 17
_BOT_ROLE_WORKER = 2 << 17

# Permission bits used below (Discord's documented values).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
ADD_REACTIONS = 1 << 6
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
MANAGE_GUILD = 1 << 5
MANAGE_ROLES = 1 << 28
ADMINISTRATOR = 1 << 3
MANAGE_EVENTS = 1 << 33
CREATE_EVENTS = 1 << 44

# What Discord gives @everyone in a new server, less voice and less Mention Everyone (which servers
# that let bots in commonly turn off, and which a bot must never need): a plain member.
EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
    | 1  # CREATE_INSTANT_INVITE
    | (1 << 26)  # CHANGE_NICKNAME
)
# The bot's managed role: what its invite asked for. With @everyone's bits it gives the bot View
# Channel, Send Messages, Embed Links and Manage Events in an ordinary channel, and no Mention Everyone.
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_EVENTS

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
# Message flags a sender may set; Discord ignores the others.
_SENDER_FLAGS = (1 << 2) | FLAG_EPHEMERAL | (1 << 12) | (1 << 15)

CHANNEL_TEXT = 0
CHANNEL_DM = 1


def iso(ts: float | None = None) -> str:
    """Discord's timestamp format: ISO 8601 with microseconds and an explicit UTC offset."""
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC)
    return moment.isoformat(timespec="microseconds")


def snowflake_time(snowflake: int) -> float:
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


class SnowflakeFactory:
    """Fresh, strictly increasing snowflakes stamped with the current time."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22 | (3 << 17)
        self._last = max(candidate, self._last + 1)
        return self._last


def guild_id_for_index(index: int) -> int:
    return (GUILD_BASE_MS + index) << 22


def shard_for_guild(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


@dataclass(slots=True)
class GuildSpec:
    """One guild the bot is in. Kept tiny: the gateway builds the full payload only while sending it."""

    id: int
    name: str = ""
    channel_id: int = 0
    owner_id: int = DEFAULT_OWNER_ID
    member_count: int = 2
    locale: str = "en-US"
    # Extra channel and role payloads (full Discord objects) for tests that need more than the defaults.
    extra_channels: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    extra_roles: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"Guild {self.id}"
        if not self.channel_id:
            self.channel_id = self.id | _CHANNEL_WORKER

    @classmethod
    def numbered(cls, index: int) -> GuildSpec:
        return cls(id=guild_id_for_index(index), name=f"Test Guild {index}")

    @property
    def bot_role_id(self) -> int:
        return self.id | _BOT_ROLE_WORKER


def user_payload(user_id: int, username: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(user_id),
        "username": username or f"user{user_id % 100000}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
    }
    if bot:
        data["bot"] = True
    return data


def client_user_payload(user_id: int, username: str) -> dict[str, Any]:
    """The bot's own user as /users/@me and READY give it."""
    data = user_payload(user_id, username, bot=True)
    data.update(verified=True, mfa_enabled=False, locale="en-US", email=None, bio="")
    return data


def role_payload(
    role_id: int,
    name: str,
    *,
    permissions: int = 0,
    position: int = 0,
    managed: bool = False,
    tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(role_id),
        "name": name,
        "description": None,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }
    if tags is not None:
        data["tags"] = tags
    return data


def text_channel_payload(
    channel_id: int,
    guild_id: int,
    name: str = "general",
    position: int = 0,
    *,
    permission_overwrites: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": CHANNEL_TEXT,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [dict(o) for o in permission_overwrites],
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "last_pin_timestamp": None,
        "flags": 0,
    }


def dm_channel_payload(channel_id: int, recipient: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": CHANNEL_DM,
        "last_message_id": None,
        "flags": 0,
        "recipients": [dict(recipient)],
    }


def guild_roles(
    spec: GuildSpec,
    bot_user_id: int,
    *,
    everyone_permissions: int = EVERYONE_PERMISSIONS,
    bot_permissions: int = BOT_PERMISSIONS,
) -> list[dict[str, Any]]:
    roles = [
        role_payload(spec.id, "@everyone", permissions=everyone_permissions),
        # Discord gives every bot a managed role named after it when it joins with permissions.
        role_payload(
            spec.bot_role_id,
            "citadel-bot",
            permissions=bot_permissions,
            position=1,
            managed=True,
            tags={"bot_id": str(bot_user_id)},
        ),
    ]
    roles.extend(dict(r) for r in spec.extra_roles)
    return roles


def guild_channels(spec: GuildSpec) -> list[dict[str, Any]]:
    channels = [text_channel_payload(spec.channel_id, spec.id)]
    channels.extend(dict(c) for c in spec.extra_channels)
    return channels


def guild_create_payload(
    spec: GuildSpec,
    bot_user_id: int,
    joined_at: str,
    *,
    roles: list[dict[str, Any]] | None = None,
    channels: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A minimal but complete GUILD_CREATE ``d``: every key discord.py's Guild._from_data reads.

    ``roles`` and ``channels`` replace the ones built from ``spec`` (the fake's current state).
    """
    channels = guild_channels(spec) if channels is None else channels
    has_default = any(c["id"] == str(spec.channel_id) for c in channels)
    return {
        "id": str(spec.id),
        "name": spec.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(spec.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": spec.locale,
        "system_channel_id": str(spec.channel_id) if has_default else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "application_id": None,
        "max_members": 500000,
        "max_presences": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "incidents_data": None,
        "features": [],
        "roles": guild_roles(spec, bot_user_id) if roles is None else roles,
        "channels": channels,
        "emojis": [],
        "stickers": [],
        "threads": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "presences": [],
        "voice_states": [],
        "members": [],
        "member_count": spec.member_count,
        "large": False,
        "unavailable": False,
        "lazy": True,
        "joined_at": joined_at,
        "embedded_activities": [],
        "activity_instances": [],
        "version": 0,
    }


def member_payload(
    user: Mapping[str, Any] | None,
    *,
    roles: Iterable[int] = (),
    permissions: int | str | None = None,
    joined_at: str | None = None,
) -> dict[str, Any]:
    """A guild member; ``user`` None gives the user-less form used in ``resolved.members``."""
    data: dict[str, Any] = {
        "roles": [str(r) for r in roles],
        "nick": None,
        "avatar": None,
        "banner": None,
        "joined_at": joined_at or iso(1609459200),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    if user is not None:
        data["user"] = dict(user)
    return data


def normalize_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    """An embed as Discord echoes it back: ``type`` filled in, everything else kept."""
    out = dict(embed)
    out.setdefault("type", "rich")
    if "fields" in out and out["fields"] is not None:
        out["fields"] = [{"inline": False, **f} for f in out["fields"]]
    return out


def message_payload(
    *,
    message_id: int,
    channel_id: int,
    author: Mapping[str, Any],
    body: Mapping[str, Any],
    message_type: int = 0,
    extra_flags: int = 0,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: Mapping[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A message object from a create request body, complete enough for discord.py's Message."""
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": message_type,
        "author": dict(author),
        "content": body.get("content") or "",
        "timestamp": iso(snowflake_time(message_id)),
        "edited_timestamp": None,
        "tts": bool(body.get("tts")),
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": attachments or [],
        "embeds": [normalize_embed(e) for e in body.get("embeds") or []],
        "reactions": [],
        "pinned": False,
        "flags": ((body.get("flags") or 0) & _SENDER_FLAGS) | extra_flags,
        "components": list(body.get("components") or []),
        "sticker_items": [],
        "position": 0,
    }
    if body.get("nonce") is not None:
        data["nonce"] = body["nonce"]
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if application_id is not None:
        data["application_id"] = str(application_id)
    if interaction_metadata is not None:
        data["interaction_metadata"] = dict(interaction_metadata)
    if body.get("message_reference"):
        data["message_reference"] = dict(body["message_reference"], type=0)
    if body.get("poll"):
        data["poll"] = body["poll"]
    return data


def apply_message_edit(message: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a PATCH body to a stored message in place, as Discord does (absent keys are kept)."""
    if "content" in body:
        message["content"] = body["content"] or ""
    if "embeds" in body:
        message["embeds"] = [normalize_embed(e) for e in body["embeds"] or []]
    if "components" in body:
        message["components"] = list(body["components"] or [])
    if "attachments" in body and body["attachments"] is not None:
        keep = {str(a.get("id")) for a in body["attachments"]}
        message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
    if "flags" in body and body["flags"] is not None:
        message["flags"] = (
            (message["flags"] & ~_SENDER_FLAGS)
            | (body["flags"] & _SENDER_FLAGS)
            | (message["flags"] & FLAG_EPHEMERAL)
        )
    if body.get("poll"):
        message["poll"] = body["poll"]
    message["flags"] &= ~FLAG_LOADING
    message["edited_timestamp"] = iso()
    return message


# Guild scheduled events
EVENT_SCHEDULED = 1
EVENT_ACTIVE = 2
EVENT_COMPLETED = 3
EVENT_CANCELED = 4
EVENT_EXTERNAL = 3
# The only status changes Discord allows; finished events (3, 4) cannot be changed at all.
EVENT_TRANSITIONS = {EVENT_SCHEDULED: {EVENT_ACTIVE, EVENT_CANCELED}, EVENT_ACTIVE: {EVENT_COMPLETED}}


def scheduled_event_payload(
    *, event_id: int, guild_id: int, creator: Mapping[str, Any], body: Mapping[str, Any]
) -> dict[str, Any]:
    """A guild scheduled event as Discord returns it, from a create request body."""
    return {
        "id": str(event_id),
        "guild_id": str(guild_id),
        "channel_id": None if body.get("channel_id") is None else str(body["channel_id"]),
        "creator_id": creator["id"],
        "name": body["name"],
        "description": body.get("description"),
        "scheduled_start_time": body["scheduled_start_time"],
        "scheduled_end_time": body.get("scheduled_end_time"),
        "privacy_level": body.get("privacy_level", 2),
        "status": EVENT_SCHEDULED,
        "entity_type": body["entity_type"],
        "entity_id": None,
        "entity_metadata": dict(body["entity_metadata"]) if body.get("entity_metadata") else None,
        "sku_ids": [],
        "creator": dict(creator),
        "user_count": 0,
        "image": None,
        "recurrence_rule": body.get("recurrence_rule"),
        "auto_start": False,
    }
