"""The fans' answers in each of the seven languages, as a member with that Discord locale reads them
through the fake Discord: /citadel <entry>, search, about and countdown say every label, status, mark
and date word of theirs in the member's language, with every fact as written; `python -m bot ask
--locale` prints the same answer as text."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from babel.messages.extract import extract_from_file

from bot.__main__ import ask
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Fact
from bot.i18n import LANGUAGES, catalogues
from bot.render import Style, safe, source_label
from bot.store import Store, put_fact
from tests.fake_discord import FakeDiscord
from tests.harness import DIANA_PREMIERE, ROOT, embed_of, running_bot
from tests.test_config import run_cli
from tests.test_i18n import KEYWORDS, forms

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)  # season 2's "Q2 2026" has passed with no confirmed release
SOURCE = "https://example.org/spin-off-dates"
# Where the answers' words are said (labels, statuses, marks, dates, cards, field choices).
ANSWER_FILES = (
    "bot/facts.py",
    "bot/render.py",
    "bot/options.py",
    "bot/services/catalogue.py",
    "cogs/citadel.py",
)
# Each answer as a member asks for it: (subcommand, options).
QUESTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("diana", {}),
    ("season-2", {}),
    ("search", {"query": "Milan"}),
    ("about", {}),
    ("countdown", {}),
)


@pytest.fixture
async def bot(settings: Settings, fake: FakeDiscord) -> AsyncIterator[CitadelBot]:
    """The bot on a fixed day, with two spin-offs dated to the month and to the quarter ahead of it, so
    that /citadel countdown has premieres to say in words."""
    async with running_bot(settings, fake, ManualClock(NOW)) as running:
        async with running.store.transaction() as tx:
            await put_fact(tx, "spain", Fact("premiere", "2027-10", SOURCE, "2026-11-20"), "mod (1)")
            await put_fact(tx, "mexico", Fact("premiere", "Q1 2027", SOURCE, "2026-11-20"), "mod (1)")
        yield running


@cache
def answer_messages() -> tuple[tuple[str, ...], ...]:
    """The English forms (two for a plural) of every message the answers' code says."""
    found = []
    for path in ANSWER_FILES:
        for _, message, _, context in extract_from_file("python", ROOT / path, keywords=KEYWORDS):
            if context is None:
                found.append(forms(message))
    return tuple(found)


@cache
def translations(locale: str) -> dict[str, tuple[str, ...]]:
    """English singular -> every form of its translation, in Discord's `locale`."""
    catalog = catalogues().read(LANGUAGES[locale])
    return {forms(m.id)[0]: forms(m.string) for m in catalog if m.id and m.context is None}


def phrases(english: str) -> list[str]:
    """The words of a message around its placeholders: those with three letters or more ("in" of "in
    {count} days" is a word of every language)."""
    parts = (literal.strip() for literal, _, _, _ in Formatter().parse(english))
    return [part for part in parts if len(re.findall(r"[^\W\d_]", part)) >= 3]


def english_left(text: str, locale: str) -> list[str]:
    """The English words of the answers' messages still in `text`, where `locale` says them otherwise
    (a word a language says as English does, like "Showrunner" in Italian, is that language's)."""
    left = []
    for message in answer_messages():
        translated = translations(locale)[message[0]]
        for phrase in {p for english in message for p in phrases(english)}:
            if any(phrase in form for form in translated):
                continue
            if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text):
                left.append(phrase)
    return sorted(left)


async def fact_texts(store: Store) -> set[str]:
    """What the answers show as written: titles, values, notes, sources with their dates (a premiere and
    a status excepted: those are said in the reader's words)."""
    texts = set()
    for entry in await store.entries.all():
        texts.add(entry.title)
        for fact in await store.facts.for_entry(entry.slug):
            value = "" if fact.field in ("premiere", "status") else fact.value
            for text in (value, fact.note, source_label(fact.source)):
                if len(text) >= 4:  # a "6" or a "UK" would take letters out of the words around them
                    texts |= {text, safe(text, Style.DISCORD)}
            texts.add(f"{source_label(fact.source)}, {fact.source_date}")
    return texts


def without(text: str, facts: Iterable[str]) -> str:
    """`text` with the facts taken out, longest first, so that only the bot's own words are left."""
    for fact in sorted(facts, key=len, reverse=True):
        text = text.replace(fact, "\0")
    return text


