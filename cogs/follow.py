"""Following a title, for /citadel (cogs/citadel.py): the Follow and Unfollow buttons, which keep working
after restarts (the entry is in their custom id), and the answers of follow, unfollow and following."""

from __future__ import annotations

import re
from functools import partial
from typing import Any, Literal

import discord

from bot.client import bot_of
from bot.errors import FollowNeedsServer
from bot.facts import Entry
from bot.i18n import tr
from bot.permissions import holds_role
from bot.refusals import NOTHING_CHANGED
from bot.render import cut
from bot.roles import DiscordRoles
from bot.services.follows import Change, Following, Follows, Outcome
from bot.tree import guarded, server_locale

Action = Literal["follow", "unfollow", "toggle"]


def _line(outcome: Outcome) -> str:
    """The one line a member reads after following or unfollowing."""
    said = {"title": outcome.entry.title, "role": f"<@&{outcome.role_id}>"}
    match outcome.change:
        case Change.FOLLOWED if outcome.posts_here:
            return tr(
                "You now follow {title}: you have the {role} role, which this server's countdowns and "
                "updates for it ping. Press Follow again or use /citadel unfollow to stop.",
                **said,
            )
        case Change.FOLLOWED:
            return tr(
                "You now follow {title}: you have the {role} role. This server doesn't post countdowns "
                "yet; once an admin picks a channel with /announce channel, its posts for it ping that role.",
                **said,
            )
        case Change.ALREADY:
            return tr(
                "You already follow {title} here (you have {role}); /citadel unfollow stops it.", **said
            )
        case Change.UNFOLLOWED:
            return tr("You no longer follow {title}: I took the {role} role away.", **said)
        case Change.NOT_FOLLOWING:
            return tr("You don't follow {title} in this server, so there is nothing to stop.", **said)


async def change_follow(interaction: discord.Interaction, entry: Entry, action: Action) -> None:
    """Follow, unfollow or toggle `entry` for the member, and tell them in one ephemeral line."""
    guild, member = interaction.guild, interaction.user
    if guild is None or not isinstance(member, discord.Member):
        raise FollowNeedsServer()
    bot = bot_of(interaction)
    assert bot.user is not None
    # Up to four requests to Discord follow: the answer comes as a follow-up, well inside 3 seconds.
    await interaction.response.defer(ephemeral=True, thinking=True)
    keeper = DiscordRoles(guild, member, bot.user.id, f"{member} asked to {action} {entry.title}")
    service: Follows = bot.follows
    change = {"follow": service.follow, "unfollow": service.unfollow, "toggle": service.toggle}[action]

    # The role is named in the server's language: its members read it, whoever follows first.
    language = await bot.announcements.server_language(guild.id, server_locale(interaction))
    outcome = await change(guild.id, entry, keeper, partial(holds_role, member), language)
    await interaction.followup.send(
        _line(outcome), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )


class FollowButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"citadel:(?P<action>follow|unfollow):(?P<slug>[a-z0-9-]{1,32})",
):
    """Follow (on answers and posts: it toggles) or Unfollow (in /citadel following). The entry is in
    the custom id, so the button works on any message, after any restart."""

    def __init__(self, slug: str, action: str = "follow", title: str = "") -> None:
        follow = action == "follow"
        super().__init__(
            discord.ui.Button(
                label=tr("Follow") if follow else cut(tr("Unfollow {title}", title=title), 80),
                style=discord.ButtonStyle.primary if follow else discord.ButtonStyle.secondary,
                custom_id=f"citadel:{action}:{slug}",
            )
        )
        self.slug, self.action = slug, action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> FollowButton:
        return cls(match["slug"], match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._press(interaction), NOTHING_CHANGED)

    async def _press(self, interaction: discord.Interaction) -> None:
        entry = bot_of(interaction).catalogue.resolve(self.slug)  # a removed entry: one line says so
        await change_follow(interaction, entry, "toggle" if self.action == "follow" else "unfollow")


def follow_view(slug: str) -> discord.ui.View:
    """The Follow button for an answer or a post about the entry `slug`."""
    view = discord.ui.View(timeout=None)
    view.add_item(FollowButton(slug))
    # Its button is a dynamic item, answered by its custom id however old the message: a stopped view
    # still sends its components, and discord.py keeps nothing of it per message (no store to update on
    # every answer and post).
    view.stop()
    return view


def following_answer(following: Following) -> tuple[str, discord.ui.View | None]:
    """`/citadel following`: what the member follows here, each with its Unfollow button."""
    if not following.titles:
        return (
            tr("You don't follow any title in this server. Press Follow under a /citadel answer to start."),
            None,
        )
    lines = [f"- {followed.entry.title} (<@&{followed.role_id}>)" for followed in following.titles]
    view = discord.ui.View(timeout=None)
    for followed in following.titles[:25]:  # Discord's most buttons on a message
        view.add_item(FollowButton(followed.entry.slug, "unfollow", followed.entry.title))
    return tr("You follow, in this server:") + "\n" + "\n".join(lines), view
