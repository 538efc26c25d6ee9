"""The fans' commands: /citadel <entry> for every entry, plus show, search, about, countdown, suggest,
and a member's own DM reminders (remind, reminders, and their persistent Cancel buttons)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CitadelBot, bot_of
from bot.facts import Entry
from bot.i18n import AS_WRITTEN, reader, tr
from bot.options import CONFIDENCE_DESCRIBE, ConfidenceArg, EntryArg, FieldArg
from bot.permissions import holds_role
from bot.refusals import NOTHING_STORED
from bot.render import Card, cut, to_embed
from bot.tree import guarded, reply_ephemeral, writes
from cogs.follow import FollowButton, change_follow, follow_view, following_answer

log = logging.getLogger(__name__)

MAX_BUTTONS = 25  # on one message (five rows of five)
FOLLOW_VIEWS_KEPT = 1024  # Follow views kept (entries x languages)
# Discord allows 25 subcommands in a group; these names are taken by the group's own commands.
FIXED_SUBCOMMANDS = (
    "show",
    "search",
    "about",
    "suggest",
    "countdown",
    "follow",
    "unfollow",
    "following",
    "remind",
)
MAX_ENTRY_SUBCOMMANDS = 25 - len(FIXED_SUBCOMMANDS)


def subcommand_description(entry: Entry) -> str:
    return cut(entry.description or f"What is known about {entry.title}", 100)


class CitadelGroup(app_commands.Group):
    """/citadel: one subcommand per entry (built from the store at start-up) and the fixed ones below."""

    def __init__(self, bot: CitadelBot) -> None:
        super().__init__(name="citadel", description="Facts about Prime Video's Citadel and its spin-offs")
        self.bot = bot
        self.catalogue = bot.catalogue
        # The Follow button's view, one per entry and language, made once: it is only a dynamic item,
        # which holds no state and is dispatched by its custom id's pattern, so every answer may share it.
        self.follow_views: dict[tuple[str, str | None], discord.ui.View] = {}
        shown = [e for e in self.catalogue.entries if e.slug not in FIXED_SUBCOMMANDS]
        for entry in shown[:MAX_ENTRY_SUBCOMMANDS]:
            self.add_command(self._entry_command(entry.slug, subcommand_description(entry)))
        if len(shown) > MAX_ENTRY_SUBCOMMANDS:
            left = ", ".join(e.slug for e in shown[MAX_ENTRY_SUBCOMMANDS:])
            log.warning("Discord allows 25 subcommands; these entries are only under /citadel show: %s", left)

    def _entry_command(self, slug: str, description: str) -> app_commands.Command[CitadelGroup, ..., None]:
        async def callback(interaction: discord.Interaction) -> None:
            await self.catalogue.notice_changes()
            await self.answer_entry(interaction, self.catalogue.resolve(slug))

        # Named by the entry's slug and described in its own words: not translated (see bot/i18n.py).
        return app_commands.Command(
            name=slug, description=description, callback=callback, extras={AS_WRITTEN: True}
        )

    async def answer(
        self,
        interaction: discord.Interaction,
        make: Callable[[], Awaitable[Card]],
        key: Hashable | None = None,
        view: discord.ui.View = discord.utils.MISSING,
    ) -> None:
        """Answer with the card `make` builds; an answer with a `key` is kept until the facts change."""

        async def embed() -> discord.Embed:
            return to_embed(await make())

        made = await self.catalogue.kept(key, embed) if key is not None else await embed()
        await interaction.response.send_message(
            embed=made, view=view, allowed_mentions=discord.AllowedMentions.none()
        )

    def follow_view(self, slug: str) -> discord.ui.View:
        key = (slug, reader())
        view = self.follow_views.get(key)
        if view is None:
            if len(self.follow_views) > FOLLOW_VIEWS_KEPT:  # entries come and go: never more than this
                self.follow_views.clear()
            view = self.follow_views[key] = follow_view(slug)
        return view

    async def answer_entry(self, interaction: discord.Interaction, entry: Entry) -> None:
        now = self.bot.clock()
        days = await self.catalogue.spoiler_days(interaction.guild_id)
        hidden = await self.catalogue.spoilers_hidden(entry, now, days)
        # Kept by the entry meant ("Italy", "diana" and "Diana" share one answer), by the date, since
        # "expected …, not confirmed" turns with it, and by whether its spoilers are hidden here and now.
        # Its Follow button in a server only: the followers' roles are per server.
        view = self.follow_view(entry.slug) if interaction.guild_id is not None else discord.utils.MISSING
        await self.answer(
            interaction,
            lambda: self.catalogue.entry_card(entry, now, spoiler_days=days),
            ("entry", entry.slug, now.date(), hidden),
            view,
        )

    @app_commands.command(name="show", description="Show what is known about any Citadel series or spin-off")
    @app_commands.describe(entry="A title, a country or a lead actor, e.g. Diana, India, season 2")
    async def show(self, interaction: discord.Interaction, entry: EntryArg) -> None:
        await self.answer_entry(interaction, entry)

    @app_commands.command(name="search", description="Find facts by their text across all entries")
    @app_commands.describe(query="Words to look for, e.g. Milan, De Angelis, Raj & DK")
    async def search(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 100]) -> None:
        await self.catalogue.notice_changes()
        key = ("search", " ".join(query.casefold().split()))
        await self.answer(interaction, lambda: self.catalogue.search_card(query), key)

    @app_commands.command(
        name="about", description="What this bot is, where its facts come from, how to suggest one"
    )
    async def about(self, interaction: discord.Interaction) -> None:
        await self.catalogue.notice_changes()
        await self.answer(interaction, self.catalogue.about_card)

    @app_commands.command(name="countdown", description="When the next premieres are, or one entry's")
    @app_commands.describe(entry="One entry (default: every premiere still ahead)")
    async def countdown(self, interaction: discord.Interaction, entry: EntryArg | None = None) -> None:
        now, default_time = self.bot.clock(), self.bot.settings.default_premiere_time
        await self.answer(interaction, lambda: self.catalogue.countdown_card(entry, now, default_time))

    @app_commands.command(
        name="follow",
        description="Get this title's followers' role here: its countdowns and updates ping you",
        extras=writes(),
    )
    @app_commands.describe(entry="The title: a title, a country or a lead actor")
    async def follow(self, interaction: discord.Interaction, entry: EntryArg) -> None:
        await change_follow(interaction, entry, "follow")

    @app_commands.command(
        name="unfollow", description="Drop this title's followers' role in this server", extras=writes()
    )
    @app_commands.describe(entry="The title: a title, a country or a lead actor")
    async def unfollow(self, interaction: discord.Interaction, entry: EntryArg) -> None:
        await change_follow(interaction, entry, "unfollow")

    @app_commands.command(
        name="following", description="The titles you follow here and your DM reminders, to stop any of them"
    )
    async def following(self, interaction: discord.Interaction) -> None:
        content, view = await following_message(interaction)
        await interaction.response.send_message(
            content,
            view=view or discord.utils.MISSING,
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(
        name="suggest",
        description="Suggest a sourced fact or correction for the moderators to review",
        extras=writes(NOTHING_STORED),
    )
    @app_commands.describe(
        entry="The entry: a title, a country or a lead actor",
        field="Which fact: premiere, cast, director, status…",
        value="What the source says",
        source="A link (https://…) or the publication",
        source_date="When the source said it: 2024-10-10, October 2024 or 2024 (default today)",
        confidence=CONFIDENCE_DESCRIBE + " (default: reported)",
    )
    async def suggest(
        self,
        interaction: discord.Interaction,
        entry: EntryArg,
        field: FieldArg,
        value: app_commands.Range[str, 1, 1000],
        source: app_commands.Range[str, 1, 300],
        source_date: app_commands.Range[str, 1, 40] | None = None,
        confidence: ConfidenceArg | None = None,
    ) -> None:
        """Store a member's suggestion and put it in front of the moderators."""
        curation = self.bot.curation
        fact = curation.read_fact(
            field, value, source, source_date, confidence, default_confidence="reported"
        )
        user = interaction.user
        suggestion, current = await curation.suggest(
            entry, fact, user.id, user.name, interaction.guild_id, interaction.locale.value
        )
        await reply_ephemeral(
            interaction,
            tr(
                "Thanks! Suggestion #{number} is waiting for the moderators. If your DMs are open, "
                "the bot will tell you what they decide.",
                number=suggestion.id,
            ),
        )
        # The review cog puts it in front of the moderators (cogs do not call each other).
        self.bot.dispatch("suggestion_made", suggestion, current)

    @app_commands.command(
        name="remind",
        description="Get a DM before an entry's premiere, at the days you choose",
        extras=writes(NOTHING_STORED),
    )
    @app_commands.describe(
        entry="The entry: a title, a country or a lead actor",
        days="Days before the premiere, e.g. 7,1,0 (the default: a week ahead, the eve and the day)",
    )
    async def remind(
        self,
        interaction: discord.Interaction,
        entry: EntryArg,
        days: app_commands.Range[str, 1, 60] | None = None,
    ) -> None:
        """Ask for DM reminders (off unless a member asks; asking again replaces the days)."""
        line = await self.bot.reminders.remind(interaction.user.id, entry, days, interaction.locale.value)
        await reply_ephemeral(interaction, line)


