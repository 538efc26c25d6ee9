"""Discord's permission arithmetic: guild roles, then channel overwrites, as Discord documents it.

The fake uses this to refuse what Discord would refuse (a message in a channel the bot may not post
in), and discord.py runs the same algorithm on the roles and overwrites the fake sent, so the two
agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .payloads import (
    ADMINISTRATOR,
    ATTACH_FILES,
    EMBED_LINKS,
    MENTION_EVERYONE,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)

ALL_PERMISSIONS = (1 << 53) - 1  # every bit Discord defines today, and room to spare
# The permissions that exist per channel (discord.py's Permissions.all_channel()): what a member who
# cannot see a channel loses there. Guild-wide ones such as Manage Events or Change Nickname stay.
CHANNEL_PERMISSIONS = 8555290110197585

OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


def overwrite(target_id: int, kind: int, *, allow: int = 0, deny: int = 0) -> dict[str, Any]:
    """One ``permission_overwrites`` entry (``kind`` 0 for a role, 1 for a member)."""
    return {"id": str(target_id), "type": kind, "allow": str(allow), "deny": str(deny)}


def base_permissions(
    roles: Iterable[Mapping[str, Any]], guild_id: int, member_role_ids: Iterable[int]
) -> int:
    """Guild-level permissions: @everyone (the role whose id is the guild id) OR the member's roles."""
    wanted = {str(r) for r in member_role_ids}
    wanted.add(str(guild_id))
    perms = 0
    for role in roles:
        if role["id"] in wanted:
            perms |= int(role["permissions"])
    return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms


def channel_permissions(
    base: int,
    overwrites: Iterable[Mapping[str, Any]],
    *,
    guild_id: int,
    member_id: int,
    member_role_ids: Iterable[int],
) -> int:
    """Apply a channel's overwrites to ``base``: @everyone's, then the roles' together, then the member's."""
    if base & ADMINISTRATOR or base == ALL_PERMISSIONS:
        return ALL_PERMISSIONS
    roles = {str(r) for r in member_role_ids}
    everyone = str(guild_id)
    member = str(member_id)
    role_allow = role_deny = 0
    member_entry: Mapping[str, Any] | None = None
    perms = base
    for entry in overwrites:
        target = entry["id"]
        if int(entry.get("type", OVERWRITE_ROLE)) == OVERWRITE_MEMBER:
            if target == member:
                member_entry = entry
        elif target == everyone:
            perms = (perms & ~int(entry["deny"])) | int(entry["allow"])
        elif target in roles:
            role_allow |= int(entry["allow"])
            role_deny |= int(entry["deny"])
    perms = (perms & ~role_deny) | role_allow
    if member_entry is not None:
        perms = (perms & ~int(member_entry["deny"])) | int(member_entry["allow"])
    # Discord's implicit rules, in discord.py's order: no Send Messages takes the permissions that only
    # make sense while sending; no View Channel takes everything the channel could grant.
    if not perms & SEND_MESSAGES:
        perms &= ~(EMBED_LINKS | ATTACH_FILES | MENTION_EVERYONE | (1 << 12))  # 1<<12: SEND_TTS_MESSAGES
    if not perms & VIEW_CHANNEL:
        perms &= ~CHANNEL_PERMISSIONS
    return perms
