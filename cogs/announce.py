"""Server admins' /announce commands: where countdowns and change updates go, when, and whom they ping."""

from __future__ import annotations

import logging
from typing import Any, Literal

import discord
from babel import Locale, UnknownLocaleError
from discord import app_commands
from discord.ext import commands

from bot.client import CitadelBot
from bot.i18n import ENGLISH, LANGUAGES, N_, babel_locale, listed, tr, trn
from bot.options import PostingChannel
from bot.permissions import bot_permissions
from bot.posts import SERVER_LANGUAGE
from bot.refusals import NOTHING_CHANGED
from bot.render import to_embed
from bot.services.announcements import told_locale
from bot.store.servers import GuildSettings
from bot.tree import admin_check, reply_ephemeral, server_locale, writes
from bot.zones import local_label, zone_choices

log = logging.getLogger(__name__)

# What the bot needs in its channel, as Discord's permission settings name it.
NEEDED = (
    ("view_channel", N_("View Channel")),
    ("send_messages", N_("Send Messages")),
    ("embed_links", N_("Embed Links")),
)
# /announce language's choices: each language by its name and its own name, then the server's own.
LANGUAGE_CHOICES = [
    app_commands.Choice(name="Italian (italiano)", value="it"),
    app_commands.Choice(name="Hindi (हिन्दी)", value="hi"),
    app_commands.Choice(name="Spanish, Spain (español de España)", value="es-ES"),
    app_commands.Choice(name="Spanish, Latin America (español de Latinoamérica)", value="es-419"),
    app_commands.Choice(name="Portuguese, Brazil (português do Brasil)", value="pt-BR"),
    app_commands.Choice(name="French (français)", value="fr"),
    app_commands.Choice(name="German (Deutsch)", value="de"),
    app_commands.Choice(name="English", value=ENGLISH),
    app_commands.Choice(name="The server's own language", value=SERVER_LANGUAGE),
]


def spoilers_line(days: int) -> str:
    """What the server's spoiler setting does, in one sentence."""
    if days == 0:
        return tr(
            "Plots and other spoilers are hidden until a premiere begins (and always in search results)."
        )
    return trn(
        "Plots and other spoilers are hidden until {count} day after each premiere (and always in search results).",
        "Plots and other spoilers are hidden until {count} days after each premiere (and always in search results).",
        days,
    )


def events_held_line(held: int) -> str:
    """Why some premieres have no Discord event, and what to do about it, in one sentence."""
    return trn(
        "**Held back:** {count} premiere has no event because this server has 100 scheduled events, Discord's "
        "limit; delete or end some events to free room, and the soonest premieres get theirs first.",
        "**Held back:** {count} premieres have no event because this server has 100 scheduled events, Discord's "
        "limit; delete or end some events to free room, and the soonest premieres get theirs first.",
        held,
    )


def language_name(locale: str) -> str:
    """A Discord locale's language, named in the reader's words by CLDR: "Italian", "italiano",
    "Spanish (Latin America)"; English is English, whichever its region."""
    name = "en" if locale.startswith("en") else LANGUAGES.get(locale, locale.replace("-", "_"))
    try:
        return Locale.parse(name).get_display_name(babel_locale()) or locale
    except (ValueError, UnknownLocaleError):
        return locale


