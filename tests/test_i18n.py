"""The seven languages: every string of the command tree and every message has a translation in every
catalogue, the translations keep their placeholders, and the localized names Discord gets pass its
rules (the fake Discord checks them as Discord does when the bot syncs)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from string import Formatter

import discord
from babel.messages.extract import extract_from_dir
from discord import app_commands

from bot.client import CitadelBot
from bot.i18n import (
    LANGUAGES,
    LOCALES_DIR,
    CommandTranslator,
    Message,
    catalogue_digest,
    catalogues,
    reading,
    trn,
)
from tests.fake_discord import FakeDiscord, openapi
from tests.harness import ROOT, assert_ephemeral_line


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


def source_messages() -> dict[Message, tuple[str, ...]]:
    """Every sentence the code and the web page's templates say through `tr`, `trn` or `N_` (found as a
    translator's tool finds them), with its English forms (two for a plural)."""
    found: dict[Message, tuple[str, ...]] = {}
    methods = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
    for folder in ("bot", "cogs"):
        for _, _, text, _, context in extract_from_dir(ROOT / folder, method_map=methods, keywords=KEYWORDS):
            forms = (text,) if isinstance(text, str) else tuple(text)
            found[Message(context, forms[0])] = forms
    return found


KEYWORDS = {"tr": None, "trn": (1, 2), "N_": None}


async def test_the_catalogues_hold_exactly_the_commands_and_the_sentences_of_the_code(
    bot: CitadelBot,
) -> None:
    said = source_messages()
    assert Message(None, "Nothing was changed.") in said  # the extraction sees what it should
    expected = {m: (m.text,) for m in await tree_strings(bot)} | said
    for name in LANGUAGES.values():
        catalog = catalogues().read(name)
        held = {Message(m.context, forms(m.id)[0]): forms(m.id) for m in catalog if m.id}
        assert sorted(set(expected) - set(held), key=str) == [], f"{name}.po lacks these"
        assert sorted(set(held) - set(expected), key=str) == [], f"{name}.po holds these, which nothing says"
        assert held == expected  # a plural in the code is a plural in the catalogue


def test_every_message_is_translated_and_keeps_its_placeholders() -> None:
    for name in LANGUAGES.values():
        for message in catalogues().read(name):
            if not message.id:
                continue
            english = forms(message.id)
            translated = forms(message.string)
            assert all(translated) and not message.fuzzy, f"{name}.po: {english[0]!r} is not translated"
            wanted = placeholders(english[-1]) - {"count"}  # a language may say "one" for {count}
            for form in translated:
                assert placeholders(form) - {"count"} == wanted, (name, english[0], form)


def test_translated_names_and_descriptions_keep_discords_rules() -> None:
    # What the fake refuses at sync time, said per message, so a translator sees which one.
    for name in LANGUAGES.values():
        for message in catalogues().read(name):
            text = str(message.string)
            if message.context in ("command name", "option name"):
                assert openapi.is_valid_command_name(text), (name, message.id, text)
            elif message.context in ("command description", "option description", "choice"):
                assert 1 <= len(text) <= 100, (name, message.id, len(text))


def forms(value: str | Sequence[str] | None) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ("",))


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in Formatter().parse(text) if field is not None}


def test_no_sentence_is_made_before_it_is_translated() -> None:
    # tr(f"...") would look up a sentence the catalogue cannot hold; the values go in as keywords.
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]:
        assert not re.search(r"\btrn?\(\s*f[\"']", path.read_text()), path


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


async def test_a_refusal_is_in_the_members_language(bot: CitadelBot, fake: FakeDiscord) -> None:
    lines = {}
    for locale in ("it", "hi", "es-419", "de", "en-US", "ja"):
        record = await fake.invoke_command(
            "citadel", subcommand="search", options={"query": "zzzzqx"}, locale=locale
        )
        lines[locale] = assert_ephemeral_line(await record.wait_response())
    assert (
        lines
        == {
            "it": "Nessun fatto menziona “zzzzqx”. Prova con meno parole o con parole diverse, oppure `/citadel show` per sfogliare una voce.",
            "hi": "किसी तथ्य में “zzzzqx” नहीं है। कम या अलग शब्द आज़माएँ, या कोई प्रविष्टि देखने के लिए `/citadel show`।",
            "es-419": "Ningún dato menciona “zzzzqx”. Prueba con menos palabras o con otras, o usa `/citadel show` para ver una entrada.",
            "de": "Kein Fakt erwähnt „zzzzqx“. Versuche weniger oder andere Wörter, oder `/citadel show`, um einen Eintrag anzusehen.",
            "en-US": "No fact mentions “zzzzqx”. Try fewer or different words, or `/citadel show` to browse an entry.",
            "ja": "No fact mentions “zzzzqx”. Try fewer or different words, or `/citadel show` to browse an entry.",  # not one of ours
        }
    )


def test_plurals_follow_each_languages_rule() -> None:
    with reading("fr"):
        assert trn(
            "{title} still has {count} fact.", "{title} still has {count} facts.", 1, title="Diana"
        ) == ("Diana a encore 1 fait.")
        assert trn(
            "{title} still has {count} fact.", "{title} still has {count} facts.", 3, title="Diana"
        ) == ("Diana a encore 3 faits.")
    with reading("de"):
        assert trn("an hour", "{count} hours", 2) == "2 Stunden"
    assert trn("an hour", "{count} hours", 1) == "an hour"  # no reader: English


def test_a_changed_catalogue_changes_what_the_next_start_compares_before_syncing(tmp_path: Path) -> None:
    # A start syncs when the tree's digest differs from the last sync's; the catalogues are part of it
    # as bytes, so a corrected translation is synced, and an unchanged start reads no catalogue.
    copy = Path(shutil.copytree(LOCALES_DIR, tmp_path / "locales"))
    before = catalogue_digest(copy)
    assert catalogue_digest(copy) == before
    italian = copy / "it.po"
    italian.write_text(italian.read_text().replace('msgstr "mostra"', 'msgstr "vedi"'))
    assert catalogue_digest(copy) != before
