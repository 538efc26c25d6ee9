"""Spoilers: hidden behind Discord's markers in answers, posts and search hits until the server's chosen
number of days after the premiere, and never broken or leaked by the cutting that keeps embeds in limits."""

from __future__ import annotations

import asyncio
import tomllib
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.canon import load_canon
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.facts import Entry, Fact, fact_key
from bot.portable import export_canon
from bot.render import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
    SPOILER,
    Card,
    CardField,
    Style,
    cut,
    entry_card,
    fit,
    hidden_text,
    safe,
    spoiler_marks,
)
from bot.spoilers import hidden, lifted_at
from bot.store import Store
from bot.store.servers import GuildSettings
from tests.engines import new_database
from tests.fake_discord import FakeDiscord
from tests.harness import HOME, MANAGE_GUILD, OTHER, assert_ephemeral_line, embed_of, fields_of
from tests.test_announce import subscribe

MIDNIGHT = time(0, tzinfo=UTC)
DIANA_PREMIERE = datetime(2024, 10, 10, tzinfo=UTC)
PLOT = (
    "In Milan in 2030, eight years after Citadel fell, Diana, a Citadel mole inside Manticore, must trust "
    "Edo Zani, heir of Manticore Italy."
)
NEW_PLOT = "Diana Cavalieri, a Citadel mole inside Manticore, fights to bring the agency back in 2030 Milan."
MODERATOR = {"guild_id": HOME.id, "permissions": MANAGE_GUILD}


# --- the markers survive every cut ------------------------------------------------------------------


def hidden_spans(text: str) -> set[int]:
    """The positions of `text` Discord hides: inside a pair of markers, the markers included."""
    marks = spoiler_marks(text)
    return {
        i
        for start, end in zip(marks[::2], marks[1::2], strict=False)
        for i in range(start, end + len(SPOILER))
    }


@st.composite
def texts_with_spoilers(draw: st.DrawFn) -> str:
    """Text as the renderer makes it: user text escaped by `safe`, some of it wrapped as a spoiler."""
    words = st.text(alphabet=st.sampled_from("ab |\\*_\n…"), min_size=0, max_size=40)
    parts = draw(st.lists(st.tuples(words, st.booleans()), min_size=1, max_size=8))
    separator = draw(st.sampled_from(["", " ", "\n"]))
    return separator.join(
        hidden_text(safe(text, Style.DISCORD), Style.DISCORD) if secret else safe(text, Style.DISCORD)
        for text, secret in parts
    )


@given(texts_with_spoilers(), st.integers(min_value=1, max_value=300))
def test_a_cut_never_breaks_a_spoiler_nor_shows_what_it_hid(text: str, limit: int) -> None:
    result = cut(text, limit)
    assert len(result) <= limit
    assert len(spoiler_marks(result)) % 2 == 0  # every spoiler is closed again
    if result == text:
        return
    assert result.endswith(("…", "…" + SPOILER))
    head = result.removesuffix(SPOILER).removesuffix("…")
    assert text.startswith(head)
    shown_in_result = set(range(len(head))) - hidden_spans(result)
    assert not shown_in_result & hidden_spans(text)  # nothing hidden before is shown now


@given(st.lists(texts_with_spoilers(), min_size=1, max_size=30), texts_with_spoilers())
def test_a_fitted_card_keeps_every_limit_and_every_spoiler_closed(
    values: list[str], description: str
) -> None:
    # Long enough to need cutting: each value many times over.
    card = fit(Card("Title", description * 60, tuple(CardField("Plot", value * 40) for value in values)))
    assert card.total() <= EMBED_TOTAL_LIMIT and len(card.description) <= DESCRIPTION_LIMIT
    for part in (card.description, *(f.value for f in card.fields)):
        assert len(part) <= max(FIELD_VALUE_LIMIT, DESCRIPTION_LIMIT)
        assert len(spoiler_marks(part)) % 2 == 0


def test_a_spoiler_cut_keeps_its_closing_markers() -> None:
    text = "Plot: " + hidden_text("Bunny recruits Honey in 1992, and years later " * 5, Style.DISCORD)
    assert cut(text, 40) == "Plot: ||Bunny recruits Honey in 1992,…||"


def test_plain_text_shows_a_hidden_spoiler_but_calls_it_one() -> None:
    facts = [Fact("plot", "A twist", "https://example.org/a", "2024-01-01", spoiler=True)]
    now = datetime(2024, 1, 2, tzinfo=UTC)
    assert entry_card(Entry("x", "X"), facts, now, Style.TEXT).description == "A twist (spoiler) [1]"
    assert entry_card(Entry("x", "X"), facts, now, Style.DISCORD).description == "||A twist|| [1]"
    shown = entry_card(Entry("x", "X"), facts, now, Style.DISCORD, hide_spoilers=False)
    assert shown.description == "A twist [1]"


# --- when they are lifted ---------------------------------------------------------------------------


