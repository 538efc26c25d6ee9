"""Server admins' /announce commands: where countdowns and change updates go, when, and whom they ping."""

from __future__ import annotations

import logging
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CitadelBot
from bot.render import to_embed
from bot.store.servers import GuildSettings
from bot.tree import admin_check, reply_ephemeral, writes
from bot.zones import local_label, zone_choices

log = logging.getLogger(__name__)

NEEDED = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)


def spoilers_line(days: int) -> str:
    """What the server's spoiler setting does, in one sentence."""
    if days == 0:
        return "Plots and other spoilers are hidden until a premiere begins (and always in search results)."
    plural = "s" if days != 1 else ""
    return f"Plots and other spoilers are hidden until {days} day{plural} after each premiere (and always in search results)."


def events_held_line(held: int) -> str:
    """Why some premieres have no Discord event, and what to do about it, in one sentence."""
    premieres = "premiere has" if held == 1 else "premieres have"
    return (
        f"**Held back:** {held} {premieres} no event because this server has 100 scheduled events, Discord's "
        "limit; delete or end some events to free room, and the soonest premieres get theirs first."
    )


async def zone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """IANA zones matching what was typed (a city, a region, part of a name), from a list kept in memory."""
    return [app_commands.Choice(name=name, value=name) for name in zone_choices(current)]


