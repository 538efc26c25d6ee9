"""Posts in the server's language: a server that chose one with /announce language, or whose own
Discord language (`preferred_locale`) is one the bot speaks, gets its countdown and update posts in it,
with the facts as written; /announce's lines are in the admin's own language.

Through the fake Discord with a ManualClock, as tests/test_announce.py; a test walks every sentence of
the posts' and /announce's catalogue (extracted from the code as a translator's tool extracts it) and
finds none of its English words left in a post, where the language says them otherwise."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from babel.messages.extract import extract_from_file

from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.facts import FIELDS, Fact, field_label
from bot.i18n import LANGUAGES, catalogues, reading
from bot.render import Style, premiere_text
from tests.fake_discord import FakeDiscord, GuildSpec, guild_id_for_index, openapi
from tests.harness import HOME, MANAGE_GUILD, ROOT, TOKEN, assert_ephemeral_line
from tests.test_announce import A_DAY_EARLY, PREMIERE, SOURCE, START, set_premiere
from tests.test_i18n import KEYWORDS

# One server per language the bot speaks (each picks it with /announce language), then two that pick
# nothing: one whose own language is Hindi, and one in Japanese, which the bot does not speak.
CHOSEN = {language: GuildSpec.numbered(n) for n, language in enumerate(LANGUAGES, start=1)}
OWN_HINDI = GuildSpec(id=guild_id_for_index(20), name="Hindi server", locale="hi")
OWN_JAPANESE = GuildSpec(id=guild_id_for_index(21), name="Japanese server", locale="ja")
SERVERS = (HOME, *CHOSEN.values(), OWN_HINDI, OWN_JAPANESE)

# The files whose sentences are the posts' and /announce's.
SOURCES = ("bot/announcements.py", "bot/posts.py", "bot/announcer.py", "bot/zones.py", "bot/spoilers.py",
           "cogs/announce.py")  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with the servers above (the home server, English, first)."""
    async with FakeDiscord(guilds=list(SERVERS), token=TOKEN) as server:
        with server.point_discord_py_here():
            yield server
        assert server.invalid_requests == [] and server.unknown_routes == [] and server.errors == []
        assert openapi.SPEC_PATH is None or server.spec is not None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def announce(
    fake: FakeDiscord, guild: GuildSpec, subcommand: str, locale: str = "en-US", **options: Any
) -> dict[str, Any]:
    """An admin's /announce <subcommand> in `guild`, in their `locale`; the answer's data."""
    record = await fake.invoke_command(
        "announce", subcommand=subcommand, options=options, guild_id=guild.id, permissions=MANAGE_GUILD,
        locale=locale,
    )  # fmt: skip
    response = await record.wait_response()
    assert response["type"] == 4, response
    data: dict[str, Any] = response["data"]
    return data


@pytest.fixture
async def posted(bot: CitadelBot, fake: FakeDiscord, clock: ManualClock) -> None:
    """Every server posts in its channel from a day before START and chose its language (CHOSEN); the
    season 2 premiere gets a day (24 December) and a showrunner is added: each server gets the 30-day
    countdown, then (once the edits have settled) one update."""
    for guild in SERVERS:
        await announce(fake, guild, "channel", channel=guild.channel_id)
        await bot.announcements.change(guild.id, countdown_since=A_DAY_EARLY.isoformat())
    for language, guild in CHOSEN.items():
        await announce(fake, guild, "language", language=language)
    await set_premiere(bot, PREMIERE)
    await bot.store.facts.add("season-2", Fact("showrunner", "Gina Gardini", SOURCE, "2026-11-20"), "mod (1)")
    for guild in SERVERS:  # the countdown at once (its milestone has passed), the update once settled
        await fake.wait_for_message(guild.channel_id, count=1, timeout=10)
    await bot.announcer.settled()
    clock.set(START + timedelta(seconds=150))
    for guild in SERVERS:
        await fake.wait_for_message(guild.channel_id, count=2, timeout=10)
    await bot.announcer.settled()
    assert {g.name: len(fake.messages[g.channel_id]) for g in SERVERS} == {g.name: 2 for g in SERVERS}


def embeds(fake: FakeDiscord, guild: GuildSpec) -> list[dict[str, Any]]:
    return [message["embeds"][0] for message in fake.messages[guild.channel_id]]


def text_of(embed: dict[str, Any], language: str | None = None) -> str:
    """Everything a member reads in a post's embed that this part of the bot words: without what other
    parts say, as a reader of `language` reads it (the field labels of bot/facts.py, a premiere's own
    words from bot/render.py), which their own tests check."""
    with reading(language):
        theirs = [field_label(name) for name in FIELDS]
        said = premiere_text("Q2 2026", None, START, Style.DISCORD)  # the old premiere, in updates
    description = embed.get("description", "").replace(said, "")
    for label in theirs:
        description = description.replace(f"**{label}**", "**")
    parts = [embed.get("title", ""), description]
    parts += [field["value"] for field in embed.get("fields", [])]
    parts += [field["name"] for field in embed.get("fields", []) if field["name"] not in theirs]
    return "\n".join(parts).replace("**", "\n")


