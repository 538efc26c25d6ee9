"""The bot's own permissions in a server or one of its channels, asked of Discord when needed.

The bot keeps no copy of its servers (bot/client.py asks for no intents), so discord.py's
`permissions_for` has no roles to go by. These read the server's roles, the bot's member and the
channel's overwrites fresh (two or three REST requests, made together, only for admins' commands), and
compute as Discord documents it ("Permission Overwrites", in its Permissions topic): the @everyone role
and the member's roles, then administrator, then the channel's @everyone, role and member overwrites.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import discord

ADMINISTRATOR = discord.Permissions(administrator=True).value


def computed(
    guild_id: int,
    roles: Iterable[Mapping[str, Any]],
    member: Mapping[str, Any],
    channel: Mapping[str, Any] | None = None,
) -> discord.Permissions:
    """A member's permissions from Discord's role, member and channel objects, as Discord computes them."""
    role_permissions = {int(role["id"]): int(role["permissions"]) for role in roles}
    member_roles = {int(role_id) for role_id in member.get("roles", ())}
    value = role_permissions.get(guild_id, 0)  # @everyone's id is the server's
    for role_id in member_roles:
        value |= role_permissions.get(role_id, 0)
    if value & ADMINISTRATOR:
        return discord.Permissions.all()
    if channel is not None:
        overwrites = channel.get("permission_overwrites") or ()
        member_id = int(member["user"]["id"])

        def apply(allow: int, deny: int) -> None:
            nonlocal value
            value = (value & ~deny) | allow

        for overwrite in overwrites:
            if int(overwrite["id"]) == guild_id:
                apply(int(overwrite["allow"]), int(overwrite["deny"]))
        allow = deny = 0
        for overwrite in overwrites:
            if overwrite["type"] == 0 and int(overwrite["id"]) in member_roles:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        apply(allow, deny)
        for overwrite in overwrites:
            if overwrite["type"] == 1 and int(overwrite["id"]) == member_id:
                apply(int(overwrite["allow"]), int(overwrite["deny"]))
    return discord.Permissions(value)


async def bot_permissions(
    bot: discord.Client, guild_id: int, channel_id: int | None = None
) -> discord.Permissions:
    """What the bot may do in the server `guild_id` (in its channel `channel_id` when given), now.
    discord.HTTPException (NotFound for a channel deleted meanwhile) passes to the caller."""
    assert bot.user is not None
    http = bot.http
    reads: list[Any] = [http.get_roles(guild_id), http.get_member(guild_id, bot.user.id)]
    if channel_id is not None:
        reads.append(http.get_channel(channel_id))
    roles, member, *channel = await asyncio.gather(*reads)
    return computed(guild_id, roles, member, channel[0] if channel else None)


def holds_role(member: discord.Member, role_id: int) -> bool:
    """Whether the member has the role, from the role ids the interaction carried: discord.py's
    `Member.get_role` looks the role up in the server's roles, which the bot does not keep (pinned:
    discord.py 2.7 keeps the ids in `Member._roles`)."""
    return member._roles.has(role_id)