def language_line(settings: GuildSettings, server_locale: str | None) -> str:
    """The language of the server's posts, as /announce status and /announce language say it."""
    if settings.language is not None:
        return tr("Posts are in {language}.", language=language_name(settings.language))
    own = server_locale or ENGLISH
    if own in LANGUAGES or own.startswith("en"):
        return tr("Posts are in the server's own language, {language}.", language=language_name(own))
    return tr(
        "Posts are in English: the server's own language, {language}, is not one I post in.",
        language=language_name(own),
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
        allowed = admin_check(interaction)
        # Whatever this command saves is saved with the server's own language, as Discord sent it now
        # (the bot keeps no copy of its servers): posts are in it unless /announce language chose another.
        told_locale.set(server_locale(interaction))
        return allowed

    @app_commands.command(name="channel", description="Post countdowns and updates in this channel")
    @app_commands.describe(channel="A text channel where the bot can send messages and embed links")
    async def channel(self, interaction: discord.Interaction, channel: PostingChannel) -> None:
        missing = await self.cog.missing_permissions(channel.guild_id, channel.id)
        if missing:
            line = tr(
                "I can't post in {channel}: I'm missing {permissions} there. Give me those (channel "
                "settings -> Permissions) and try again.",
                channel=channel.mention,
                permissions=listed([tr(label) for label in missing]),
            )
            await reply_ephemeral(interaction, f"{line} {tr(NOTHING_CHANGED)}")
            return
        settings = await self.cog.announcements.post_in(self.cog.guild_id(interaction), channel.id)
        await self.cog.show_status(
            interaction,
            settings,
            tr("Countdowns and updates will be posted in {channel}.", channel=channel.mention),
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
        line = tr(
            "Countdowns will be posted {days} days before each premiere.",
            days=", ".join(map(str, settings.milestones)),
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
            await self.cog.save(interaction, tr("Posts will not ping anyone."), role_id=None)
            return
        if role.is_default():
            line = tr("Pick an opt-in role, not @everyone.")
            await reply_ephemeral(interaction, f"{line} {tr(NOTHING_CHANGED)}")
            return
        line = (
            tr("Posts will ping {role}.", role=role.mention)
            if role.mentionable
            else tr(
                "Posts will ping {role}. The role is not mentionable, so make it mentionable or the ping "
                "won't notify.",
                role=role.mention,
            )
        )
        await self.cog.save(interaction, line, role_id=role.id)

    @app_commands.command(
        name="follow-roles", description="Per-title followers' roles (/citadel follow) on or off"
    )
    @app_commands.describe(state="on or off")
    async def follow_roles(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        if state == "off":
            line = tr(
                "Follow roles are off: members can't start following titles here, and posts ping the "
                "opt-in role (if any). The followers' roles already made are left as they are."
            )
        else:
            line = tr(
                "Follow roles are on: a member who presses Follow or uses /citadel follow gets that "
                "title's followers' role, and posts about the title ping it instead of the opt-in role."
            )
            guild = interaction.guild
            if guild is not None and not (await self.cog.bot_permissions(guild)).manage_roles:
                needed = tr(
                    "I need the Manage Roles permission to give those roles; until then following is refused."
                )
                line += f" {needed}"
        await self.cog.save(interaction, line, follow_roles=state == "on")

    @app_commands.command(name="updates", description="Turn change updates on or off (countdowns stay)")
    @app_commands.describe(state="on or off")
    async def updates(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        line = tr("Change updates are on.") if state == "on" else tr("Change updates are off.")
        await self.cog.save(interaction, line, updates=state == "on")

    @app_commands.command(name="events", description="Create Discord events for premieres known to the day")
    @app_commands.describe(state="on or off")
    async def events(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        guild = interaction.guild
        if state == "on" and guild is not None and not (await self.cog.bot_permissions(guild)).manage_events:
            line = tr("I need the Manage Events permission for that.")
            await reply_ephemeral(interaction, f"{line} {tr(NOTHING_CHANGED)}")
            return
        line = tr("Premiere events are on.") if state == "on" else tr("Premiere events are off.")
        await self.cog.save(interaction, line, events=state == "on")

    @app_commands.command(
        name="spoilers",
        description="How many days after a premiere plot spoilers stay hidden",
        extras=writes(),
    )
    @app_commands.describe(days="0 to 365 (default 14); 0 shows everything once the premiere begins")
    async def spoilers(self, interaction: discord.Interaction, days: app_commands.Range[int, 0, 365]) -> None:
        settings = await self.cog.announcements.spoilers(self.cog.guild_id(interaction), days)
        await self.cog.show_status(interaction, settings, spoilers_line(settings.spoiler_days))

    @app_commands.command(
        name="language",
        description="The language of this server's posts (default: the server's own)",
        extras=writes(),
    )
    @app_commands.describe(language="A language I post in, or the server's own (its Discord setting)")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    async def language(self, interaction: discord.Interaction, language: str) -> None:
        settings = await self.cog.announcements.language(self.cog.guild_id(interaction), language)
        await self.cog.show_status(interaction, settings, language_line(settings, server_locale(interaction)))

    @app_commands.command(name="off", description="Stop all countdowns and updates in this server")
    async def off(self, interaction: discord.Interaction) -> None:
        await self.cog.save(interaction, tr("Announcements are off."), channel_id=None)

    @app_commands.command(name="status", description="The settings and the next three posts")
    async def status(self, interaction: discord.Interaction) -> None:
        await self.cog.show_status(interaction, await self.cog.settings(interaction), "")

    @app_commands.command(name="preview", description="The next three posts exactly as they will look")
    async def preview(self, interaction: discord.Interaction) -> None:
        settings = await self.cog.settings(interaction)
        upcoming = await self.cog.announcements.upcoming(
            settings, self.cog.bot.clock(), server_locale=server_locale(interaction)
        )
        if not upcoming:
            await reply_ephemeral(
                interaction, tr("Nothing is planned: no premiere known to the day is ahead.")
            )
            return
        zone = settings.timezone
        lines = [
            f"{i}. {local_label(when, zone)} ({discord.utils.format_dt(when, 'F')})"
            for i, (when, _) in enumerate(upcoming, start=1)
        ]
        ping = " " + tr("Each will ping {role}.", role=f"<@&{settings.role_id}>") if settings.role_id else ""
        await interaction.response.send_message(
            tr("The next posts, in order:") + "\n" + "\n".join(lines) + ping,
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
        line = tr("Countdowns will be posted at {time}.", time=settings.posting)
        await self.show_status(interaction, settings, line)

    async def bot_permissions(self, guild: discord.Guild) -> discord.Permissions:
        # Asked of Discord each time (bot/permissions.py): the bot keeps no copy of its servers.
        return await bot_permissions(self.bot, guild.id)

    async def missing_permissions(self, guild_id: int, channel_id: int) -> list[str]:
        """What the bot lacks to post embeds in the channel (computed from roles and overwrites)."""
        permissions = await bot_permissions(self.bot, guild_id, channel_id)
        return [label for name, label in NEEDED if not getattr(permissions, name)]

    async def ping(self, settings: GuildSettings) -> str:
        """Whom posts ping, as /announce status says it (bot/posts.py decides it for each post)."""
        opt_in = f"<@&{settings.role_id}>" if settings.role_id else None
        if not settings.follow_roles:
            return (
                tr("{role} (follow roles are off)", role=opt_in)
                if opt_in
                else tr("nobody (follow roles are off)")
            )
        ping = (
            tr("a title's followers' role where it has one, else {role}", role=opt_in)
            if opt_in
            else tr("a title's followers' role where it has one, else nobody")
        )
        # Discord notifies the holders of a role that only the bot may mention (as the bot makes the
        # followers' roles) only if the bot has this permission where it posts.
        if settings.channel_id and not await self.may_mention_roles(settings.guild_id, settings.channel_id):
            channel = f"<#{settings.channel_id}>"
            ping = tr(
                "{ping}. Followers are notified only once I have Mention @everyone, @here and All Roles "
                "in {channel} (I only ever ping the one role)",
                ping=ping,
                channel=channel,
            )
        return ping

    async def may_mention_roles(self, guild_id: int, channel_id: int) -> bool:
        """Whether the bot has Mention @everyone, @here and All Roles in its posting channel (True when
        the channel is gone: the status says so elsewhere, and a deleted channel pings nobody)."""
        try:
            return (await bot_permissions(self.bot, guild_id, channel_id)).mention_everyone
        except discord.NotFound:
            return True
        except discord.Forbidden:  # it may not even see the channel
            return False

    async def show_status(self, interaction: discord.Interaction, settings: GuildSettings, line: str) -> None:
        """The server's settings and its next posts, in the admin's language (the posts' titles in the
        language they will be posted in)."""
        now = self.bot.clock()
        own = server_locale(interaction)
        switches = (
            tr("**Change updates:** on") if settings.updates else tr("**Change updates:** off"),
            tr("**Premiere events:** on") if settings.events else tr("**Premiere events:** off"),
        )
        rows = [
            tr("**Channel:** {channel}", channel=f"<#{settings.channel_id}>")
            if settings.channel_id
            else tr("**Channel:** off"),
            tr(
                "**Milestones:** {days} days before a premiere",
                days=", ".join(map(str, settings.milestones)),
            ),
            tr(
                "**Posting time:** {time} · **Time zone:** {zone}",
                time=str(settings.post_hour).zfill(2) + ":00",
                zone=settings.timezone,
            ),
            tr("**Ping:** {ping}", ping=await self.ping(settings)),
            " · ".join(switches),
            tr("**Spoilers:** {rule}", rule=spoilers_line(settings.spoiler_days)),
            tr("**Language:** {said}", said=language_line(settings, own)),
        ]
        held = await self.announcements.events_held_back(settings.guild_id) if settings.events else 0
        if held:
            rows.append(events_held_line(held))
        if settings.paused_at:
            rows.append(
                tr(
                    "**Paused** after repeated failures: {problem} Pick a channel again to resume.",
                    problem=settings.problem,
                )
            )
        elif settings.problem:
            rows.append(tr("**Last problem:** {problem}", problem=settings.problem))
        if settings.channel_id:
            upcoming = await self.announcements.upcoming(settings, now, server_locale=own)
            rows.append(tr("**Next posts:**"))
            rows += [f"{local_label(when, settings.timezone)} · {discord.utils.format_dt(when, 'F')} "
                     f"({discord.utils.format_dt(when, 'R')}): {card.title}"
                     for when, card in upcoming] or [tr("nothing planned yet")]  # fmt: skip
        embed = discord.Embed(
            title=tr("Announcements in this server"), description="\n".join(rows), colour=0xB3202A
        )
        await interaction.response.send_message(
            line or None, embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Announce(bot))
