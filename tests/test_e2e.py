"""End to end: the real bot and its real discord.py client, connected over loopback to the fake Discord.

Every interaction here is sent as Discord sends it (INTERACTION_CREATE on the gateway) and every
assertion is on what a user would see (the callback body) or what the store holds. The fake checks
each REST body against Discord's OpenAPI spec; the fixture fails any test that sent an invalid one.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import statistics
from pathlib import Path
from typing import Any

import discord
import pytest

from bot import client as client_module
from bot.client import CitadelBot
from bot.clock import ManualClock, utc_now
from bot.config import Settings
from bot.facts import Entry
from bot.services.catalogue import CHECK_EVERY
from bot.store import Store
from tests.engines import sqlite_only
from tests.fake_discord import FakeDiscord
from tests.fake_discord.payloads import FLAG_EPHEMERAL
from tests.harness import (
    DIANA_PREMIERE,
    ENTRY_SUBCOMMANDS,
    PRIVILEGED_INTENTS,
    TOKEN,
    ask,
    assert_ephemeral_line,
    bot_process,
    diana_answered_in,
    embed_of,
    fields_of,
    finished,
    handled,
    running_bot,
)
from tests.store_probe import count, write


async def test_citadel_diana_answers_with_the_sourced_embed(bot: CitadelBot, fake: FakeDiscord) -> None:
    record = await fake.invoke_command("citadel", subcommand="diana")
    response = await record.wait_response()
    embed = embed_of(response)
    fields = fields_of(embed)

    assert embed["title"] == "Citadel: Diana"
    assert embed["description"].startswith("In Milan in 2030, eight years after Citadel fell")
    assert fields["Status"].startswith("Cancelled [")
    assert fields["Premiere"].startswith(f"<t:{DIANA_PREMIERE}:D> (<t:{DIANA_PREMIERE}:R>) [")
    assert fields["Network"].startswith("Prime Video [")
    assert fields["Country"].startswith("Italy [") and fields["Language"].startswith("Italian [")
    assert fields["Episodes"].startswith("6 [")
    assert fields["Developed by"].startswith("Alessandro Fabbri [")
    assert (
        "says Arnaldo Catinari" in fields["Developed by"]
    )  # the other source's claim is shown, with its source
    assert fields["Head writer"].startswith("Alessandro Fabbri [")
    assert fields["Directed by"].startswith("Arnaldo Catinari [")
    assert fields["Cast"].splitlines()[0].startswith("Matilda De Angelis — Diana Cavalieri [")
    assert "Milan [" in fields["Filmed in"]
    # The trailer is a masked link with its date; the link is the https:// address the canon gives.
    assert fields["Trailer"].startswith(
        "[Watch the trailer](<https://ottplay.com/news/citadel-diana-trailer-prime-video/91cf177642121>) "
        "(2024-09-11) ["
    )
    assert "Related series" in fields
    assert embed["footer"]["text"].startswith("Sources: [1] ")
    assert "RadioTimes.com, 2023-05-26" in embed["footer"]["text"]
    assert "None" not in json.dumps(embed)
    assert response["data"]["allowed_mentions"] == {"parse": []}
    assert not response["data"].get("flags", 0) & FLAG_EPHEMERAL  # fans share the answer
    assert record.latency is not None


async def test_answer_latency_from_interaction_create_to_the_callback(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    latencies = []
    for _ in range(50):
        record = await fake.invoke_command("citadel", subcommand="diana")
        await record.wait_response()
        assert record.latency is not None
        latencies.append(record.latency * 1000)
    latencies.sort()
    figures = {"n": len(latencies), "p50_ms": statistics.median(latencies), "max_ms": latencies[-1]}
    print(f"\n/citadel diana: INTERACTION_CREATE -> callback {json.dumps(figures)}")
    assert len(fake.interactions) == 50


async def test_the_synced_command_tree(bot: CitadelBot, fake: FakeDiscord, settings: Settings) -> None:
    home = settings.home_guild_ids[0]
    assert [(s.scope, len(s.body)) for s in fake.syncs] == [("global", 2), (home, 2)]
    # The editing commands exist only in the home server, hidden from members without Manage Server.
    editing = {c["name"]: c for c in fake.commands(home)}
    assert set(editing) == {"fact", "entry"}
    assert all(c["default_member_permissions"] == str(1 << 5) for c in editing.values())
    assert {o["name"] for o in editing["fact"]["options"]} == {
        "add",
        "edit",
        "remove",
        "history",
        "revert",
        "watcher",
    }
    assert {o["name"] for o in editing["entry"]["options"]} == {"add", "edit", "remove"}
    citadel, announce = sorted(fake.commands("global"), key=lambda c: c["name"] != "citadel")
    assert announce["name"] == "announce" and announce["default_member_permissions"] == str(1 << 5)
    assert citadel["name"] == "citadel" and citadel["description"]
    subcommands = {o["name"]: o for o in citadel["options"]}
    assert set(subcommands) == ENTRY_SUBCOMMANDS | {
        "show", "search", "about", "suggest", "countdown", "follow", "unfollow", "following", "remind"
    }  # fmt: skip
    assert all(o["type"] == 1 and 1 <= len(o["description"]) <= 100 for o in subcommands.values())
    assert subcommands["diana"]["description"] == "The Italian spin-off (2024), starring Matilda De Angelis"
    (entry_option,) = subcommands["show"]["options"]
    assert (
        entry_option["name"] == "entry" and entry_option["autocomplete"] is True and entry_option["required"]
    )
    (query_option,) = subcommands["search"]["options"]
    assert query_option["name"] == "query" and query_option["max_length"] == 100


def add_season_3(settings: Settings) -> None:
    """A new canon entry: a new `/citadel season-3` subcommand, so a changed command tree."""
    (settings.canon_dir / "season-3.toml").write_text(
        'slug = "season-3"\ntitle = "Citadel season 3"\nparent = "mothership"\nposition = 25\n'
        '[[facts]]\nfield = "network"\nvalue = "Prime Video"\nsource = "VAR"\n',
        encoding="utf-8",
    )


async def test_a_second_start_with_an_unchanged_tree_does_not_sync(
    settings: Settings, fake: FakeDiscord
) -> None:
    async with running_bot(settings, fake) as first:
        assert first.synced
    assert len(fake.syncs) == 2  # global + the home guild
    async with running_bot(settings, fake) as second:
        assert not second.synced
        assert embed_of(await ask(fake, "diana"))["title"] == "Citadel: Diana"
    assert len(fake.syncs) == 2

    add_season_3(settings)  # a new entry in the canon changes the tree, so the next start syncs it
    async with running_bot(settings, fake) as third:
        assert third.synced
        assert embed_of(await ask(fake, "season-3"))["title"] == "Citadel season 3"
    assert len(fake.syncs) == 4
    citadel = next(c for c in fake.commands("global") if c["name"] == "citadel")
    assert "season-3" in {o["name"] for o in citadel["options"]}


async def test_the_bot_connects_and_answers_while_discord_is_slow_to_take_the_sync(
    settings: Settings, fake: FakeDiscord
) -> None:
    async with running_bot(settings, fake):
        pass  # the first start syncs
    add_season_3(settings)
    gate = fake.hold_requests("/applications/*/commands", method="PUT")
    asyncio.get_running_loop().call_later(20, gate.set)  # a bot that waits for the sync fails, not hangs
    async with running_bot(settings, fake, synced=False) as bot:
        # Connected and answering with the commands Discord already has, while the sync is held.
        assert embed_of(await ask(fake, "diana"))["title"] == "Citadel: Diana"
        assert not bot.sync_finished.is_set() and not bot.synced
        assert len(fake.syncs) == 2
        gate.set()
        await asyncio.wait_for(bot.sync_finished.wait(), 10)
        assert bot.synced
        assert len(fake.syncs) == 4
        assert embed_of(await ask(fake, "season-3"))["title"] == "Citadel season 3"


async def test_a_sync_discord_refuses_is_logged_and_the_bot_answers_with_the_commands_it_has(
    settings: Settings, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(settings, fake):
        pass
    add_season_3(settings)
    refusal = {"message": "Invalid Form Body", "code": 50035}
    fake.inject_failure("/applications/*/commands", 400, refusal, method="PUT")
    with caplog.at_level(logging.WARNING, logger="bot"):
        async with running_bot(settings, fake) as bot:
            assert not bot.synced
            assert embed_of(await ask(fake, "diana"))["title"] == "Citadel: Diana"
    assert len(fake.syncs) == 2
    # The bot's own lines: discord.py warns once a process about voice support, in whichever test comes first.
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot")]
    assert line.startswith("Discord refused the command sync: ") and "error code 50035" in line
    assert line.endswith("the next start (or `python -m bot sync`) tries again")
    async with running_bot(settings, fake) as bot:  # it did: nothing recorded the refused tree as synced
        assert bot.synced
    assert len(fake.syncs) == 4


@pytest.mark.parametrize(
    ("typed", "first"),
    [("Diana", "diana"), ("ital", "diana"), ("Italian", "diana"), ("Honey Bunny", "honey-bunny"),
     ("India", "honey-bunny"), ("season 2", "season-2"), ("mothership", "mothership"), ("Mexico", "mexico")],
)  # fmt: skip
async def test_show_autocomplete_matches_titles_and_aliases(
    bot: CitadelBot, fake: FakeDiscord, typed: str, first: str
) -> None:
    choices = await fake.autocomplete("citadel", subcommand="show", option="entry", value=typed)
    assert choices[0]["value"] == first
    assert len(choices) <= 25


async def test_show_autocomplete_with_nothing_typed_lists_every_entry_in_order(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    choices = await fake.autocomplete("citadel", subcommand="show", option="entry", value="")
    assert [c["value"] for c in choices] == [
        "mothership",
        "season-2",
        "diana",
        "honey-bunny",
        "spain",
        "mexico",
    ]
    assert choices[2]["name"] == "Citadel: Diana"


async def test_show_takes_a_chosen_or_typed_entry(bot: CitadelBot, fake: FakeDiscord) -> None:
    assert embed_of(await ask(fake, "show", entry="honey-bunny"))["title"] == "Citadel: Honey Bunny"
    assert embed_of(await ask(fake, "show", entry="Italy"))["title"] == "Citadel: Diana"
    season_2 = fields_of(embed_of(await ask(fake, "show", entry="season 2")))
    assert season_2["Premiere"].startswith("expected Q2 2026, not confirmed [")
    assert "Kay Kay Menon — Guru [" in fields_of(embed_of(await ask(fake, "honey-bunny")))["Cast"]


async def test_an_unknown_entry_gets_one_ephemeral_line_with_the_closest_matches(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    line = assert_ephemeral_line(
        await ask(fake, "show", entry="Dianna"), "I don't know an entry called “Dianna”"
    )
    assert "Closest: Citadel: Diana" in line
    assert_ephemeral_line(await ask(fake, "show", entry="narnia"), "Start typing a title")


async def test_user_text_in_an_answer_never_pings(bot: CitadelBot, fake: FakeDiscord) -> None:
    line = assert_ephemeral_line(await ask(fake, "show", entry="@everyone <@&123456789012345678>"))
    assert "@everyone" in line  # shown as written, and allowed_mentions {"parse": []} keeps it silent


async def test_search_finds_facts_with_their_entry_and_field(bot: CitadelBot, fake: FakeDiscord) -> None:
    embed = embed_of(await ask(fake, "search", query="Milan"))
    assert embed["title"] == "Search: Milan"
    names = [f["name"] for f in embed["fields"]]
    assert "Citadel: Diana · Filmed in" in names and "Citadel: Diana · Setting" in names
    assert all(
        "(siviaggia.it, 2024-10)" in f["value"] for f in embed["fields"] if f["name"].endswith("Filmed in")
    )
    assert_ephemeral_line(await ask(fake, "search", query="zzzzqq"), "No fact mentions “zzzzqq”")
    assert_ephemeral_line(await ask(fake, "search", query="*** ()"), "No fact mentions")


async def test_about(bot: CitadelBot, fake: FakeDiscord) -> None:
    embed = embed_of(await ask(fake, "about"))
    assert embed["title"] == "About citadel-bot"
    assert "knows 144 facts about 6 entries" in embed["description"]


async def test_the_bot_asks_for_no_intent_and_keeps_no_caches(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    (identify,) = fake.identifies
    assert identify["intents"] & PRIVILEGED_INTENTS == 0
    # No intent at all: no GUILD_CREATE, so no copy of the servers (a RESUMEd start has none either).
    assert identify["intents"] == 0 and fake.dispatch_counts["GUILD_CREATE"] == 0
    # The transport compression discord.py asks for: zstd-stream when zstandard is installed, else zlib-stream.
    assert fake.gateway_compressions == [discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE]
    assert bot._connection.max_messages is None
    assert bot._connection.member_cache_flags.value == 0
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict() == {"parse": []}
    assert list(bot.guilds) == []  # not even READY's list of (unavailable) servers


async def test_only_the_servers_that_interacted_last_are_kept(
    bot: CitadelBot, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each keeps the empty Guild discord.py makes for its interactions, up to SERVERS_KEPT, the oldest
    going first: what saves remaking it for every answer, without a copy of every server."""
    monkeypatch.setattr(client_module, "SERVERS_KEPT", 1)
    home, other = fake.guild_ids
    for guild_id in (home, other, other):
        await diana_answered_in(fake, guild_id)
        assert [g.id for g in bot.guilds] == [guild_id] and bot.guilds[0].unavailable
        assert bot.guilds[0].me is not None and bot.user and bot.guilds[0].me.id == bot.user.id


