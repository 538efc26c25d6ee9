"""Following a title in a server: its followers' role, made by the bot on the first follow, given and
taken as members follow and unfollow, and what a member follows. The Discord side (fetching, making,
giving and taking roles) is a RoleKeeper, which bot/roles.py implements with discord.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from bot.errors import FollowRolesOff, NeedsManageRoles, RoleAboveMine, RoleRefused
from bot.facts import Entry
from bot.i18n import reading, tr
from bot.render import cut
from bot.services.catalogue import Catalogue
from bot.store import Store

ROLE_NAME_LIMIT = 100  # Discord's longest role name


def follower_role_name(entry: Entry, language: str | None = None) -> str:
    """The name of the role the bot makes for the followers of `entry`, in the server's `language` (a
    Discord locale; None: English): every member of the server reads it, whoever asked first."""
    with reading(language):
        longest = ROLE_NAME_LIMIT - len(tr("{title} — followers", title=""))
        return tr("{title} — followers", title=cut(entry.title, longest))


@dataclass(frozen=True)
class RoleState:
    """A role as Discord has it now."""

    id: int
    name: str
    position: int


@dataclass(frozen=True)
class Standing:
    """The bot in one server, as Discord has it now: whether it may manage roles, its highest role,
    and the server's roles by id."""

    manage_roles: bool
    top: RoleState
    roles: dict[int, RoleState]

    def check(self, role: RoleState | None = None) -> None:
        """NeedsManageRoles, or RoleAboveMine for a `role` the bot may not give or take."""
        if not self.manage_roles:
            raise NeedsManageRoles()
        if role is not None and role.position >= self.top.position:
            raise RoleAboveMine(role.name, self.top.name)


class RoleGone(Exception):
    """Discord says the role does not exist (404 Unknown Role): someone deleted it just now."""


class RoleForbidden(Exception):
    """Discord refused the change (403 Missing Permissions): the bot's permissions or its place among
    the roles changed since the standing was read."""


class RoleKeeper(Protocol):
    """What following needs of Discord, for one member in one server."""

    async def standing(self) -> Standing: ...

    async def create(self, name: str) -> RoleState:
        """A new role nobody can mention but the bot, with no permissions."""
        ...

    async def delete(self, role_id: int) -> None: ...

    async def give(self, role_id: int) -> None:
        """Give the role to the member; RoleGone if it no longer exists, RoleForbidden if Discord
        refuses (so do `create` and `take`)."""
        ...

    async def take(self, role_id: int) -> None:
        """Take the role from the member; RoleGone if it no longer exists."""
        ...


class Change(Enum):
    FOLLOWED = "followed"
    ALREADY = "already following"
    UNFOLLOWED = "unfollowed"
    NOT_FOLLOWING = "not following"


@dataclass(frozen=True)
class Outcome:
    """What following or unfollowing did: the change, the title and its followers' role (None when
    there is none to name), and whether the server posts countdowns at all (so the answer is true)."""

    change: Change
    entry: Entry
    role_id: int | None
    posts_here: bool = True


@dataclass(frozen=True)
class Followed:
    entry: Entry
    role_id: int


@dataclass(frozen=True)
class Following:
    """What a member follows in a server: `/citadel following` shows it whole. Made in one place
    (`Follows.following`) so that what else a member can follow (DM reminders) joins it there."""

    titles: list[Followed] = field(default_factory=list)


# Holds: whether the member holds a role, by id (Discord tells it in every interaction).
Holds = Callable[[int], bool]


@contextlib.asynccontextmanager
async def refused_as(role: str) -> AsyncIterator[None]:
    """Discord's refusal of a role change, said as one (RoleRefused naming the role)."""
    try:
        yield
    except RoleForbidden:
        raise RoleRefused(role) from None


class Follows:
    def __init__(self, store: Store, catalogue: Catalogue) -> None:
        self.store = store
        self.catalogue = catalogue
        # One follow or unfollow at a time per title and server, so two members' first follows make one role.
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    def _lock(self, guild_id: int, slug: str) -> asyncio.Lock:
        return self._locks.setdefault((guild_id, slug), asyncio.Lock())

    async def follow(
        self, guild_id: int, entry: Entry, keeper: RoleKeeper, holds: Holds, language: str | None = None
    ) -> Outcome:
        """Give the member the title's followers' role, making it first if the server has none (or
        someone deleted it), named in the server's `language`. Nothing half-happens: a role made for a member who could not be given it
        is deleted again, and a role is remembered only once given."""
        settings = await self.store.servers.get(guild_id)
        if not settings.follow_roles:
            raise FollowRolesOff()
        async with self._lock(guild_id, entry.slug), refused_as(follower_role_name(entry, language)):
            posts_here = settings.active
            standing = await keeper.standing()
            standing.check()
            stored = await self.store.follower_roles.get(guild_id, entry.slug)
            role = standing.roles.get(stored) if stored is not None else None
            if role is not None and holds(role.id):
                return Outcome(Change.ALREADY, entry, role.id, posts_here)
            if role is not None:
                standing.check(role)
                try:
                    await keeper.give(role.id)
                    return Outcome(Change.FOLLOWED, entry, role.id, posts_here)
                except RoleGone:
                    pass  # deleted since the standing was read: made again below
            made = await keeper.create(follower_role_name(entry, language))
            try:
                await keeper.give(made.id)
                await self.store.follower_roles.save(guild_id, entry.slug, made.id)
            except BaseException:
                with contextlib.suppress(Exception):
                    await keeper.delete(made.id)
                raise
            return Outcome(Change.FOLLOWED, entry, made.id, posts_here)

    async def unfollow(
        self, guild_id: int, entry: Entry, keeper: RoleKeeper, holds: Holds, language: str | None = None
    ) -> Outcome:
        """Take the title's followers' role from the member. Works with follow roles off too: turning
        them off stops new follows, and a member can still leave a role they hold."""
        async with self._lock(guild_id, entry.slug), refused_as(follower_role_name(entry, language)):
            stored = await self.store.follower_roles.get(guild_id, entry.slug)
            if stored is None or not holds(stored):
                return Outcome(Change.NOT_FOLLOWING, entry, None)
            standing = await keeper.standing()
            role = standing.roles.get(stored)
            if role is None:  # deleted: nobody holds it any more
                return Outcome(Change.NOT_FOLLOWING, entry, None)
            standing.check(role)
            try:
                await keeper.take(role.id)
            except RoleGone:
                return Outcome(Change.NOT_FOLLOWING, entry, None)
            return Outcome(Change.UNFOLLOWED, entry, role.id)

    async def toggle(
        self, guild_id: int, entry: Entry, keeper: RoleKeeper, holds: Holds, language: str | None = None
    ) -> Outcome:
        """The Follow button: unfollow for a member who follows, follow for one who does not."""
        stored = await self.store.follower_roles.get(guild_id, entry.slug)
        if stored is not None and holds(stored):
            return await self.unfollow(guild_id, entry, keeper, holds, language)
        return await self.follow(guild_id, entry, keeper, holds, language)

    async def following(self, guild_id: int, holds: Holds) -> Following:
        """What the member follows in this server, in the entries' order."""
        titles = []
        for slug, role_id in (await self.store.follower_roles.in_guild(guild_id)).items():
            entry = self.catalogue.entries.by_slug.get(slug)
            if entry is not None and holds(role_id):
                titles.append(Followed(entry, role_id))
        return Following(titles)