def words_of(embed: dict[str, Any]) -> str:
    """Everything a member reads in an embed."""
    parts = [embed.get("title", ""), embed.get("description", "")]
    for field in embed.get("fields", []):
        parts += [field["name"], field["value"]]
    parts.append(embed.get("footer", {}).get("text", ""))
    return "\n".join(parts)


async def answers(fake: FakeDiscord, locale: str) -> dict[str, dict[str, Any]]:
    """Each question's embed, asked by a member whose Discord client is in `locale`."""
    found = {}
    for subcommand, options in QUESTIONS:
        record = await fake.invoke_command("citadel", subcommand=subcommand, options=options, locale=locale)
        found[subcommand] = embed_of(await record.wait_response())
    return found


async def test_every_answer_is_in_the_members_language_with_every_fact_as_written(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    messages = answer_messages()
    assert ("Premiere",) in messages and ("Sources: {sources}",) in messages  # the extraction sees them
    facts = await fact_texts(bot.store)
    english = await answers(fake, "en-US")
    assert await answers(fake, "ja") == english  # a language the bot does not speak reads English
    shown = {name: {f for f in facts if f in words_of(embed)} for name, embed in english.items()}
    assert "Matilda De Angelis — Diana Cavalieri" in shown["diana"]
    assert "bgr.com, 2024-09-12" in shown["diana"] and "Citadel: Mexico" in shown["countdown"]
    # The check finds English where it is left: in the English answers, with Italian's exceptions.
    assert {"Premiere", "Sources:", "Cast"} <= set(english_left(words_of(english["diana"]), "it"))
    assert "About citadel-bot" in english_left(words_of(english["about"]), "hi")

    for locale in LANGUAGES:
        for name, embed in (await answers(fake, locale)).items():
            text = words_of(embed)
            assert english_left(without(text, facts), locale) == [], (locale, name)
            assert {f for f in shown[name] if f not in text} == set(), (locale, name)  # facts as written
            assert embed != english[name], (locale, name)
        assert not fake.invalid_requests  # every answer within Discord's embed limits (the fake checks)


async def test_italian_and_hindi_say_the_labels_and_the_dates_in_their_own_words(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    it, hi = await answers(fake, "it"), await answers(fake, "hi")
    assert [f["name"] for f in it["diana"]["fields"]] == [
        "Stato", "Data di uscita", "Calendario di uscita", "Piattaforma", "Paese", "Lingua", "Episodi",
        "Sviluppata da", "Showrunner", "Capo sceneggiatore", "Regia", "Produzione", "Interpreti",
        "Ambientazione", "Luoghi delle riprese", "Riprese", "Prime immagini", "Trailer", "Serie collegate",
        "Accoglienza", "Note",
    ]  # fmt: skip
    assert [f["name"] for f in hi["diana"]["fields"]] == [
        "स्थिति", "प्रीमियर", "रिलीज़ शेड्यूल", "प्लेटफ़ॉर्म", "देश", "भाषा", "एपिसोड", "डेवलपर", "शोरनर",
        "मुख्य लेखक", "निर्देशक", "प्रोडक्शन", "कलाकार", "पृष्ठभूमि", "शूटिंग स्थान", "शूटिंग", "फ़र्स्ट लुक",
        "ट्रेलर", "जुड़ी हुई सीरीज़", "प्रतिक्रिया", "नोट्स",
    ]  # fmt: skip
    fields = {f["name"]: f["value"] for f in it["diana"]["fields"]}
    assert fields["Stato"].startswith("Cancellata [2]")
    assert fields["Data di uscita"].startswith(f"<t:{DIANA_PREMIERE}:D> (<t:{DIANA_PREMIERE}:R>) [3]")
    assert fields["Trailer"].startswith("[Guarda il trailer](<https://ottplay.com/news/citadel-diana-trailer")
    assert it["diana"]["footer"]["text"].startswith("Fonti: [1] bgr.com, 2024-09-12 · [2] fandompulse.com")
    assert hi["diana"]["footer"]["text"].startswith("स्रोत: [1] bgr.com, 2024-09-12 · ")

    def season_2(answer: dict[str, Any], field: str) -> str:
        return next(f["value"] for f in answer["season-2"]["fields"] if f["name"] == field)

    assert season_2(it, "Stato").startswith("Uscita _(indiscrezione, non confermata)_ [2]")
    assert season_2(it, "Data di uscita").startswith("prevista nel 2º trimestre 2026, non confermata [3]")
    assert season_2(hi, "प्रीमियर").startswith("दूसरी तिमाही 2026 में आने की उम्मीद, पुष्टि नहीं हुई [3]")
    assert season_2(hi, "शूटिंग स्थान").startswith("Toronto _(मीडिया में आया, पुष्टि नहीं हुई)_ [9]")

    assert {f["name"]: f["value"] for f in it["countdown"]["fields"]} == {
        "Citadel: Mexico": "1º trimestre 2027",
        "Spanish Citadel spin-off": "ottobre 2027",
    }
    assert [f["value"] for f in hi["countdown"]["fields"]] == ["पहली तिमाही 2027", "अक्टूबर 2027"]
    assert it["search"]["title"] == "Ricerca: Milan"
    assert it["search"]["description"].endswith("fatti trovati. Usa `/citadel show` per la voce completa.")
    assert {"Citadel: Diana · Luoghi delle riprese", "Citadel: Diana · Ambientazione"} <= {
        f["name"] for f in it["search"]["fields"]
    }
    assert hi["about"]["title"] == "citadel-bot के बारे में"
    facts = await bot.store.facts.count()
    assert (
        f"इसे 6 प्रविष्टियों के बारे में {facts} तथ्य पता हैं: Citadel, Citadel season 2," in hi["about"]["description"]
    )


async def test_the_field_choices_are_named_in_the_members_language(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    async def choices(value: str, locale: str) -> list[tuple[str, str]]:
        found = await fake.autocomplete(
            "citadel", subcommand="suggest", option="field", value=value, locale=locale,
            options={"entry": "diana", "value": "x", "source": "Variety"},
        )  # fmt: skip
        return [(c["name"], c["value"]) for c in found]

    assert await choices("data di", "it") == [("Data di uscita (data)", "premiere")]  # typed in Italian
    assert await choices("premiere", "it") == [("Data di uscita (data)", "premiere")]  # or as named
    assert await choices("cast", "hi") == [("कलाकार (व्यक्ति, कई)", "cast")]
    assert await choices("cast", "de") == [("Besetzung (Person, mehrere)", "cast")]
    assert await choices("cast", "en-US") == [("Cast (person, several)", "cast")]


async def test_ask_answers_in_the_locale_it_is_given(settings: Settings) -> None:
    italian = await ask(settings, ["citadel", "diana"], "it")
    assert italian.startswith("Citadel: Diana\n==============\n")
    assert "\nStato:\n    Cancellata [2]\n      (Cancelled on 16 April 2025)\n" in italian
    assert re.search(r"\nData di uscita: 10 ottobre 2024 \(\d+ anni fa\) \[3\]\n", italian)
    assert "\nInterpreti:\n    Matilda De Angelis — Diana Cavalieri [6]\n" in italian
    assert "\nFonti: [1] bgr.com, 2024-09-12 · " in italian
    hindi = await ask(settings, ["citadel", "diana"], "hi")
    assert re.search(r"\nप्रीमियर: 10 अक्टूबर 2024 \(\d+ साल पहले\) \[3\]\n", hindi)
    season_2 = await ask(settings, ["citadel", "show", "season 2"], "es-419")
    assert "\nEstreno:\n    previsto para el 2.º trimestre 2026, sin confirmar [3]\n" in season_2
    assert "\nLocaciones:\n    Toronto (publicado, sin confirmar) [9]\n" in season_2
    assert await ask(settings, ["citadel", "diana"], "en-US") == await ask(settings, ["citadel", "diana"])


def test_python_m_bot_ask_prints_hindi_and_refuses_a_locale_it_does_not_speak(tmp_path: Path) -> None:
    hindi = run_cli(tmp_path, "ask", "--locale", "hi", "citadel", "diana", PYTHONPATH=str(ROOT))
    assert hindi.returncode == 0 and hindi.stderr == "", hindi.stderr
    for line in (
        "स्थिति:",
        "    रद्द [2]",
        "प्रीमियर: 10 अक्टूबर 2024 (",
        "कलाकार:",
        "स्रोत: [1] bgr.com, 2024-09-12",
    ):
        assert f"\n{line}" in hindi.stdout, line
    unknown = run_cli(tmp_path, "ask", "--locale", "xx", "citadel", "diana", PYTHONPATH=str(ROOT))
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == (
        "citadel-bot: ask does not speak 'xx'; use --locale with one of it, hi, es-ES, es-419, pt-BR, fr, de "
        "(without it, English).\n"
    )
