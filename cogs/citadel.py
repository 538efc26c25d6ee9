"""The fans' commands: /citadel <entry> for every entry, plus show, search and about."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.announcements import countdown_entry, countdown_overview
from bot.answers import AnswerError, about_answer, entry_answer, resolve_entry, search_answer
from bot.client import CitadelBot, reply_ephemeral
from bot.facts import FIELDS, Entry, EntryIndex, match_entries, normalize
from bot.render import Card, cut, to_embed

log = logging.getLogger(__name__)

# Discord allows 25 subcommands in a group; these names are taken by the group's own commands,
# and two more are kept free for the countdown and suggest commands to come.
FIXED_SUBCOMMANDS = ("show", "search", "about", "suggest", "countdown")
RESERVED_SUBCOMMANDS: tuple[str, ...] = ()
MAX_ENTRY_SUBCOMMANDS = 25 - len(FIXED_SUBCOMMANDS) - len(RESERVED_SUBCOMMANDS)
AUTOCOMPLETE_CHOICES = 25
ANSWERS_KEPT = 1024
VERSION_CHECK_SECONDS = 0.5


def field_choices(current: str) -> list[app_commands.Choice[str]]:
    """Fields matching what was typed, named so a user sees what kind of value each takes."""
    wanted = normalize(current)
    return [
        app_commands.Choice(
            name=f"{spec.label} ({spec.kind.value}{', several' if spec.multi else ''})", value=spec.name
        )
        for spec in FIELDS.values()
        if wanted in normalize(spec.name) or wanted in normalize(spec.label)
    ][:AUTOCOMPLETE_CHOICES]


def subcommand_description(entry: Entry) -> str:
    text = entry.description or f"What is known about {entry.title}"
    return cut(text, 100)


class CitadelGroup(app_commands.Group):
    """/citadel: one subcommand per entry (built from the store at start-up) and the fixed ones below."""

    def __init__(self, cog: Citadel) -> None:
        super().__init__(name="citadel", description="Facts about Prime Video's Citadel and its spin-offs")
        self.cog = cog
        taken = set(FIXED_SUBCOMMANDS) | set(RESERVED_SUBCOMMANDS)
        shown = [e for e in cog.entries if e.slug not in taken]
        for entry in shown[:MAX_ENTRY_SUBCOMMANDS]:
            self.add_command(self._entry_command(entry))
        if len(shown) > MAX_ENTRY_SUBCOMMANDS:
            left = ", ".join(e.slug for e in shown[MAX_ENTRY_SUBCOMMANDS:])
            log.warning("Discord allows 25 subcommands; these entries are only under /citadel show: %s", left)

    def _entry_command(self, entry: Entry) -> app_commands.Command[CitadelGroup, ..., None]:
        slug = entry.slug

        async def callback(interaction: discord.Interaction) -> None:
            await self.cog.answer(interaction, lambda: self.cog.entry_card(slug), ("entry", slug))

        return app_commands.Command(name=slug, description=subcommand_description(entry), callback=callback)

    @app_commands.command(name="show", description="Show what is known about any Citadel series or spin-off")
    @app_commands.describe(entry="A title, a country or a lead actor, e.g. Diana, India, season 2")
    async def show(self, interaction: discord.Interaction, entry: app_commands.Range[str, 1, 100]) -> None:
        await self.cog.answer(interaction, lambda: self.cog.entry_card(entry), ("entry", entry))

    @show.autocomplete("entry")
    async def show_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.cog.entry_choices(current)

    @app_commands.command(name="search", description="Find facts by their text across all entries")
    @app_commands.describe(query="Words to look for, e.g. Milan, De Angelis, Raj & DK")
    async def search(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 100]) -> None:
        await self.cog.answer(
            interaction,
            lambda: search_answer(self.cog.bot.store, query),
            ("search", query),
        )

    @app_commands.command(
        name="about", description="What this bot is, where its facts come from, how to suggest one"
    )
    async def about(self, interaction: discord.Interaction) -> None:
        await self.cog.answer(interaction, lambda: about_answer(self.cog.bot.store, self.cog.entries))

    @app_commands.command(name="countdown", description="When the next premieres are, or one entry's")
    @app_commands.describe(entry="One entry (default: every premiere still ahead)")
    async def countdown(
        self, interaction: discord.Interaction, entry: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        await self.cog.answer(interaction, lambda: self.cog.countdown_card(entry))

    @countdown.autocomplete("entry")
    async def countdown_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.cog.entry_choices(current)

    @app_commands.command(
        name="suggest", description="Suggest a sourced fact or correction for the moderators to review"
    )
    @app_commands.describe(
        entry="The entry: a title, a country or a lead actor",
        field="Which fact: premiere, cast, director, status…",
        value="What the source says",
        source="A link (https://…) or the publication",
        source_date="When the source said it: 2024-10-10, October 2024 or 2024 (default today)",
    )
    async def suggest(
        self,
        interaction: discord.Interaction,
        entry: app_commands.Range[str, 1, 100],
        field: app_commands.Range[str, 1, 40],
        value: app_commands.Range[str, 1, 1000],
        source: app_commands.Range[str, 1, 300],
        source_date: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        review = self.cog.bot.get_cog("Review")
        await review.submit(interaction, entry, field, value, source, source_date)  # type: ignore[union-attr]

    @suggest.autocomplete("entry")
    async def suggest_entry_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.cog.entry_choices(current)

    @suggest.autocomplete("field")
    async def suggest_field_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return field_choices(current)


class Citadel(commands.Cog):
    def __init__(self, bot: CitadelBot) -> None:
        self.bot = bot
        self.entries = EntryIndex(())
        self.group: CitadelGroup | None = None
        # Answers as sent, until the facts change: the store calls forget() after every commit that
        # changed a fact or an entry. Keys carry the date where the wording depends on it.
        self._answers: OrderedDict[tuple[object, ...], discord.Embed] = OrderedDict()
        self._version = -1
        self._revision = -1  # the newest revision when the entries were last read
        self._checked_at = float("-inf")
        self._choices: OrderedDict[str, list[app_commands.Choice[str]]] = OrderedDict()
        # Answers being made: the same question asked again meanwhile waits for this one rather than
        # running the same queries again (50 fans searching "Milan" at once make one search).
        self._making: dict[tuple[object, ...], asyncio.Future[discord.Embed]] = {}
        self._generation = 0
        bot.store.on_change.append(self.forget)

    def forget(self) -> None:
        self._answers.clear()
        self._generation += 1  # an answer being made from the old facts is sent, but not kept

    async def _notice_other_processes(self) -> None:
        """Drop kept answers if a process sharing the database committed since we last looked, and
        re-read the entries if that commit made a revision (a moderator's change through another
        process). Looked at most every VERSION_CHECK_SECONDS, so such a change shows within that
        time; this process's own changes show at once."""
        now = time.monotonic()
        if now - self._checked_at < VERSION_CHECK_SECONDS:
            return
        self._checked_at = now
        version = await self.bot.store.data_version()
        if version != self._version:
            self._version = version
            if await self.bot.store.latest_revision() != self._revision:
                await self.refresh_entries()  # which forgets the kept answers too
            else:
                self.forget()

    async def cog_load(self) -> None:
        self._version = await self.bot.store.data_version()
        self._revision = await self.bot.store.latest_revision()
        self.entries = EntryIndex(await self.bot.store.entries())
        self.group = CitadelGroup(self)
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        if self.group is not None:
            self.bot.tree.remove_command(self.group.name)

    async def refresh_entries(self) -> None:
        """Re-read the entries after a moderator changed them: autocomplete knows a new one at once."""
        self._revision = await self.bot.store.latest_revision()
        self.entries = EntryIndex(await self.bot.store.entries())
        self._choices.clear()
        self.forget()

    async def entry_choices(self, current: str) -> list[app_commands.Choice[str]]:
        # Served from memory: autocomplete must answer fast and never touch the disk (but for the
        # check for other processes' changes, at most every VERSION_CHECK_SECONDS). Many members type
        # the same first letters, so recent results are kept until the entries change.
        await self._notice_other_processes()
        choices = self._choices.get(current)
        if choices is None:
            choices = [
                app_commands.Choice(name=cut(e.title, 100), value=e.slug)
                for e in match_entries(current, self.entries, AUTOCOMPLETE_CHOICES)
            ]
            self._choices[current] = choices
            if len(self._choices) > ANSWERS_KEPT:
                self._choices.popitem(last=False)
        return choices

    async def countdown_card(self, query: str | None) -> Card:
        store, now = self.bot.store, self.bot.clock()
        if query is None:
            premieres = await store.premieres()
            return countdown_overview(premieres, self.entries, now, self.bot.settings.default_premiere_time)
        entry = resolve_entry(query, self.entries)
        return countdown_entry(
            entry, await store.facts_for(entry.slug), now, self.bot.settings.default_premiere_time
        )

    async def entry_card(self, query: str) -> Card:
        return await entry_answer(self.bot.store, query, self.entries, self.bot.clock())

    def answer_key(self, kind: str, query: str) -> tuple[object, ...] | None:
        """The cache key of an answer, or None if it is not worth keeping."""
        if kind == "entry":
            try:  # by the entry meant, so "Italy", "diana" and "Diana" share one answer
                slug = resolve_entry(query, self.entries).slug
            except AnswerError:
                return None
            return ("entry", slug, self.bot.clock().date())  # "expected …, not confirmed" turns with the date
        return (kind, " ".join(query.casefold().split()))

    async def answer(
        self,
        interaction: discord.Interaction,
        make: Callable[[], Awaitable[Card]],
        question: tuple[str, str] | None = None,
    ) -> None:
        """Answer with the card `make` builds, or with its one-line ephemeral reason why not. An answer
        to a `question` (kind, what was asked) is kept and sent again until the facts change."""
        await self._notice_other_processes()
        key = self.answer_key(*question) if question is not None else None
        try:
            embed = await self._kept_or_made(key, make) if key is not None else to_embed(await make())
        except AnswerError as exc:
            await reply_ephemeral(interaction, str(exc))
            return
        await interaction.response.send_message(embed=embed, allowed_mentions=discord.AllowedMentions.none())

    async def _kept_or_made(
        self, key: tuple[object, ...], make: Callable[[], Awaitable[Card]]
    ) -> discord.Embed:
        """The answer kept for `key`, the one being made for it, or a new one (kept if the facts did
        not change while it was made). Raises AnswerError for every question that waited, too."""
        embed = self._answers.get(key)
        if embed is not None:
            self._answers.move_to_end(key)
            return embed
        pending = self._making.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[discord.Embed] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        generation = self._generation
        try:
            embed = to_embed(await make())
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # nobody may be waiting: no "exception never retrieved" warning
            else:
                future.cancel()
            raise
        finally:
            del self._making[key]
        future.set_result(embed)
        if generation == self._generation:
            self._answers[key] = embed
            if len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return embed


async def setup(bot: CitadelBot) -> None:
    await bot.add_cog(Citadel(bot))
