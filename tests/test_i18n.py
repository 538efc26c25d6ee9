"""The seven languages: every string of the command tree and every message has a translation in every
catalogue, the translations keep their placeholders, and the localized names Discord gets pass its
rules (the fake Discord checks them as Discord does when the bot syncs)."""

from __future__ import annotations

from string import Formatter

import discord
from discord import app_commands

from bot.client import CitadelBot
from bot.i18n import LANGUAGES, CommandTranslator, Message, catalogues
from tests.fake_discord import FakeDiscord, openapi


class Recorder(app_commands.Translator):
    """Asked what a sync asks; translates nothing, and remembers the catalogue entries it was asked for."""

    def __init__(self) -> None:
        self.asked: set[Message] = set()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        message = CommandTranslator.message(string, context)
        if message is not None:
            self.asked.add(message)
        return None


async def tree_strings(bot: CitadelBot) -> set[Message]:
    """Every translatable string of every command the bot syncs (global and its home servers')."""
    recorder = Recorder()
    scopes: list[discord.abc.Snowflake | None] = [
        None,
        *(discord.Object(g) for g in bot.settings.home_guild_ids),
    ]
    for scope in scopes:
        for command in bot.tree.get_commands(guild=scope):
            await command.get_translated_payload(bot.tree, recorder)
    return recorder.asked


async def test_every_command_string_has_a_translation_in_every_language(bot: CitadelBot) -> None:
    asked = await tree_strings(bot)
    assert Message("command name", "citadel") in asked and Message("option name", "entry") in asked
    lacking = {
        language: sorted(m.text for m in asked if catalogues().translate(language, m.text, m.context) is None)
        for language in LANGUAGES
    }
    assert lacking == {language: [] for language in LANGUAGES}


def test_every_catalogue_translates_every_message_and_keeps_its_placeholders() -> None:
    found = catalogues()
    english = {Message(m.context, str(m.id)) for m in found.read("it") if m.id}
    for name in LANGUAGES.values():
        catalog = found.read(name)
        ids = {Message(m.context, str(m.id)) for m in catalog if m.id}
        assert ids == english, f"{name}.po has other messages than it.po"  # one set of messages for all
        for message in catalog:
            if not message.id:
                continue
            assert message.string and not message.fuzzy, f"{name}.po: {message.id!r} is not translated"
            assert placeholders(str(message.string)) == placeholders(str(message.id)), (name, message.id)


def placeholders(text: str) -> list[str]:
    return sorted(field for _, field, _, _ in Formatter().parse(text) if field is not None)


async def test_localized_commands_pass_discords_rules_when_synced(bot: CitadelBot, fake: FakeDiscord) -> None:
    # The fake checks every name and description in every language as Discord does (names: letters,
    # digits, - _ ' and the Devanagari and Thai scripts, lower case, at most 32; descriptions 1-100;
    # no two siblings with one name in a language), and refuses the sync otherwise.
    assert not fake.invalid_requests
    (citadel,) = [c for c in fake.commands() if c["name"] == "citadel"]
    assert set(citadel["name_localizations"]) == set(LANGUAGES)
    show = next(o for o in citadel["options"] if o["name"] == "show")
    assert show["name_localizations"]["it"] == "mostra" and show["name_localizations"]["hi"] == "दिखाएँ"
    assert show["description_localizations"]["de"].startswith("Zeigen, was")
    diana = next(o for o in citadel["options"] if o["name"] == "diana")  # an entry: as written
    assert not diana.get("name_localizations") and not diana.get("description_localizations")


def test_the_fake_refuses_a_localized_name_discord_refuses() -> None:
    assert openapi.is_valid_command_name("conto-alla-rovescia")
    assert openapi.is_valid_command_name("उलटी-गिनती")  # Devanagari vowel signs are marks, and allowed
    assert openapi.is_valid_command_name("à-propos")
    assert not openapi.is_valid_command_name("Mostra")  # upper case where a lower case exists
    assert not openapi.is_valid_command_name("vista previa")  # a space
    assert not openapi.is_valid_command_name("x" * 33)
    command = {
        "name": "citadel",
        "description": "Facts",
        "name_localizations": {"it": "Cittadella!", "xx": "x"},
        "description_localizations": {"de": "x" * 101},
        "options": [
            {"type": 1, "name": "show", "description": "d", "name_localizations": {"fr": "voir"}},
            {"type": 1, "name": "search", "description": "d", "name_localizations": {"fr": "voir"}},
        ],
    }
    codes = {
        (p.path[-2:], p.code)
        for p in openapi.discord_limits("POST", "/applications/{application_id}/commands", command)
    }
    assert codes == {
        (("name_localizations", "it"), "APPLICATION_COMMAND_INVALID_NAME"),
        (("name_localizations", "xx"), "ENUM_TYPE_COERCE"),
        (("description_localizations", "de"), "BASE_TYPE_BAD_LENGTH"),
        (("name_localizations", "fr"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS"),
    }