def facts_of(embed: dict[str, Any]) -> list[str]:
    """The facts a countdown shows (its fields' values: network, episodes, cast, with their sources)."""
    return [field["value"] for field in embed.get("fields", [])]


def catalogue_messages() -> Iterator[tuple[str, ...]]:
    """The English forms of every answer and post sentence the files in SOURCES say (one, or two for a
    plural), as Babel extracts them for the catalogues."""
    for name in SOURCES:
        for _, text, _, context in extract_from_file("python", ROOT / name, keywords=KEYWORDS):
            if context is None:
                yield (text,) if isinstance(text, str) else tuple(text)


def english_left(text: str, language: str) -> list[str]:
    """The English words of the catalogue's sentences found in `text`, read by a reader of `language`:
    each sentence's stretches of words between its placeholders, unless that language's own
    translation says the same words (German's "Premiere: {when}")."""
    catalog = catalogues().read(LANGUAGES[language])
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog if m.id}
    left = []
    for forms in catalogue_messages():
        said = translated[forms[0]]
        own = " ".join(said if isinstance(said, tuple | list) else [said])
        for form in forms:
            for words in re.split(r"\{[^}]*\}", form):
                words = words.strip(" .,:;()*—→-\n")
                if re.search(r"[A-Za-z]{2}", words) and words not in own and words in text:
                    left.append(words)
    return left


async def test_each_language_chosen_gets_its_posts_in_it_with_the_facts_as_written(
    bot: CitadelBot, fake: FakeDiscord, posted: None
) -> None:
    english_countdown, english_update = embeds(fake, HOME)
    assert english_countdown["title"] == "Citadel season 2 premieres in 30 days"
    assert english_update["title"] == "Premiere date confirmed: Citadel season 2"
    assert "**Showrunner**: added Gina Gardini" in english_update["description"]
    assert english_left(text_of(english_countdown), "it")  # the walk finds English where there is some
    for language, guild in CHOSEN.items():
        countdown, update = embeds(fake, guild)
        for post in (countdown, update):
            assert english_left(text_of(post, language), language) == [], (language, text_of(post))
            assert "Citadel season 2" in post["title"]
        assert facts_of(countdown) == facts_of(english_countdown)  # facts stay as written
        assert (
            "Gina Gardini" in update["description"] and "(example.org, 2026-11-20)" in update["description"]
        )
        assert update["description"].count("**") == english_update["description"].count("**")


async def test_exact_posts_in_italian_and_both_spanishes(
    bot: CitadelBot, fake: FakeDiscord, posted: None
) -> None:
    command_id = next(c["id"] for c in fake.commands() if c["name"] == "citadel")
    countdown, update = embeds(fake, CHOSEN["it"])
    assert countdown["title"] == "Citadel season 2 debutta tra 30 giorni"
    stamp = int(datetime(2026, 12, 24, tzinfo=UTC).timestamp())
    assert countdown["description"] == (
        f"Uscita: <t:{stamp}:D> (<t:{stamp}:R>) [2]\nTutto ciò che si sa: </citadel season-2:{command_id}>"
    )
    assert update["title"] == "Data di uscita confermata: Citadel season 2"
    assert "**Showrunner**: aggiunto Gina Gardini (example.org, 2026-11-20)" in update["description"]
    assert update["description"].endswith(f"\n\nTutto ciò che si sa: </citadel season-2:{command_id}>")
    # Spain and Latin America share most sentences, and differ where usage differs.
    (spain_countdown, spain_update), (latin_countdown, latin_update) = (
        embeds(fake, CHOSEN["es-ES"]), embeds(fake, CHOSEN["es-419"]),
    )  # fmt: skip
    assert spain_countdown["title"] == latin_countdown["title"] == "Citadel season 2 se estrena en 30 días"
    assert spain_update["title"] == latin_update["title"] == "Fecha de estreno confirmada: Citadel season 2"
    assert "**Showrunner**: añadido Gina Gardini" in spain_update["description"]
    assert "**Showrunner**: agregado Gina Gardini" in latin_update["description"]


