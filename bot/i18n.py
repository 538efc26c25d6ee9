"""The bot in seven languages besides English: the message catalogues (gettext `.po` files, one per
language, in bot/locales/), the translator Discord's command names and descriptions go through, and
dates in each language's own words (Babel's CLDR data).

A message's id is its English text; a command's strings carry a context saying where they sit
("command name", "option description"...), since Discord's rules differ between a name and a
description. Facts are never translated: they stay as their sources wrote them.
"""

from __future__ import annotations

import gettext
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import discord
from babel.dates import format_date, format_skeleton
from babel.lists import format_list
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
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
    """Every language's catalogue, read once from bot/locales/<file>.po and kept as Python's gettext
    translations (compiled in memory), so plurals follow each language's own rule."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.directory = directory
        self._gettext: dict[str, gettext.GNUTranslations] = {}
        self._present: dict[str, frozenset[Message]] = {}
        for discord_locale, name in LANGUAGES.items():
            catalog = self.read(name)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)  # fuzzy and untranslated messages are left out
            compiled.seek(0)
            self._gettext[discord_locale] = gettext.GNUTranslations(compiled)
            self._present[discord_locale] = frozenset(
                Message(m.context, _singular(m.id))
                for m in catalog
                if m.id and _translated(m.string) and not m.fuzzy
            )

    def read(self, name: str) -> Catalog:
        with (self.directory / f"{name}.po").open("rb") as file:
            return read_po(file, locale=name)

    def translate(self, locale: str, text: str, context: str | None = None) -> str | None:
        """The translation of `text` (in `context`) into Discord's `locale`, or None if there is none."""
        if Message(context, text) not in self._present.get(locale, frozenset()):
            return None
        found = self._gettext[locale]
        return found.pgettext(context, text) if context else found.gettext(text)

    def plural(self, locale: str, singular: str, plural: str, count: int) -> str:
        """The form of a message for `count` in `locale` (English's when the language lacks it)."""
        found = self._gettext.get(locale)
        if found is None or Message(None, singular) not in self._present[locale]:
            return singular if count == 1 else plural
        return found.ngettext(singular, plural, count)

    def languages(self) -> Iterator[str]:
        return iter(self._gettext)


def _singular(message_id: str | Sequence[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _translated(string: str | Sequence[str] | None) -> bool:
    return bool(string) if isinstance(string, str) or string is None else all(string)


# --- the reader -------------------------------------------------------------------------------------
# Whose language an answer or a post is in: set for each interaction (the member's locale) and each post
# (the server's language) and read by `tr` wherever a sentence is made, so that no function between
# the two has to pass it along. asyncio copies it into every task started while it is set.

_reader: ContextVar[str | None] = ContextVar("reader", default=None)


def reader() -> str | None:
    """The Discord locale of whoever reads what is being made now (None: English)."""
    return _reader.get()


def read_as(locale: str | None) -> Token[str | None]:
    """From now on, make everything for a reader of `locale` (a Discord locale such as "it" or
    "es-419"), until `stop_reading` with what this returned. `reading` is the usual way; these two are
    for the one caller on every interaction's path, where a generator costs a little each time."""
    return _reader.set(locale if locale in LANGUAGES else None)


def stop_reading(token: Token[str | None]) -> None:
    _reader.reset(token)


@contextmanager
def reading(locale: str | None) -> Iterator[None]:
    """Make everything inside for a reader of `locale` (a Discord locale such as "it" or "es-419")."""
    token = read_as(locale)
    try:
        yield
    finally:
        stop_reading(token)


def tr(text: str, /, **values: object) -> str:
    """`text` in the reader's language, its `{name}` fields filled from `values`."""
    locale = _reader.get()
    found = catalogues().translate(locale, text) if locale else None
    return (found or text).format(**values) if values else found or text


def trn(singular: str, plural: str, count: int, /, **values: object) -> str:
    """The singular or plural form for `count` in the reader's language; `{count}` is filled too."""
    locale = _reader.get()
    chosen = (
        catalogues().plural(locale, singular, plural, count)
        if locale
        else (singular if count == 1 else plural)
    )
    return chosen.format(count=count, **values)


# --- dates, numbers and lists in the reader's words (Babel's CLDR data) --------------------------------
# English is British English's forms ("10 October 2024", "a, b and c"), as the bot has always written.


def babel_locale() -> str:
    """The reader's language as Babel names it ("it", "es_419"; English: "en_GB")."""
    return LANGUAGES.get(_reader.get() or "", "en_GB")


def day_words(day: date) -> str:
    """A day in full: "10 October 2024", "10 ottobre 2024", "10 de octubre de 2024"."""
    return format_date(day, "long", locale=babel_locale())


def month_words(year: int, month: int) -> str:
    """A month of a year: "October 2024", "ottobre 2024", "Oktober 2024"."""
    return format_skeleton("yMMMM", date(year, month, 1), locale=babel_locale())


def quarter_words(year: int, quarter: int) -> str:
    """A quarter of a year: "Q2 2026" in English, as the bot has always written it; spelled out where the
    abbreviation is less read ("2º trimestre 2026", "2. Quartal 2026", "दूसरी तिमाही 2026")."""
    locale = babel_locale()
    pattern = "QQQ y" if locale == "en_GB" else "QQQQ y"
    return format_date(date(year, 3 * quarter - 2, 1), pattern, locale=locale)


def short_day_words(day: date) -> str:
    """A day in short, with its weekday: "Thu 10 Oct", "gio 10 ott"."""
    return format_skeleton("MMMEd", day, locale=babel_locale())


def listed(items: Sequence[str]) -> str:
    """Items as a sentence lists them: "a, b and c", "a, b e c", "a, b und c"."""
    return format_list(list(items), locale=babel_locale())


def either(items: Sequence[str]) -> str:
    """Items as a sentence offers them: "a, b or c", "a, b o c", "a, b oder c"."""
    return format_list(list(items), style="or", locale=babel_locale())


def N_(text: str) -> str:
    """Marks a sentence made before anyone reads it (a constant) for the catalogue; `tr` says it later."""
    return text


class CommandTranslator(app_commands.Translator):
    """What discord.py asks when it syncs: every command's name, description, options and choices, in
    each of our languages (the others, and anything not in the catalogue, stay English)."""

    def __init__(self, found: Callable[[], Catalogues] | None = None) -> None:
        # Read when discord.py first asks (a sync), not at start-up: a start whose commands have not
        # changed never reads them for the commands (see `catalogue_digest`).
        self._found = found or catalogues

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        message = self.message(string, context)
        return (
            None if message is None else self._found().translate(locale.value, message.text, message.context)
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


def catalogue_digest(directory: Path = LOCALES_DIR) -> str:
    """A hash of every catalogue file: what the commands' translations depend on, read without parsing
    them (a start compares it with the last sync's instead of translating the whole tree)."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.po")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@cache
def catalogues() -> Catalogues:
    """The catalogues, read once per process."""
    return Catalogues()
