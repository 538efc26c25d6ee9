"""Followers' roles through discord.py: the RoleKeeper of bot/services/follows.py for one member in one
server, reading the server's roles and the bot's own member fresh from Discord each time (the bot keeps
no copy of its servers, and a role moved or deleted a moment ago must count)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import discord

from bot.permissions import computed
from bot.services.follows import RoleForbidden, RoleGone, RoleState, Standing

UNKNOWN_ROLE = 10011  # Discord's error code for a role that does not exist


def _state(role: discord.Role) -> RoleState:
    return RoleState(role.id, role.name, role.position)


class DiscordRoles:
    def __init__(self, guild: discord.Guild, member: discord.Member, bot_user_id: int, why: str) -> None:
        self.guild = guild
        self.member = member
        self.bot_user_id = bot_user_id
        self.why = why  # the audit log's reason for every change
        self._made: dict[int, discord.Role] = {}

    async def standing(self) -> Standing:
        http = self.guild._state.http
        me, roles = await asyncio.gather(
            http.get_member(self.guild.id, self.bot_user_id), http.get_roles(self.guild.id)
        )
        states = {
            int(role["id"]): RoleState(int(role["id"]), role["name"], int(role["position"])) for role in roles
        }
        held = {int(role_id) for role_id in me["roles"]} | {self.guild.id}  # @everyone's id is the server's
        top = max((states[i] for i in held if i in states), key=lambda role: (role.position, role.id))
        permissions = computed(self.guild.id, roles, me)
        return Standing(
            manage_roles=permissions.administrator or permissions.manage_roles,
            top=top,
            roles=states,
        )

    async def create(self, name: str) -> RoleState:
        try:
            role = await self.guild.create_role(
                name=name, permissions=discord.Permissions.none(), mentionable=False, reason=self.why
            )
        except discord.Forbidden as exc:
            raise RoleForbidden() from exc
        self._made[role.id] = role
        return _state(role)

    async def delete(self, role_id: int) -> None:
        """Delete a role this keeper made (one it could not give after all)."""
        await self._made.pop(role_id).delete(reason=self.why)

    async def give(self, role_id: int) -> None:
        await self._change(self.member.add_roles, role_id)

    async def take(self, role_id: int) -> None:
        await self._change(self.member.remove_roles, role_id)

    async def _change(self, change: Callable[..., Awaitable[None]], role_id: int) -> None:
        try:
            await change(discord.Object(role_id), reason=self.why)
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_ROLE:
                raise RoleGone() from exc
            raise
        except discord.Forbidden as exc:
            raise RoleForbidden() from exc