async def test_a_server_that_chose_nothing_posts_in_its_own_language_if_the_bot_speaks_it(
    bot: CitadelBot, fake: FakeDiscord, posted: None
) -> None:
    hindi_countdown, hindi_update = embeds(fake, OWN_HINDI)
    assert hindi_countdown["title"] == "Citadel season 2 का प्रीमियर 30 दिन बाद"
    assert hindi_update["title"] == "प्रीमियर की तारीख़ की पुष्टि: Citadel season 2"
    assert english_left(text_of(hindi_countdown, "hi") + text_of(hindi_update, "hi"), "hi") == []
    # Japanese is not one of the bot's languages: English, exactly as the English server's.
    assert embeds(fake, OWN_JAPANESE) == embeds(fake, HOME)
    assert (await bot.store.servers.get(OWN_HINDI.id)).language is None


async def test_status_and_preview_are_in_the_admins_language_and_the_posts_in_the_servers(
    bot: CitadelBot, fake: FakeDiscord, posted: None
) -> None:
    # The server posts in German; its admin reads Italian.
    status = await announce(fake, CHOSEN["de"], "status", locale="it")
    rows = status["embeds"][0]["description"].split("\n")
    assert status["embeds"][0]["title"] == "Annunci in questo server"
    assert rows[:3] == [
        f"**Canale:** <#{CHOSEN['de'].channel_id}>",
        "**Scadenze:** 30, 14, 7, 3, 1, 0 giorni prima di una prima",
        "**Ora di pubblicazione:** 09:00 · **Fuso orario:** UTC",
    ]
    assert "**Lingua:** I post sono in tedesco." in rows
    assert "**Aggiornamenti sulle modifiche:** attivi · **Eventi delle prime:** disattivati" in rows
    fourteen = int(datetime(2026, 12, 10, 9, tzinfo=UTC).timestamp())
    next_posts = rows[rows.index("**Prossimi post:**") + 1 :]
    assert next_posts[0] == (
        f"gio 10 dic, 09:00 UTC · <t:{fourteen}:F> (<t:{fourteen}:R>): Citadel season 2 startet in 14 Tagen"
    )
    # The Hindi server's own language, said to an admin reading Latin American Spanish, and its preview.
    status = await announce(fake, OWN_HINDI, "status", locale="es-419")
    assert "**Idioma:** Las publicaciones están en el idioma del servidor, hindi." in status["embeds"][0][
        "description"
    ].split("\n")
    preview = await announce(fake, OWN_HINDI, "preview", locale="es-419")
    assert preview["content"].startswith(
        f"Las próximas publicaciones, en orden:\n1. jue, 10 dic, 09:00 UTC (<t:{fourteen}:F>)\n"
    )
    assert preview["embeds"][0]["title"] == "Citadel season 2 का प्रीमियर 14 दिन बाद"
    # The Japanese server's admin reads French; its posts are in English, and status says why.
    status = await announce(fake, OWN_JAPANESE, "status", locale="fr")
    assert (
        "**Langue :** Les publications sont en anglais : la langue du serveur, japonais, ne fait pas partie "
        "de celles où je publie."
    ) in status["embeds"][0]["description"].split("\n")


async def test_the_language_is_set_back_to_the_servers_own_and_answers_in_the_admins(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    guild = CHOSEN["pt-BR"]
    answer = await announce(fake, guild, "language", locale="es-ES", language="pt-BR")
    assert answer["content"] == "Las publicaciones están en portugués (Brasil)."
    assert (await bot.store.servers.get(guild.id)).language == "pt-BR"
    answer = await announce(fake, guild, "language", locale="de", language="server")
    assert answer["content"] == "Beiträge sind in der Sprache des Servers, Englisch."  # its own: en-US
    assert (await bot.store.servers.get(guild.id)).language is None
    # An admin's channel answer: Spain counts down ("cuenta atrás"), Latin America counts in regress.
    spain = await announce(fake, guild, "channel", locale="es-ES", channel=guild.channel_id)
    latin = await announce(fake, guild, "channel", locale="es-419", channel=guild.channel_id)
    assert spain["content"] == f"Las cuentas atrás y las novedades se publicarán en <#{guild.channel_id}>."
    assert (
        latin["content"] == f"Las cuentas regresivas y las novedades se publicarán en <#{guild.channel_id}>."
    )


@pytest.mark.parametrize("value", ["xx", "ja", "en-GB", "italiano", ""])
async def test_a_language_the_bot_does_not_post_in_is_refused_with_nothing_changed(
    bot: CitadelBot, fake: FakeDiscord, value: str
) -> None:
    guild = CHOSEN["it"]
    await announce(fake, guild, "language", language="it")
    before = await bot.store.servers.get(guild.id)
    record = await fake.invoke_command(
        "announce", subcommand="language", options={"language": value}, guild_id=guild.id,
        permissions=MANAGE_GUILD, locale="it",
    )  # fmt: skip
    line = assert_ephemeral_line(await record.wait_response())
    assert (
        line
        == f"“{value}” non è una lingua in cui pubblico; scegline una dall'elenco. Non è stato cambiato nulla."
    )
    assert await bot.store.servers.get(guild.id) == before