def test_spoilers_are_lifted_days_after_the_premiere_and_stay_hidden_without_one() -> None:
    assert lifted_at("2024-10-10", 14, MIDNIGHT) == datetime(2024, 10, 24, tzinfo=UTC)
    assert lifted_at("2024-10-10 21:00 UTC", 0, MIDNIGHT) == datetime(2024, 10, 10, 21, tzinfo=UTC)
    assert lifted_at("October 2024", 1, MIDNIGHT) == datetime(2024, 11, 2, tzinfo=UTC)  # after the month
    assert lifted_at(None, 14, MIDNIGHT) is None
    assert hidden(None, 0, datetime(2099, 1, 1, tzinfo=UTC), MIDNIGHT)


# --- through the fake Discord -----------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DIANA_PREMIERE - timedelta(days=5))


async def diana(fake: FakeDiscord, guild_id: int) -> str:
    """The description of `/citadel diana` as a member of the server reads it: the plot."""
    record = await fake.invoke_command("citadel", subcommand="diana", guild_id=guild_id)
    return str(embed_of(await record.wait_response())["description"])


async def set_spoiler_days(fake: FakeDiscord, guild_id: int, days: int) -> dict[str, Any]:
    record = await fake.invoke_command(
        "announce", subcommand="spoilers", options={"days": days}, guild_id=guild_id, permissions=MANAGE_GUILD
    )
    return await record.wait_response()


