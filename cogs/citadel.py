"""The fans' commands: /citadel <entry> for every entry, plus show, search, about, countdown and suggest."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CitadelBot
from bot.facts import Entry
from bot.options import CONFIDENCE_DESCRIBE, ConfidenceArg, EntryArg, FieldArg
from bot.refusals import NOTHING_STORED
from bot.render import Card, cut, to_embed
from bot.tree import reply_ephemeral, writes

log = logging.getLogger(__name__)

# Discord allows 25 subcommands in a group; these names are taken by the group's own commands.
FIXED_SUBCOMMANDS = ("show", "search", "about", "suggest", "countdown")
MAX_ENTRY_SUBCOMMANDS = 25 - len(FIXED_SUBCOMMANDS)


def subcommand_description(entry: Entry) -> str:
    return cut(entry.description or f"What is known about {entry.title}", 100)


class CitadelGroup(app_commands.Group):
    """/citadel: one subcommand per entry (built from the store at start-up) and the fixed ones below."""

    def __init__(self, bot: CitadelBot) -> None:
        super().__init__(name="citadel", description="Facts about Prime Video's Citadel and its spin-offs")
        self.bot = bot
        self.catalogue = bot.catalogue
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

        return app_commands.Command(name=slug, description=description, callback=callback)

    async def answer(
        self,
        interaction: discord.Interaction,
        make: Callable[[], Awaitable[Card]],
        key: Hashable | None = None,
    ) -> None:
        """Answer with the card `make` builds; an answer with a `key` is kept until the facts change."""

        async def embed() -> discord.Embed:
            return to_embed(await make())

        made = await self.catalogue.kept(key, embed) if key is not None else await embed()
        await interaction.response.send_message(embed=made, allowed_mentions=discord.AllowedMentions.none())

    async def answer_entry(self, interaction: discord.Interaction, entry: Entry) -> None:
        now = self.bot.clock()
        days = await self.catalogue.spoiler_days(interaction.guild_id)
        hidden = await self.catalogue.spoilers_hidden(entry, now, days)
        # Kept by the entry meant ("Italy", "diana" and "Diana" share one answer), by the date, since
        # "expected …, not confirmed" turns with it, and by whether its spoilers are hidden here and now.
        await self.answer(
            interaction,
            lambda: self.catalogue.entry_card(entry, now, spoiler_days=days),
            ("entry", entry.slug, now.date(), hidden),
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
        suggestion, current = await curation.suggest(entry, fact, user.id, user.name, interaction.guild_id)
        await reply_ephemeral(
            interaction,
            f"Thanks! Suggestion #{suggestion.id} is waiting for the moderators. If your DMs are open, "
            "the bot will tell you what they decide.",
        )
        # The review cog puts it in front of the moderators (cogs do not call each other).
        self.bot.dispatch("suggestion_made", suggestion, current)


class Citadel(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.group: CitadelGroup | None = None

    async def cog_load(self) -> None:
        self.group = CitadelGroup(self.bot)
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        if self.group is not None:
            self.bot.tree.remove_command(self.group.name)


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Citadel(bot))
