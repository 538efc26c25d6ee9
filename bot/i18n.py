"""The bot in seven languages besides English: the message catalogues (gettext `.po` files, one per
language, in bot/locales/), the translator Discord's command names and descriptions go through, and
dates in each language's own words (Babel's CLDR data).

A message's id is its English text; a command's strings carry a context saying where they sit
("command name", "option description"...), since Discord's rules differ between a name and a
description. Facts are never translated: they stay as their sources wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import discord
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

LOCALES_DIR = Path(__file__).with_name("locales")

# Discord's locale -> the catalogue's file name and Babel's locale: Citadel's audience is Italian, Indian,
# Spanish and Latin American first.
LANGUAGES: Mapping[str, str] = {
    "it": "it",
    "hi": "hi",
    "es-ES": "es_ES",
    "es-419": "es_419",
    "pt-BR": "pt_BR",
    "fr": "fr",
    "de": "de",
}
ENGLISH = "en-US"

# Where a command's string sits -> the context its catalogue entry carries.
CONTEXTS: Mapping[Where, str] = {
    Where.command_name: "command name",
    Where.group_name: "command name",
    Where.command_description: "command description",
    Where.group_description: "command description",
    Where.parameter_name: "option name",
    Where.parameter_description: "option description",
    Where.choice_name: "choice",
}
# A command whose extras hold this key is not translated: the entries' own subcommands, named by their
# slugs and described in their own words (facts stay as written).
AS_WRITTEN = "as written"


@dataclass(frozen=True)
class Message:
    """One catalogue entry: its context (None for answers and posts) and English text."""

    context: str | None
    text: str


class Catalogues:
    """Every language's catalogue, read once from bot/locales/<file>.po."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.directory = directory
        self._by_language: dict[str, dict[Message, str]] = {}
        for discord_locale, name in LANGUAGES.items():
            catalog = self.read(name)
            self._by_language[discord_locale] = {
                Message(m.context, str(m.id)): str(m.string)
                for m in catalog
                if m.id and m.string and not m.fuzzy
            }

    def read(self, name: str) -> Catalog:
        with (self.directory / f"{name}.po").open("rb") as file:
            return read_po(file, locale=name)

    def translate(self, locale: str, text: str, context: str | None = None) -> str | None:
        """The translation of `text` (in `context`) into Discord's `locale`, or None if there is none."""
        return self._by_language.get(locale, {}).get(Message(context, text))

    def text(self, locale: str | None, text: str, context: str | None = None, **values: object) -> str:
        """`text` in the reader's language (English when it has none), with `{name}` fields filled."""
        found = self.translate(locale, text, context) if locale else None
        return (found or text).format(**values) if values else found or text

    def languages(self) -> Iterator[str]:
        return iter(self._by_language)


class CommandTranslator(app_commands.Translator):
    """What discord.py asks when it syncs: every command's name, description, options and choices, in
    each of our languages (the others, and anything not in the catalogue, stay English)."""

    def __init__(self, catalogues: Catalogues) -> None:
        self.catalogues = catalogues

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        message = self.message(string, context)
        return (
            None
            if message is None
            else self.catalogues.translate(locale.value, message.text, message.context)
        )

    @staticmethod
    def message(
        string: app_commands.locale_str, context: app_commands.TranslationContextTypes
    ) -> Message | None:
        """The catalogue entry a command's string is, or None for one that stays as written."""
        where = CONTEXTS.get(context.location)
        return None if where is None or _as_written(context.data) else Message(where, string.message)


def _as_written(data: object) -> bool:
    command = data.command if isinstance(data, app_commands.Parameter) else data
    extras = getattr(command, "extras", None)
    return isinstance(extras, dict) and bool(extras.get(AS_WRITTEN))


@cache
def catalogues() -> Catalogues:
    """The catalogues, read once per process."""
    return Catalogues()