class CancelReminder(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"citadel:remind-cancel:(?P<slug>[a-z0-9][a-z0-9-]{0,31})",
):
    """Cancel one of the member's reminders from their /citadel following list: persistent (the entry
    is in the custom id, the member is whoever clicks), so it works after a restart."""

    def __init__(self, slug: str, title: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=cut(tr("Cancel {title}", title=title or slug), 80),
                style=discord.ButtonStyle.secondary,
                custom_id=f"citadel:remind-cancel:{slug}",
            )
        )
        self.slug = slug

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelReminder:
        return cls(match["slug"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._press(interaction))

    async def _press(self, interaction: discord.Interaction) -> None:
        heading = await bot_of(interaction).reminders.cancel(interaction.user.id, self.slug)
        content, view = await following_message(interaction, heading)
        await interaction.response.edit_message(
            content=content, view=view, allowed_mentions=discord.AllowedMentions.none()
        )


async def following_message(
    interaction: discord.Interaction, heading: str = ""
) -> tuple[str, discord.ui.View | None]:
    """`/citadel following`: the titles the member follows in this server (in a server), each with its
    Unfollow button, then their DM reminders (anywhere), each with its Cancel button."""
    bot = bot_of(interaction)
    member = interaction.user
    parts = [heading] if heading else []
    view = discord.ui.View(timeout=None)
    if interaction.guild_id is not None and isinstance(member, discord.Member):
        followed = await bot.follows.following(interaction.guild_id, partial(holds_role, member))
        line, buttons = following_answer(followed)
        parts.append(line)
        for item in buttons.children if buttons else ():
            view.add_item(item)
    listing = await bot.reminders.listing(member.id)
    parts.append(listing.text)
    for slug, title in listing.cancellable[: MAX_BUTTONS - len(view.children)]:
        view.add_item(CancelReminder(slug, title))
    return "\n\n".join(parts), view if view.children else None


class Citadel(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.group: CitadelGroup | None = None

    async def cog_load(self) -> None:
        self.group = CitadelGroup(self.bot)
        self.bot.tree.add_command(self.group)
        self.bot.add_dynamic_items(FollowButton, CancelReminder)
        self.bot.post_buttons = follow_view

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CancelReminder)
        if self.group is not None:
            self.bot.tree.remove_command(self.group.name)
        self.bot.remove_dynamic_items(FollowButton)
        self.bot.post_buttons = None


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Citadel(bot))