class AnnounceGroup(app_commands.Group):
    def __init__(self, cog: Announce) -> None:
        super().__init__(
            name="announce",
            description="Release countdowns and change updates for this server",
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )
        self.cog = cog

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return admin_check(interaction)

    @app_commands.command(name="channel", description="Post countdowns and updates in this channel")
    @app_commands.describe(channel="A text channel where the bot can send messages and embed links")
    async def channel(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        missing = await self.cog.missing_permissions(channel)
        if missing:
            await reply_ephemeral(
                interaction,
                f"I can't post in {channel.mention}: I'm missing {' and '.join(missing)} there. "
                "Give me those (channel settings -> Permissions) and try again. Nothing was changed.",
            )
            return
        settings = await self.cog.announcements.post_in(self.cog.guild_id(interaction), channel.id)
        await self.cog.show_status(
            interaction, settings, f"Countdowns and updates will be posted in {channel.mention}."
        )

    @app_commands.command(
        name="milestones",
        description="Days before a premiere to post a countdown (0 is the day)",
        extras=writes(),
    )
    @app_commands.describe(days="Comma-separated days, default 30,14,7,3,1,0")
    async def milestones(
        self, interaction: discord.Interaction, days: app_commands.Range[str, 1, 60]
    ) -> None:
        settings = await self.cog.announcements.milestones(self.cog.guild_id(interaction), days)
        line = (
            f"Countdowns will be posted {', '.join(map(str, settings.milestones))} days before each premiere."
        )
        await self.cog.show_status(interaction, settings, line)

    @app_commands.command(
        name="timezone",
        description="The server's time zone: countdowns go out at its posting hour there",
        extras=writes(),
    )
    @app_commands.describe(
        zone="An IANA time zone such as Europe/Rome or Asia/Kolkata; type a city to search"
    )
    @app_commands.autocomplete(zone=zone_autocomplete)
    async def timezone(self, interaction: discord.Interaction, zone: app_commands.Range[str, 1, 60]) -> None:
        await self.cog.set_posting(interaction, zone=zone)

    @app_commands.command(
        name="time",
        description="The hour of the day countdowns are posted, in the server's time zone",
        extras=writes(),
    )
    @app_commands.describe(hour="0 to 23; default 9 (09:00)")
    async def posting_time(
        self, interaction: discord.Interaction, hour: app_commands.Range[int, 0, 23]
    ) -> None:
        await self.cog.set_posting(interaction, hour=hour)

    @app_commands.command(
        name="role", description="Ping an opt-in role with each post; leave empty to stop pinging"
    )
    @app_commands.describe(role="The role to ping (only this role is ever pinged)")
    async def role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        if role is None:
            await self.cog.save(interaction, "Posts will not ping anyone.", role_id=None)
            return
        if role.is_default():
            await reply_ephemeral(interaction, "Pick an opt-in role, not @everyone. Nothing was changed.")
            return
        note = (
            ""
            if role.mentionable
            else " The role is not mentionable, so make it mentionable or the ping won't notify."
        )
        await self.cog.save(interaction, f"Posts will ping {role.mention}.{note}", role_id=role.id)

    @app_commands.command(
        name="follow-roles", description="Per-title followers' roles (/citadel follow) on or off"
    )
    @app_commands.describe(state="on or off")
    async def follow_roles(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        if state == "off":
            line = (
                "Follow roles are off: members can't start following titles here, and posts ping the "
                "opt-in role (if any). The followers' roles already made are left as they are."
            )
        else:
            line = (
                "Follow roles are on: a member who presses Follow or uses /citadel follow gets that "
                "title's followers' role, and posts about the title ping it instead of the opt-in role."
            )
            guild = interaction.guild
            if guild is not None and not (await self.cog.bot_permissions(guild)).manage_roles:
                line += " I need the Manage Roles permission to give those roles; until then following is refused."
        await self.cog.save(interaction, line, follow_roles=state == "on")

    @app_commands.command(name="updates", description="Turn change updates on or off (countdowns stay)")
    @app_commands.describe(state="on or off")
    async def updates(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        await self.cog.save(interaction, f"Change updates are {state}.", updates=state == "on")

    @app_commands.command(name="events", description="Create Discord events for premieres known to the day")
    @app_commands.describe(state="on or off")
    async def events(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        guild = interaction.guild
        if state == "on" and guild is not None and not (await self.cog.bot_permissions(guild)).manage_events:
            await reply_ephemeral(
                interaction, "I need the Manage Events permission for that. Nothing was changed."
            )
            return
        await self.cog.save(interaction, f"Premiere events are {state}.", events=state == "on")

    @app_commands.command(
        name="spoilers",
        description="How many days after a premiere plot spoilers stay hidden",
        extras=writes(),
    )
    @app_commands.describe(days="0 to 365 (default 14); 0 shows everything once the premiere begins")
    async def spoilers(self, interaction: discord.Interaction, days: app_commands.Range[int, 0, 365]) -> None:
        settings = await self.cog.announcements.spoilers(self.cog.guild_id(interaction), days)
        await self.cog.show_status(interaction, settings, spoilers_line(settings.spoiler_days))

    @app_commands.command(name="off", description="Stop all countdowns and updates in this server")
    async def off(self, interaction: discord.Interaction) -> None:
        await self.cog.save(interaction, "Announcements are off.", channel_id=None)

    @app_commands.command(name="status", description="The settings and the next three posts")
    async def status(self, interaction: discord.Interaction) -> None:
        await self.cog.show_status(interaction, await self.cog.settings(interaction), "")

    @app_commands.command(name="preview", description="The next three posts exactly as they will look")
    async def preview(self, interaction: discord.Interaction) -> None:
        settings = await self.cog.settings(interaction)
        upcoming = await self.cog.announcements.upcoming(settings, self.cog.bot.clock())
        if not upcoming:
            await reply_ephemeral(interaction, "Nothing is planned: no premiere known to the day is ahead.")
            return
        zone = settings.timezone
        lines = [
            f"{i}. {local_label(when, zone)} ({discord.utils.format_dt(when, 'F')})"
            for i, (when, _) in enumerate(upcoming, start=1)
        ]
        ping = f" Each will ping <@&{settings.role_id}>." if settings.role_id else ""
        await interaction.response.send_message(
            "The next posts, in order:\n" + "\n".join(lines) + ping,
            embeds=[to_embed(card) for _, card in upcoming],
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


class Announce(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.announcements = bot.announcements
        self.group = AnnounceGroup(self)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)

    @staticmethod
    def guild_id(interaction: discord.Interaction) -> int:
        assert interaction.guild_id is not None  # the group is guild_only, and admin_check says so too
        return interaction.guild_id

    async def settings(self, interaction: discord.Interaction) -> GuildSettings:
        return await self.announcements.settings(self.guild_id(interaction))

    async def save(self, interaction: discord.Interaction, line: str, **changes: Any) -> None:
        settings = await self.announcements.change(self.guild_id(interaction), **changes)
        await self.show_status(interaction, settings, line)

    async def set_posting(
        self, interaction: discord.Interaction, *, zone: str | None = None, hour: int | None = None
    ) -> None:
        settings = await self.announcements.posting(self.guild_id(interaction), zone=zone, hour=hour)
        await self.show_status(interaction, settings, f"Countdowns will be posted at {settings.posting}.")

    async def bot_member(self, guild: discord.Guild) -> discord.Member:
        # Fetched, not taken from the cache: without the privileged members intent the bot never
        # hears of changes to its own roles, so the cached member can be out of date.
        assert self.bot.user is not None
        return await guild.fetch_member(self.bot.user.id)

    async def bot_permissions(self, guild: discord.Guild) -> discord.Permissions:
        return (await self.bot_member(guild)).guild_permissions

    async def missing_permissions(self, channel: discord.TextChannel) -> list[str]:
        """What the bot lacks to post embeds in `channel` (computed from roles and overwrites)."""
        permissions = channel.permissions_for(await self.bot_member(channel.guild))
        return [label for name, label in NEEDED if not getattr(permissions, name)]

    async def ping(self, settings: GuildSettings) -> str:
        """Whom posts ping, as /announce status says it (bot/posts.py decides it for each post)."""
        opt_in = f"<@&{settings.role_id}>" if settings.role_id else "nobody"
        if not settings.follow_roles:
            return f"{opt_in} (follow roles are off)"
        ping = f"a title's followers' role where it has one, else {opt_in}"
        guild = self.bot.get_guild(settings.guild_id)
        channel = guild.get_channel(settings.channel_id) if guild and settings.channel_id else None
        # Discord notifies the holders of a role that only the bot may mention (as the bot makes the
        # followers' roles) only if the bot has this permission where it posts.
        if (
            isinstance(channel, discord.TextChannel)
            and not channel.permissions_for(await self.bot_member(channel.guild)).mention_everyone
        ):
            ping += (
                f". Followers are notified only once I have Mention @everyone, @here and All Roles in "
                f"{channel.mention} (I only ever ping the one role)"
            )
        return ping

    async def show_status(self, interaction: discord.Interaction, settings: GuildSettings, line: str) -> None:
        now = self.bot.clock()
        where = f"<#{settings.channel_id}>" if settings.channel_id else "off"
        rows = [
            f"**Channel:** {where}",
            f"**Milestones:** {', '.join(map(str, settings.milestones))} days before a premiere",
            f"**Posting time:** {settings.post_hour:02d}:00 · **Time zone:** {settings.timezone}",
            f"**Ping:** {await self.ping(settings)}",
            f"**Change updates:** {'on' if settings.updates else 'off'} · **Premiere events:** {'on' if settings.events else 'off'}",
            f"**Spoilers:** {spoilers_line(settings.spoiler_days)}",
        ]
        held = await self.announcements.events_held_back(settings.guild_id) if settings.events else 0
        if held:
            rows.append(events_held_line(held))
        if settings.paused_at:
            rows.append(
                f"**Paused** after repeated failures: {settings.problem} Pick a channel again to resume."
            )
        elif settings.problem:
            rows.append(f"**Last problem:** {settings.problem}")
        if settings.channel_id:
            upcoming = await self.announcements.upcoming(settings, now)
            rows.append("**Next posts:**")
            rows += [f"{local_label(when, settings.timezone)} · {discord.utils.format_dt(when, 'F')} "
                     f"({discord.utils.format_dt(when, 'R')}): {card.title}"
                     for when, card in upcoming] or ["nothing planned yet"]  # fmt: skip
        embed = discord.Embed(
            title="Announcements in this server", description="\n".join(rows), colour=0xB3202A
        )
        await interaction.response.send_message(
            line or None, embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Announce(bot))
