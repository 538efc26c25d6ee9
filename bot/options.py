"""The options commands share: an entry (autocompleted from titles and aliases, resolved to an Entry),
a field, and an item of a multi-valued field. Served from memory, so autocomplete answers at once."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands

from bot.client import bot_of
from bot.errors import CitadelError
from bot.facts import FIELDS, Entry, FieldSpec, Kind, normalize
from bot.i18n import N_, tr
from bot.inputs import require_field
from bot.render import cut
from bot.services import Catalogue

CHOICES = 25


def catalogue_of(interaction: discord.Interaction) -> Catalogue:
    return bot_of(interaction).catalogue


class TextOption(app_commands.Transformer):
    """A string option of 1 to `longest` characters."""

    longest = 100

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def min_value(self) -> int:
        return 1

    @property
    def max_value(self) -> int:
        return self.longest


class EntryOption(TextOption):
    """A title, a country or a lead actor, autocompleted; the command receives the Entry. What names no
    entry is refused (UnknownEntry, with the closest titles) before the command runs."""

    async def transform(self, interaction: discord.Interaction, value: Any) -> Entry:
        catalogue = catalogue_of(interaction)
        await catalogue.notice_changes()  # an entry another process just added is found too
        return catalogue.resolve(str(value))

    async def autocomplete(  # type: ignore[override]  # discord.py types value as int | float | str
        self, interaction: discord.Interaction, value: str
    ) -> list[app_commands.Choice[str]]:
        found = await catalogue_of(interaction).choices(value)
        return [app_commands.Choice(name=cut(e.title, 100), value=e.slug) for e in found]


EntryArg = app_commands.Transform[Entry, EntryOption]


# What kind of value a field takes, as its autocomplete choice says it.
KIND_WORDS = {
    Kind.TEXT: N_("text"),
    Kind.PERSON: N_("person"),
    Kind.DATE: N_("date"),
    Kind.URL: N_("url"),
    Kind.NUMBER: N_("number"),
    Kind.STATUS: N_("status"),
}


def field_choices(current: str) -> list[app_commands.Choice[str]]:
    """Fields matching what was typed (by name, or by label in English or the reader's language), named
    so a user sees what kind of value each takes."""
    wanted = normalize(current)
    return [
        app_commands.Choice(name=field_choice_name(spec), value=spec.name)
        for spec in FIELDS.values()
        if any(wanted in normalize(name) for name in (spec.name, spec.english, spec.label))
    ][:CHOICES]


def field_choice_name(spec: FieldSpec) -> str:
    """A field as its choice names it: "Premiere (date)", "Cast (person, several)", in the reader's language."""
    kind = tr(KIND_WORDS[spec.kind])
    if spec.multi:
        return tr("{field} ({kind}, several)", field=spec.label, kind=kind)
    return tr("{field} ({kind})", field=spec.label, kind=kind)


class FieldOption(TextOption):
    """Which fact: premiere, cast, director, status…; the command receives the field's name."""

    longest = 40

    async def transform(self, interaction: discord.Interaction, value: Any) -> str:
        return require_field(str(value)).name

    async def autocomplete(  # type: ignore[override]  # discord.py types value as int | float | str
        self, interaction: discord.Interaction, value: str
    ) -> list[app_commands.Choice[str]]:
        return field_choices(value)


FieldArg = app_commands.Transform[str, FieldOption]

# How sure a fact is (bot.facts.CONFIDENCES): Discord shows these as the option's choices.
ConfidenceArg = Literal["confirmed", "reported", "rumour"]
CONFIDENCE_DESCRIBE = "confirmed (the studio or cast said it), reported (press) or rumour"


async def item_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The items of the entry's and field's facts picked so far. The value is the revision the
    moderator picked: it names the item and what they saw of it."""
    namespace = interaction.namespace
    typed, field = getattr(namespace, "entry", None), getattr(namespace, "field", None)
    if not typed or field not in FIELDS:
        return []
    catalogue = catalogue_of(interaction)
    try:
        entry = catalogue.resolve(str(typed))
    except CitadelError:
        return []
    wanted = normalize(current)
    facts = [
        f
        for f in await catalogue.store.facts.for_entry(entry.slug)
        if f.field == field and wanted in normalize(f.value)
    ]
    return [app_commands.Choice(name=cut(f.value, 100), value=str(f.revision_id)) for f in facts[:CHOICES]]


class PostingChannelOption(app_commands.Transformer):
    """A text or announcement channel, as Discord resolved it with the interaction (id, name, type).
    discord.py's own `discord.TextChannel` option looks the channel up among the servers it keeps, and
    the bot keeps none (bot/client.py), so it would refuse every channel."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news]  # what a TextChannel option offers

    async def transform(
        self, interaction: discord.Interaction, value: Any, /
    ) -> app_commands.AppCommandChannel:
        if not isinstance(value, app_commands.AppCommandChannel) or value.type not in self.channel_types:
            raise app_commands.TransformerError(value, self.type, self)
        return value


PostingChannel = app_commands.Transform[app_commands.AppCommandChannel, PostingChannelOption]