async def test_the_plot_is_hidden_until_each_servers_chosen_day(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    answer = await set_spoiler_days(fake, OTHER.id, 0)
    assert answer["data"]["content"] == (
        "Plots and other spoilers are hidden until a premiere begins (and always in search results)."
    )
    hidden_plot, shown_plot = f"||{PLOT}|| [1]", f"{PLOT} [1]"
    # Before the premiere: hidden everywhere, days=0 too.
    assert await diana(fake, HOME.id) == hidden_plot
    assert await diana(fake, OTHER.id) == hidden_plot
    clock.set(DIANA_PREMIERE - timedelta(seconds=1))
    assert await diana(fake, OTHER.id) == hidden_plot
    # days=0: shown once the premiere begins; the default 14 keeps it hidden, and neither server is
    # served the other's kept answer.
    clock.set(DIANA_PREMIERE)
    assert await diana(fake, OTHER.id) == shown_plot
    assert await diana(fake, HOME.id) == hidden_plot
    assert await diana(fake, OTHER.id) == shown_plot
    clock.set(DIANA_PREMIERE + timedelta(days=14, seconds=-1))
    assert await diana(fake, HOME.id) == hidden_plot
    clock.set(DIANA_PREMIERE + timedelta(days=14))  # 24 October, 00:00 UTC
    assert await diana(fake, HOME.id) == shown_plot
    # Outside a server (a DM) the default 14 days hold.
    clock.set(DIANA_PREMIERE + timedelta(days=13))
    assert await diana(fake, OTHER.id) == shown_plot
    record = await fake.invoke_command("citadel", subcommand="diana", guild_id=None)
    assert embed_of(await record.wait_response())["description"] == hidden_plot


async def test_search_always_hides_a_spoiler(bot: CitadelBot, fake: FakeDiscord, clock: ManualClock) -> None:
    await set_spoiler_days(fake, HOME.id, 0)
    clock.set(DIANA_PREMIERE + timedelta(days=400))  # long lifted in answers
    record = await fake.invoke_command("citadel", subcommand="search", options={"query": "Milan"})
    hits = fields_of(embed_of(await record.wait_response()))
    assert hits["Citadel: Diana · Plot"] == f"||{PLOT}|| (bgr.com, 2024-09-12)"
    assert hits["Citadel: Diana · Filmed in"].startswith("Milan (")  # not a spoiler: shown
    assert await diana(fake, HOME.id) == f"{PLOT} [1]"


async def test_an_update_post_hides_a_changed_plot_where_the_server_still_hides_it(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    clock.set(DIANA_PREMIERE + timedelta(days=10))
    await subscribe(fake, HOME.id, HOME.channel_id)  # 14 days: still hidden
    await subscribe(fake, OTHER.id, OTHER.channel_id)
    await set_spoiler_days(fake, OTHER.id, 7)  # lifted 3 days ago
    new = Fact("plot", NEW_PLOT, "https://example.org/diana", "2024-10-19", spoiler=True)
    await bot.store.facts.edit("diana", "plot", "", new, "mod (1)")
    clock.advance(timedelta(seconds=150))  # past the settling window
    await bot.announcer.settled()
    (home,) = await fake.wait_for_message(HOME.channel_id, count=1)
    (other,) = await fake.wait_for_message(OTHER.channel_id, count=1)
    assert (
        f"**Plot**: ||{PLOT}|| → ||{NEW_PLOT}|| (example.org, 2024-10-19)" in home["embeds"][0]["description"]
    )
    assert f"**Plot**: {PLOT} → {NEW_PLOT} (example.org, 2024-10-19)" in other["embeds"][0]["description"]
    assert len(fake.messages[HOME.channel_id]) == len(fake.messages[OTHER.channel_id]) == 1


@pytest.mark.parametrize("days", [366, -1, 10_000])
async def test_a_bad_number_of_days_is_refused_and_changes_nothing(
    bot: CitadelBot, fake: FakeDiscord, days: int
) -> None:
    line = assert_ephemeral_line(await set_spoiler_days(fake, HOME.id, days), "0 to 365 days")
    assert line.endswith("Nothing was changed.")
    assert await bot.store.servers.get(HOME.id) == GuildSettings(HOME.id)


async def test_a_moderator_marking_a_spoiler_makes_a_revision_shown_in_history(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    before = await bot.store.history.for_entry("diana", "plot")
    record = await fake.invoke_command(
        "fact", subcommand="edit", options={"entry": "diana", "field": "plot", "spoiler": False}, **MODERATOR
    )
    answer = await record.wait_response()
    assert answer["data"]["content"].startswith("Revision #") and "Plot now says" in answer["data"]["content"]
    assert answer["data"]["embeds"][0]["description"] == f"{PLOT} [1]"  # as fans will see it now
    after = await bot.store.history.for_entry("diana", "plot")
    assert len(after) == len(before) + 1
    revision = after[-1]
    assert revision.action == "edit" and revision.old is not None and revision.new is not None
    assert (revision.old["spoiler"], revision.new["spoiler"]) == (True, False)
    assert revision.old["value"] == revision.new["value"] == PLOT
    stored = await bot.store.facts.get("diana", "plot", "")
    assert stored is not None and not stored.spoiler and stored.revision_id == revision.id
    record = await fake.invoke_command(
        "fact", subcommand="history", options={"entry": "diana", "field": "plot"}, **MODERATOR
    )
    (newest, *_) = embed_of(await record.wait_response())["fields"]
    assert newest["name"] == f"#{revision.id} · edit · Plot" and "\nspoiler: yes → no\n" in newest["value"]

    # A new note that tells an episode's story, marked by the moderator who adds it.
    record = await fake.invoke_command(
        "fact",
        subcommand="add",
        options={"entry": "diana", "field": "notes", "value": "Episode 6 ends with Diana's escape",
                 "source": "https://example.org/finale", "spoiler": True},
        **MODERATOR,
    )  # fmt: skip
    await record.wait_response()
    note = await bot.store.facts.get(
        "diana", "notes", fact_key("notes", "Episode 6 ends with Diana's escape")
    )
    assert note is not None and note.spoiler
    added = (await bot.store.history.for_entry("diana", "notes"))[-1]
    assert added.action == "add" and added.new is not None and added.new["spoiler"] is True

    # A field that cannot tell the story cannot be a spoiler: one line, nothing stored.
    count = len(await bot.store.history.for_entry("diana"))
    record = await fake.invoke_command(
        "fact",
        subcommand="add",
        options={"entry": "diana", "field": "network", "value": "Netflix", "source": "https://example.org/x",
                 "spoiler": True},
        **MODERATOR,
    )  # fmt: skip
    assert_ephemeral_line(await record.wait_response(), "Only plot and notes facts can be marked as spoilers")
    assert len(await bot.store.history.for_entry("diana")) == count


# --- the canon --------------------------------------------------------------------------------------


async def test_the_canon_export_keeps_the_spoiler_marks(canon_dir: Path, tmp_path: Path) -> None:
    store = await Store.open(new_database(tmp_path))
    await load_canon(store, canon_dir)
    spoilers_before = {
        (slug, f.field, f.key)
        for slug in ("mothership", "season-2", "diana", "honey-bunny")
        for f in await store.facts.for_entry(slug)
        if f.spoiler
    }
    assert spoilers_before == {
        (slug, "plot", "") for slug in ("mothership", "season-2", "diana", "honey-bunny")
    }
    ending = "Season 1 ends with Nadia's betrayal"
    note = Fact(
        "notes", ending, "https://example.org/end", "2023-06-01", key=fact_key("notes", ending), spoiler=True
    )
    await store.facts.add("mothership", note, "mod (1)")
    spoilers_before.add(("mothership", "notes", note.key))
    await store.close()

    folder = tmp_path / "exported"
    await asyncio.to_thread(export_canon, store.where, folder)
    diana_file = tomllib.loads((folder / "diana.toml").read_text(encoding="utf-8"))
    assert [f.get("spoiler") for f in diana_file["facts"] if f["field"] == "plot"] == [True]
    assert all("spoiler" not in f for f in diana_file["facts"] if f["field"] != "plot")

    fresh = await Store.open(new_database(tmp_path, "fresh"))
    try:
        await load_canon(fresh, folder)
        spoilers_after = {
            (entry.slug, f.field, f.key)
            for entry in await fresh.entries.all()
            for f in await fresh.facts.for_entry(entry.slug)
            if f.spoiler
        }
    finally:
        await fresh.close()
    assert spoilers_after == spoilers_before