async def test_a_server_new_to_the_kept_ones_takes_the_guild_of_the_one_that_went_if_nothing_holds_it(
    bot: CitadelBot, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Guild of the server that goes becomes the new server's, but not while anything refers to it
    (as an interaction still being handled does): that holder sees its own server still."""
    monkeypatch.setattr(client_module, "SERVERS_KEPT", 1)
    home, other = fake.guild_ids
    await diana_answered_in(fake, home)
    held = bot.get_guild(home)
    assert held is not None
    record = await diana_answered_in(fake, other)
    assert held.id == home and bot.get_guild(home) is None
    assert [g.id for g in bot.guilds] == [other] and bot.guilds[0] is not held
    del held
    await handled(fake, record)  # nothing handles that interaction any more
    gc.collect()  # and it (in cycles) goes
    assert guilds_alive() == 1
    gc.disable()  # nothing collected meanwhile: a Guild made afresh would make two
    try:
        await diana_answered_in(fake, home)
        assert guilds_alive() == 1
    finally:
        gc.enable()
    assert [g.id for g in bot.guilds] == [home] and bot.guilds[0].unavailable
    assert bot.guilds[0].me is not None and bot.user and bot.guilds[0].me.id == bot.user.id


def guilds_alive() -> int:
    return sum(isinstance(o, discord.Guild) for o in gc.get_objects())


async def test_the_bot_resumes_after_a_dropped_connection(bot: CitadelBot, fake: FakeDiscord) -> None:
    session_id = fake.identifies and next(iter(fake.sessions))
    await fake.drop_connections()
    await fake.wait_for_resume(timeout=15)
    assert len(fake.resumes) == 1 and fake.resumes[0]["session_id"] == session_id
    assert len(fake.identifies) == 1
    assert embed_of(await ask(fake, "diana"))["title"] == "Citadel: Diana"


async def write_elsewhere(where: Path | str, statement: str) -> None:
    """Run one write on the bot's database through a connection of its own, off the event loop."""
    await asyncio.to_thread(write, where, statement)


async def test_an_error_inside_a_command_is_one_ephemeral_line_and_the_bot_carries_on(
    bot: CitadelBot, fake: FakeDiscord, settings: Settings
) -> None:
    # The database breaks under the bot (written from a thread, as another process would: a blocking
    # write on the bot's own event loop would wait on a transaction the loop can no longer finish).
    await write_elsewhere(settings.database, "ALTER TABLE facts RENAME TO facts_away")
    assert_ephemeral_line(await ask(fake, "diana"), "Something went wrong on our side")
    await write_elsewhere(settings.database, "ALTER TABLE facts_away RENAME TO facts")
    assert embed_of(await ask(fake, "diana"))["title"] == "Citadel: Diana"


# --- the bot as an operator runs it: `python -m bot` in its own process ---------------------------


async def test_python_m_bot_answers_and_stops_cleanly_on_sigterm(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    process = bot_process(settings, TOKEN, tmp_path, log_level="DEBUG")  # even the gateway chatter
    try:
        await fake.wait_for_ready(timeout=30)
        await fake.wait_for_sync(2, timeout=30)  # global and the home server, synced while it connected
        assert embed_of(await ask(fake, "diana"))["title"] == "Citadel: Diana"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await finished(process, tmp_path)
    assert process.returncode == 0, err
    assert "WebSocket Event" in err  # DEBUG logging was on
    assert TOKEN not in out + err and TOKEN.split(".")[-1] not in out + err


async def test_python_m_bot_sync_forces_a_sync_without_connecting(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    for expected in (2, 4):  # a second forced sync of an unchanged tree still syncs
        process = bot_process(settings, TOKEN, tmp_path, "sync")
        _, err = await finished(process, tmp_path)
        assert process.returncode == 0, err
        assert [s.scope for s in fake.syncs] == ["global", settings.home_guild_ids[0]] * (expected // 2)
    assert fake.identifies == []  # it never opened the gateway
    async with running_bot(settings, fake) as bot:
        assert not bot.synced  # and a normal start afterwards knows the tree is already synced


async def test_a_token_discord_rejects_ends_with_one_line_and_exit_code_2(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    wrong = "MTAxMjM0NTY3ODkwMTIzNDU2.Gwrong.not-the-token-discord-knows_000"
    process = bot_process(settings, wrong, tmp_path)
    out, err = await finished(process, tmp_path)
    assert process.returncode == 2
    lines = err.strip().splitlines()
    assert lines[-1] == (
        "citadel-bot: Discord rejected DISCORD_TOKEN (401 Unauthorized): reset the token in the Developer "
        "Portal (your application -> Bot -> Reset Token) and put the new one in .env."
    )
    assert "Traceback" not in err and wrong not in out + err
    assert fake.identifies == []


@sqlite_only  # the check interval is SQLite's polling; PostgreSQL's news: tests/test_postgres.py
async def test_an_answer_kept_in_memory_is_dropped_when_another_process_changes_the_database(
    fake: FakeDiscord, settings: Settings
) -> None:
    clock = ManualClock(utc_now())
    async with running_bot(settings, fake, clock):
        assert fields_of(embed_of(await ask(fake, "diana")))["Episodes"].startswith("6 [")
        await write_elsewhere(  # as a second bot process sharing the file would
            settings.database,
            "UPDATE facts SET value = '9' WHERE field = 'episodes' AND entry_id = (SELECT id FROM entries WHERE slug = 'diana')",
        )
        # Looked at once per CHECK_EVERY of the bot's clock: until then the kept answer stands.
        assert fields_of(embed_of(await ask(fake, "diana")))["Episodes"].startswith("6 [")
        clock.advance(CHECK_EVERY)  # another process's change shows within this time
        assert fields_of(embed_of(await ask(fake, "diana")))["Episodes"].startswith("9 [")


@sqlite_only  # the check interval is SQLite's polling; PostgreSQL's news: tests/test_postgres.py
async def test_an_entry_another_process_adds_is_offered_and_answered_within_the_check_interval(
    fake: FakeDiscord, settings: Settings
) -> None:
    async def offered(typed: str) -> list[str]:
        choices = await fake.autocomplete("citadel", subcommand="show", option="entry", value=typed)
        return [c["value"] for c in choices]

    clock = ManualClock(utc_now())
    async with running_bot(settings, fake, clock) as bot:
        assert await offered("zeta") == []  # asked once, so the empty list is kept too
        other = await Store.open(settings.database)  # as a second bot process sharing the store would
        try:
            await other.entries.create(
                Entry("zeta-test", "Zeta (a test entry)", aliases=("Zeta",), position=90),
                "moderator in the other process",
            )
        finally:
            await other.close()
        assert await offered("zeta") == []  # not looked for yet
        clock.advance(CHECK_EVERY)
        assert await offered("zeta") == ["zeta-test"]
        embed = embed_of(await ask(fake, "show", entry="Zeta"))
        assert embed["title"].startswith("Zeta (a test entry)")
        assert count(bot.store, "entries") == 7  # the six of the canon and the other process's


async def test_the_same_question_asked_many_times_at_once_is_answered_from_one_search(
    bot: CitadelBot, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    searches: list[str] = []
    real_search = bot.store.facts.search
    release = asyncio.Event()

    async def counted_search(*args: object, **kwargs: object) -> object:
        searches.append(str(args[0]))
        await release.wait()  # hold the first search until every question has arrived
        return await real_search(*args, **kwargs)  # type: ignore[arg-type]  # passes on what it was given

    asked, all_asked = 0, asyncio.Event()
    real_kept = bot.catalogue.kept

    async def counted_kept(*args: Any, **kwargs: Any) -> Any:
        nonlocal asked
        asked += 1
        if asked == 20:
            all_asked.set()
        return await real_kept(*args, **kwargs)

    monkeypatch.setattr(bot.store.facts, "search", counted_search)
    monkeypatch.setattr(bot.catalogue, "kept", counted_kept)
    records = [
        await fake.invoke_command("citadel", subcommand="search", options={"query": "Milan"})
        for _ in range(20)
    ]
    await asyncio.wait_for(all_asked.wait(), 10)  # all 20 are with the bot, waiting for the one search
    release.set()
    answers = [await record.wait_response() for record in records]
    assert len(searches) == 1
    embeds = [embed_of(answer) for answer in answers]
    assert all(embed == embeds[0] for embed in embeds) and "Milan" in json.dumps(embeds[0])
    # Kept: asked again, answered without searching.
    assert embed_of(await ask(fake, "search", query="milan")) == embeds[0]
    assert len(searches) == 1


async def test_reloading_the_extensions_ten_times_leaves_one_listener_of_each(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    def registered() -> tuple[object, ...]:
        view_store = bot._connection._view_store  # discord.py keeps persistent dynamic items here
        return (
            len(bot.store.on_change),
            len(bot.extra_events.get("on_suggestion_made", [])),
            len(view_store._dynamic_items),
            sorted(c.name for c in bot.tree.get_commands()),
            sorted(
                c.name for c in bot.tree.get_commands(guild=discord.Object(bot.settings.home_guild_ids[0]))
            ),
        )

    before = registered()
    # Two store listeners (the catalogue's and the scheduler's), one review listener, three dynamic
    # buttons (Approve/Reject, Follow/Unfollow, cancelling a reminder).
    assert before == (2, 1, 3, ["announce", "citadel"], ["entry", "fact"])
    for _ in range(10):
        for extension in list(bot.extensions):
            await bot.reload_extension(extension)
    assert registered() == before
    assert fields_of(embed_of(await ask(fake, "diana")))["Episodes"].startswith("6 [")
