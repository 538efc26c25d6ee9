"""Members and moderators in the seven languages, through the fake Discord: /citadel suggest, follow,
unfollow, following and remind, a moderator's /fact add and /fact history, a reminder DM written in the
language the member asked in (whenever the scheduler sends it), the review post in the home server's
language whoever suggested, the suggester's DM in theirs, and an InputError in the moderator's.

"No English left" walks every sentence these parts of the code say (extracted from the source as the
catalogue's extractor reads it): none may appear in an answer in a language that translates it. Facts
(titles, values) stay exactly as written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file

from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.i18n import LANGUAGES, catalogues
from bot.reminders import dm_text
from tests.fake_discord import FakeDiscord
from tests.fake_discord.payloads import MANAGE_ROLES
from tests.harness import (
    HOME,
    MANAGE_GUILD,
    OTHER,
    ROOT,
    TOKEN,
    assert_ephemeral_line,
    fields_of,
    handled,
    make_settings,
    running_bot,
)
from tests.store_probe import select
from tests.test_announce import PREMIERE, START, advance, milestone, set_premiere
from tests.test_follow import said
from tests.test_i18n import KEYWORDS

SOURCE = "https://example.org/citadel-news"
# The parts of the code this file covers: what members and moderators read.
MEMBERS_CODE = (
    "cogs/citadel.py", "cogs/follow.py", "cogs/curation.py", "cogs/review.py", "bot/inputs.py",
    "bot/reminders.py", "bot/services/reminders.py", "bot/services/follows.py",
)  # fmt: skip
OTHER_LANGUAGES = tuple(LANGUAGES)
FOLLOW = {"it": "Segui", "hi": "फ़ॉलो करें", "es-ES": "Seguir", "es-419": "Seguir", "pt-BR": "Seguir", "fr": "Suivre",
          "de": "Folgen"}  # fmt: skip  # "it", "hi", "es-ES", "es-419", "pt-BR", "fr", "de"


def english_messages() -> list[tuple[str, ...]]:
    """Every message these parts of the code say, with its English forms (two for a plural)."""
    found: dict[str, tuple[str, ...]] = {}
    for path in MEMBERS_CODE:
        for _, text, _, _ in extract_from_file("python", ROOT / path, keywords=KEYWORDS):
            forms = (text,) if isinstance(text, str) else tuple(text)
            found[forms[0]] = forms
    return list(found.values())


def is_sentence(text: str) -> bool:
    """Two words or more: a lone word ("no", "Alias") may be a word of the other language too."""
    return len(re.sub(r"\{\w+\}", "", text).split()) >= 2


def as_pattern(sentence: str) -> re.Pattern[str]:
    """A sentence with its placeholders standing for anything: "{title} has no history yet." finds
    "Citadel: Diana has no history yet."."""
    parts = re.split(r"\{\w+\}", sentence)
    return re.compile(".*?".join(re.escape(part) for part in parts if part))


def english_left(locale: str, texts: Iterable[str]) -> list[str]:
    """The English sentences of these parts of the code found in `texts` (line by line), among those
    `locale` says in words of its own."""
    lines = [line for text in texts for line in text.splitlines()]
    left = []
    for forms in english_messages():
        if len(forms) == 1:
            said = {catalogues().translate(locale, forms[0])}
        else:
            said = {catalogues().plural(locale, forms[0], forms[1], n) for n in (1, 2, 5)}
        for form in forms:
            pattern = as_pattern(form)
            if is_sentence(form) and form not in said and any(pattern.search(line) for line in lines):
                left.append(form)
    return left


def everything_in(response: dict[str, Any]) -> list[str]:
    """Every word a response shows: its content, embeds (title, description, fields, footer) and the
    labels of its buttons and form."""
    data = response.get("data", response)
    texts = [data.get("content") or "", data.get("title") or ""]
    for embed in data.get("embeds") or []:
        texts += [
            embed.get("title", ""),
            embed.get("description", ""),
            (embed.get("footer") or {}).get("text", ""),
        ]
        texts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
    for row in data.get("components") or []:
        texts += [c.get("label") or "" for c in row.get("components", [])]
    return texts


def labels(response: dict[str, Any]) -> list[str]:
    data = response.get("data", response)
    return [c.get("label") for row in data.get("components") or [] for c in row.get("components", [])]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def bot(settings: Settings, fake: FakeDiscord, clock: ManualClock) -> AsyncIterator[CitadelBot]:
    fake.bot_permissions |= MANAGE_ROLES  # follow roles work here
    async with running_bot(settings, fake, clock) as running:
        await set_premiere(running, PREMIERE)  # season 2 premieres a month ahead: reminders to give
        yield running


async def answer(
    fake: FakeDiscord,
    subcommand: str,
    user: dict[str, Any],
    locale: str,
    guild_id: int = HOME.id,
    **options: Any,
) -> dict[str, Any]:
    """/citadel `subcommand` as `user` asks it in `locale`, once the bot has done all it set off."""
    record = await fake.invoke_command(
        "citadel", subcommand=subcommand, options=options, user=user, locale=locale, guild_id=guild_id
    )
    response = await record.wait_response()
    await handled(fake, record)
    return response


async def test_a_members_answers_have_no_english_left_in_any_language(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    assert len(english_messages()) > 90  # the walk sees the sentences it should
    for n, locale in enumerate(OTHER_LANGUAGES):
        member = fake.make_user(3000 + n, f"fan{n}")
        where = {"user": member, "locale": locale}
        record = await fake.invoke_command(
            "citadel", subcommand="follow", options={"entry": "diana"}, **where
        )
        followed = await said(fake, record)
        listed = await answer(fake, "following", **where)
        reminded = assert_ephemeral_line(await answer(fake, "remind", entry="season 2", **where))
        listed_again = await answer(fake, "following", **where)
        record = await fake.invoke_command(
            "citadel", subcommand="unfollow", options={"entry": "diana"}, **where
        )
        unfollowed = await said(fake, record)
        suggested = assert_ephemeral_line(
            await answer(fake, "suggest", entry="honey-bunny", field="filming_location", value=f"Novi Sad {n}",
                         source=SOURCE, **where)
        )  # fmt: skip
        shown = [
            followed,
            reminded,
            unfollowed,
            suggested,
            *everything_in(listed),
            *everything_in(listed_again),
        ]
        assert english_left(locale, shown) == [], locale
        entry = await answer(fake, "show", entry="diana", **where)  # the Follow button under the answer
        assert labels(entry) == [FOLLOW[locale]]
        # Facts stay as written: the titles, in every language.
        assert "Citadel: Diana" in followed and "Citadel: Diana" in unfollowed
        assert "**Citadel season 2**" in listed_again["data"]["content"]
        buttons = labels(listed_again)
        assert len(buttons) == 2 and not {"Unfollow Citadel: Diana", "Cancel Citadel season 2"} & set(
            buttons
        ), buttons
    # The role is named in the server's language (English here), whoever followed first.
    assert "Citadel: Diana — followers" in {role["name"] for role in fake.roles(HOME.id)}


async def test_exact_answers_in_hindi_and_french(
    bot: CitadelBot, fake: FakeDiscord, settings: Settings
) -> None:
    member = fake.make_user(3101, "priya")
    record = await fake.invoke_command(
        "citadel", subcommand="follow", options={"entry": "diana"}, user=member, locale="hi"
    )
    line = await said(fake, record)
    role = next(r["id"] for r in fake.roles(HOME.id) if r["name"] == "Citadel: Diana — followers")
    assert line == (
        f"अब आप Citadel: Diana को फ़ॉलो कर रहे हैं: आपके पास <@&{role}> रोल है। यह सर्वर अभी उलटी गिनती पोस्ट नहीं "
        "करता; जब कोई एडमिन /announce channel से चैनल चुनेगा, तब इसकी पोस्ट उस रोल को पिंग करेंगी।"
    )
    suggested = assert_ephemeral_line(
        await answer(fake, "suggest", member, "hi", entry="honey-bunny", field="filming_location", value="Belgrade",
                     source=SOURCE)
    )  # fmt: skip
    assert suggested == (
        "धन्यवाद! सुझाव #1 मॉडरेटर की समीक्षा का इंतज़ार कर रहा है। अगर आपके DM खुले हैं, तो बॉट आपको उनका फ़ैसला बता देगा।"
    )
    french = fake.make_user(3102, "camille")
    reminded = assert_ephemeral_line(await answer(fake, "remind", french, "fr", entry="season 2", days="7,0"))
    seven, day = (f"<t:{int(milestone(d).timestamp())}:F>" for d in (7, 0))
    assert (
        reminded
        == f"Je vous écrirai en MP à propos de Citadel season 2 : 7 jours avant ({seven}) et le jour même ({day})."
    )
    listing = (await answer(fake, "following", french, "fr"))["data"]["content"]
    assert listing.startswith(
        "Vous ne suivez aucun titre sur ce serveur. Appuyez sur Suivre sous une réponse"
    )
    assert listing.endswith(
        f"Vos rappels par MP :\n• **Citadel season 2** : 7 jours avant et le jour même ; prochain MP {seven} "
        f"(<t:{int(milestone(7).timestamp())}:R>)."
    )
    rows = select(settings.database, "SELECT user_id, locale FROM reminders")
    assert rows == [(3102, "fr")]


async def test_a_reminder_dm_is_in_the_language_the_member_asked_in(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    italian, english = fake.make_user(3201, "giulia"), fake.make_user(3202, "sam")
    assert_ephemeral_line(
        await answer(fake, "remind", italian, "it", entry="season 2", days="7"), "Ti scriverò in DM"
    )
    assert_ephemeral_line(
        await answer(fake, "remind", english, "en-US", entry="season 2", days="7"), "I'll DM you"
    )
    await advance(bot, clock, milestone(7))  # the scheduler, outside any interaction, sends both
    (to_giulia,) = fake.messages[int(fake.dm_channel_for(italian)["id"])]
    (to_sam,) = fake.messages[int(fake.dm_channel_for(english)["id"])]
    assert to_giulia["content"] == (
        "Il tuo promemoria per Citadel season 2, come avevi chiesto. `/citadel following` elenca i tuoi promemoria "
        "e li annulla."
    )
    assert to_sam["content"] == dm_text("Citadel season 2")  # English as it always was
    assert to_sam["content"].startswith("Your reminder for Citadel season 2, as you asked.")


async def test_a_moderators_fact_add_and_history_have_no_english_left(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    for n, locale in enumerate(OTHER_LANGUAGES):
        value = f"Shot at night in Lisbon, take {n}"
        moderator = {
            "user": fake.make_user(1001, "ana"),
            "permissions": MANAGE_GUILD,
            "guild_id": HOME.id,
            "locale": locale,
        }
        options = {
            "entry": "diana",
            "field": "notes",
            "value": value,
            "source": SOURCE,
            "confidence": "rumour",
        }
        added = await (
            await fake.invoke_command("fact", subcommand="add", options=options, **moderator)
        ).wait_response()
        confirmation = added["data"]["content"]
        assert value in confirmation  # the fact as written
        record = await fake.invoke_command(
            "fact", subcommand="history", options={"entry": "diana", "field": "notes"}, **moderator
        )
        history = await record.wait_response()
        # The confirmation line and the whole history are this code's (the entry card below the line is
        # the answers' own, checked where it is made).
        assert english_left(locale, [confirmation, *everything_in(history)]) == [], locale
        (embed,) = history["data"]["embeds"]
        newest = embed["fields"][0]
        assert f"“{value}”" in newest["value"]  # the value as written
        assert not {"◀ Newer", "Older ▶"} & set(labels(history)) and len(labels(history)) == 2
        if locale == "fr":
            assert re.fullmatch(r"Historique : Citadel: Diana · .+", embed["title"]), embed["title"]
            assert re.fullmatch(r"Page 1 sur \d+ · \d+ révisions", embed["description"]), embed["description"]
            assert " · ajout · " in newest["name"]
            assert newest["value"] == (
                f"par ana (1001) le 2026-11-24 12:00:00 UTC\n— → “{value}”\nfiabilité : rumeur\n"
                "source : example.org, 2026-11-24"
            )


async def test_an_input_error_reads_in_the_moderators_language(
    bot: CitadelBot, fake: FakeDiscord, settings: Settings
) -> None:
    before = select(settings.database, "SELECT count(*) FROM revisions")
    moderator = {"user": fake.make_user(1001, "ana"), "permissions": MANAGE_GUILD, "guild_id": HOME.id}
    options = {"entry": "diana", "field": "notes", "value": "x", "source": SOURCE}
    future = await fake.invoke_command("fact", subcommand="add", options=options | {"source_date": "2099-01-01"},
                                       locale="fr", **moderator)  # fmt: skip
    assert assert_ephemeral_line(await future.wait_response()) == (
        "La date de la source est dans le futur ; indiquez la date de publication de la source. Rien n'a été modifié."
    )
    malformed = await fake.invoke_command("fact", subcommand="add", options=options | {"source_date": "2024-13-01"},
                                          locale="it", **moderator)  # fmt: skip
    line = assert_ephemeral_line(await malformed.wait_response())
    assert line.startswith("La data della fonte: ") and line.endswith("Non è stato cambiato nulla.")
    hidden = await fake.invoke_command("fact", subcommand="add", options=options | {"source": "zero\u200bwidth"},
                                       locale="de", **moderator)  # fmt: skip
    assert assert_ephemeral_line(await hidden.wait_response()) == (
        "Quelle: enthält ein unsichtbares oder die Schreibrichtung änderndes Zeichen (U+200B); entferne es und "
        "versuche es erneut. Es wurde nichts geändert."
    )
    after = select(settings.database, "SELECT count(*) FROM revisions")
    assert after == before


# --- the review post: the home server's language, whoever suggested ----------------------------------

FRENCH_HOME = replace(HOME, locale="fr")


@pytest.fixture
async def french_home() -> AsyncIterator[FakeDiscord]:
    """The fake Discord, with a home server whose language is French."""
    async with FakeDiscord(guilds=[FRENCH_HOME, OTHER], token=TOKEN) as server:
        with server.point_discord_py_here():
            yield server
        assert server.invalid_requests == [] and server.unknown_routes == [] and server.errors == []


async def test_the_review_post_is_in_the_home_servers_language_and_the_dm_in_the_suggesters(
    french_home: FakeDiscord, tmp_path: Path, canon_dir: Path
) -> None:
    fake = french_home
    settings = make_settings(tmp_path, canon_dir, fake)
    async with running_bot(settings, fake):
        fan = fake.make_user(2001, "fan")
        line = assert_ephemeral_line(
            await answer(fake, "suggest", fan, "hi", OTHER.id, entry="honey-bunny", field="filming_location",
                         value="Belgrade", source=SOURCE)
        )  # fmt: skip
        assert line.startswith("धन्यवाद! सुझाव #1")
        (review,) = await fake.wait_for_message(FRENCH_HOME.channel_id, count=1)
        (embed,) = review["embeds"]
        assert embed["title"].startswith("Suggestion n° 1 : Citadel: Honey Bunny · ")
        assert embed["description"] == "Belgrade"
        assert list(fields_of(embed)) == ["Source", "Fiabilité", "Enregistré actuellement", "Suggéré par"]
        assert fields_of(embed)["Fiabilité"] == "rapporté par la presse"
        assert fields_of(embed)["Enregistré actuellement"] == "rien pour l'instant"
        assert (
            embed["footer"]["text"]
            == "Approuver l'enregistre comme une révision attribuée à l'auteur de la suggestion."
        )
        assert labels(review) == ["Approuver", "Refuser"]
        assert english_left("fr", everything_in(review)) == []

        # A German-speaking moderator approves: the post stays French, the suggester hears it in Hindi.
        click = await fake.click_button(
            review,
            "suggestion:1:approve",
            user=fake.make_user(1001, "ana"),
            permissions=MANAGE_GUILD,
            locale="de",
        )
        approved = await click.wait_response()
        decision = fields_of(approved["data"]["embeds"][0])["Décision"]
        assert re.fullmatch(r"Approuvée par ana \(1001\) : révision n° \d+", decision), decision
        (told,) = await fake.wait_for_message(int(fake.dm_channel_for(fan)["id"]), count=1)
        assert told["content"].startswith("Citadel: Honey Bunny के लिए आपका सुझाव #1 (")
        assert told["content"].endswith("“Belgrade”) स्वीकार हो गया है और अब तथ्यों में शामिल है। धन्यवाद!")
    rows = select(settings.database, "SELECT id, locale FROM suggestions")
    assert rows == [(1, "hi")]
