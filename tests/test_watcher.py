"""The watcher of public sources, against a fake TVmaze and a fake Wikidata on loopback: through the real
bot and the fake Discord (proposals posted for review, approved and rejected with the buttons), at the
watcher itself for each way a source fails, and as `python -m bot watch`.

The shipped canon names no source ids (none could be established from public sources), so these
tests give a copy of it the ids of the fakes' shows."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.canon import load_canon
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Entry, Fact
from bot.services import Catalogue, Curation
from bot.services.curation import EntryChange
from bot.sources import Observation, RateLimiter, TVmaze, Wikidata
from bot.store import Store, upsert_entry
from bot.watcher import RETRY_FIRST, TVmazeReader, Watcher, WikidataReader, differences
from tests.fake_discord import FakeDiscord
from tests.fake_sources import FakeTVmaze, FakeWikidata
from tests.harness import HOME, MANAGE_GUILD, ROOT, fields_of, handled, running_bot
from tests.store_probe import select

START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CITADEL, DIANA = 1001, 1002  # the fakes' show ids
DIANA_QID = "Q1002"
IDS = {
    "mothership.toml": f"tvmaze_id = {CITADEL}\n",
    "season-2.toml": f"tvmaze_id = {CITADEL}\ntvmaze_season = 2\n",
    "diana.toml": f'tvmaze_id = {DIANA}\nwikidata_id = "{DIANA_QID}"\n',
}
SEASON_2_URL = f"https://www.tvmaze.com/seasons/{CITADEL * 100 + 2}/citadel-season-2"


def name_ids(canon_dir: Path) -> None:
    """The canon copy names the fakes' ids, at the top of each entry file."""
    for name, ids in IDS.items():
        path = canon_dir / name
        path.write_text(ids + path.read_text(encoding="utf-8"), encoding="utf-8")


def serve_what_the_canon_says(tvmaze: FakeTVmaze, wikidata: FakeWikidata) -> None:
    """Shows that agree with the canon, except where a test changes them."""
    tvmaze.add_show(
        CITADEL,
        status="Running",
        premiered="2023-04-28",
        seasons=[
            {"number": 1, "episodeOrder": 6, "premiereDate": "2023-04-28"},
            {"number": 2, "episodeOrder": None, "premiereDate": None},
        ],
        cast=[("Richard Madden", "Mason Kane"), ("Priyanka Chopra Jonas", "Nadia Sinh")],
    )
    tvmaze.add_show(
        DIANA,
        name="Citadel: Diana",
        status="Ended",  # "ended": the canon's "cancelled" says that and more
        premiered="2024-10-10",
        seasons=[{"number": 1, "episodeOrder": 6, "premiereDate": "2024-10-10"}],
        cast=[("Matilda De Angelis", "Diana Cavalieri")],
    )
    wikidata.set_entity(DIANA_QID, start="2024-10", precision=10, episodes=6)  # a month: less than the canon


def rows(where: Path | str, sql: str) -> list[tuple[Any, ...]]:
    return select(where, sql)


@pytest.fixture
async def sources() -> AsyncIterator[tuple[FakeTVmaze, FakeWikidata]]:
    async with FakeTVmaze() as tvmaze, FakeWikidata() as wikidata:
        serve_what_the_canon_says(tvmaze, wikidata)
        yield tvmaze, wikidata


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def watched(settings: Settings, sources: tuple[FakeTVmaze, FakeWikidata]) -> Settings:
    name_ids(settings.canon_dir)
    tvmaze, wikidata = sources
    return replace(settings, watch_interval_hours=6, tvmaze_api=tvmaze.url, wikidata_api=wikidata.url)


async def review_posts(fake: FakeDiscord, count: int) -> list[dict[str, Any]]:
    messages = await fake.wait_for_message(HOME.channel_id, count=count)
    return [m for m in messages if m.get("components")]


async def press(fake: FakeDiscord, message: dict[str, Any], custom_id: str) -> dict[str, Any]:
    user = fake.make_user(1001, "ana")
    return await (
        await fake.click_button(message, custom_id, user=user, permissions=MANAGE_GUILD)
    ).wait_response()


# --- through the bot ----------------------------------------------------------------------------


async def test_each_difference_is_proposed_once_and_approving_one_posts_the_update(
    watched: Settings, fake: FakeDiscord, clock: ManualClock, sources: tuple[FakeTVmaze, FakeWikidata]
) -> None:
    tvmaze, _ = sources
    # What TVmaze says that the canon does not: season 2's day and episode count, and that the show ended.
    tvmaze.seasons[CITADEL][1].update(premiereDate="2026-05-06", episodeOrder=8)
    tvmaze.shows[CITADEL]["status"] = "Ended"
    async with running_bot(watched, fake, clock) as bot:
        subscribed = await fake.invoke_command(
            "announce", subcommand="channel", options={"channel": HOME.channel_id}, guild_id=HOME.id,
            permissions=MANAGE_GUILD,
        )  # fmt: skip
        await subscribed.wait_response()
        assert bot.watcher is not None
        await bot.watcher.wait_for_rounds(2)  # TVmaze's and Wikidata's first rounds, due at start
        posted = await review_posts(fake, 4)
        cards = {
            (card["title"], card["description"]): fields_of(card)
            for card in (message["embeds"][0] for message in posted)
        }
        # Exactly one proposal per difference: season 2's premiere day, its episodes and its network (the
        # canon has neither), and the show's status. Diana agrees everywhere, Wikidata's month included.
        assert set(cards) == {
            ("Suggestion #1: Citadel · Status", "ended"),
            ("Suggestion #2: Citadel season 2 · Network", "Prime Video"),
            ("Suggestion #3: Citadel season 2 · Premiere", "2026-05-06"),
            ("Suggestion #4: Citadel season 2 · Episodes", "8"),
        }
        premiere = cards[("Suggestion #3: Citadel season 2 · Premiere", "2026-05-06")]
        assert premiere["Source"] == f"{SEASON_2_URL} (2026-12-02)"  # credited to TVmaze, with a link
        assert premiere["Confidence"] == "reported"
        assert premiere["Stored now"] == "Q2 2026"
        assert premiere["Suggested by"] == (
            "the watcher, from TVmaze: From TVmaze (https://www.tvmaze.com), CC BY-SA 4.0"
        )

        # The next round (six hours on) sees the same values: nothing is proposed twice.
        clock.advance(timedelta(hours=6))
        await bot.watcher.wait_for_rounds(4)
        assert len(fake.messages[HOME.channel_id]) == 4
        assert rows(watched.database, "SELECT count(*) FROM suggestions") == [(4,)]

        # Approving the premiere stores it as a revision crediting the watcher, and the change posts.
        review = next(m for m in posted if m["embeds"][0]["title"].endswith("Premiere"))
        approved = await press(fake, review, "suggestion:3:approve")
        assert fields_of(approved["data"]["embeds"][0])["Decision"].startswith(
            "Approved by ana (1001): revision #"
        )
        stored = await bot.store.facts.get("season-2", "premiere", "")
        assert stored is not None
        assert (stored.value, stored.source, stored.confidence) == ("2026-05-06", SEASON_2_URL, "reported")
        assert stored.added_by == "the watcher, from TVmaze, suggestion #3 approved by ana (1001)"
        clock.advance(timedelta(seconds=watched.update_settle_seconds + 1))
        await bot.announcer.settled()
        update = fake.messages[HOME.channel_id][-1]["embeds"][0]
        assert len(fake.messages[HOME.channel_id]) == 5
        assert update["title"].endswith("Citadel season 2")
        assert "tvmaze.com" in update["description"] and "2026-12-02" in update["description"]

        # Rejecting the episode count keeps it from coming back while TVmaze says the same...
        review = next(m for m in posted if m["embeds"][0]["title"].endswith("Episodes"))
        asked = await fake.click_button(review, "suggestion:4:reject", user=fake.make_user(1001, "ana"),
                                        permissions=MANAGE_GUILD)  # fmt: skip
        assert (await asked.wait_response())["type"] == 9  # the reason form
        await (
            await fake.submit_modal(asked, {"reason": "TVmaze counts a trailer as an episode."})
        ).wait_response()
        clock.advance(timedelta(hours=6))
        await bot.watcher.wait_for_rounds(6)
        assert rows(watched.database, "SELECT count(*) FROM suggestions") == [(4,)]
        # ...and it comes back once the source's value changes again.
        tvmaze.seasons[CITADEL][1]["episodeOrder"] = 9
        clock.advance(timedelta(hours=6))
        await bot.watcher.wait_for_rounds(8)
        (again,) = [
            m for m in await review_posts(fake, 6) if m["embeds"][0]["title"].startswith("Suggestion #5")
        ]
        assert again["embeds"][0]["description"] == "9"

        # Moderators see how the rounds went.
        record = await fake.invoke_command(
            "fact", subcommand="watcher", guild_id=HOME.id, permissions=MANAGE_GUILD
        )
        status = fields_of((await record.wait_response())["data"]["embeds"][0])
        await handled(fake, record)
        assert set(status) == {"TVmaze · 3 entries", "Wikidata · 1 entry"}
        assert "Last successful round: <t:" in status["TVmaze · 3 entries"]
        assert "Last error" not in status["TVmaze · 3 entries"]


async def test_suggestions_filed_while_the_bot_was_away_are_posted_when_it_connects(
    watched: Settings, fake: FakeDiscord, sources: tuple[FakeTVmaze, FakeWikidata]
) -> None:
    tvmaze, _ = sources
    tvmaze.shows[CITADEL]["status"] = "Ended"
    report = await run_watch(watched)
    assert report.returncode == 0, report.stderr
    unposted = "SELECT count(*) FROM suggestions WHERE review_message_id IS NULL"
    assert rows(watched.database, unposted) == [(2,)]  # the status, and season 2's network
    offline = replace(watched, watch_interval_hours=0)  # only what `watch` filed is posted
    async with running_bot(offline, fake):
        posted = await review_posts(fake, 2)
        assert [p["embeds"][0]["title"] for p in posted] == [
            "Suggestion #1: Citadel · Status",
            "Suggestion #2: Citadel season 2 · Network",
        ]
        posted_ids = [(int(p["id"]),) for p in posted]
        await fake.wait_until(
            lambda: (
                rows(watched.database, "SELECT review_message_id FROM suggestions ORDER BY id")
                == posted_ids
            ),
            what="the review posts' ids to be stored",
        )


# --- python -m bot watch -------------------------------------------------------------------------


async def run_watch(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"},
        "DATABASE_PATH": str(settings.database_path),
        "DATABASE_URL": settings.database_url or "",
        "CANON_DIR": str(settings.canon_dir),
        "TVMAZE_API": settings.tvmaze_api,
        "WIKIDATA_API": settings.wikidata_api,
        "PYTHONPATH": str(ROOT),
    }
    # In a thread: the fakes answering it run on this test's event loop.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "watch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_python_m_bot_watch_prints_what_it_filed_then_nothing_new(
    watched: Settings, sources: tuple[FakeTVmaze, FakeWikidata]
) -> None:
    tvmaze, _ = sources
    tvmaze.seasons[CITADEL][1].update(premiereDate="2026-05-06")
    first = await run_watch(watched)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "TVmaze: read 3 of 3 entries"
    today = datetime.now(UTC).date().isoformat()  # the CLI reads on the real clock: today is its date
    assert lines[1:3] == [
        f"  suggestion #1: Citadel season 2 · Network: nothing -> Prime Video ({SEASON_2_URL}, {today})",
        f"  suggestion #2: Citadel season 2 · Premiere: Q2 2026 -> 2026-05-06 ({SEASON_2_URL}, {today})",
    ]
    assert lines[3:] == ["Wikidata: read 1 of 1 entries"]
    second = await run_watch(watched)
    assert second.stdout.splitlines() == [
        "TVmaze: read 3 of 3 entries",
        "Wikidata: read 1 of 1 entries",
        "nothing new",
    ]
    tvmaze.mode = "down"
    third = await run_watch(watched)
    assert third.returncode == 1
    assert (
        third.stdout.splitlines()[0]
        == "TVmaze: read 0 of 3 entries; not read: TVmaze: show 1001 answered HTTP 500 (and 2 more)"
    )


# --- the watcher itself: failures, backoff, the rate limit ---------------------------------------


@pytest.fixture
async def store_with_ids(seeded: Store, canon_dir: Path) -> Store:
    name_ids(canon_dir)
    await load_canon(seeded, canon_dir)
    return seeded


def dump(where: Path | str) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for table in ("entries", "facts", "revisions", "suggestions", "watch_proposals"):
        found += [(table, *row) for row in rows(where, f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")]
    return found


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("down", "TVmaze: show 1001 answered HTTP 500"),
        ("slow", "TVmaze: show 1001 timed out after 0.2 s"),
        ("malformed", "TVmaze: show 1001 answered malformed JSON"),
        ("not found", "TVmaze: show 1001 not found (404)"),
    ],
)
async def test_a_failing_source_proposes_nothing_changes_nothing_and_backs_off(
    store_with_ids: Store,
    sources: tuple[FakeTVmaze, FakeWikidata],
    caplog: pytest.LogCaptureFixture,
    mode: str,
    says: str,
) -> None:
    tvmaze, _ = sources
    tvmaze.seasons[CITADEL][1].update(premiereDate="2026-05-06")  # a difference, were it read
    if mode == "not found":
        for show in (CITADEL, DIANA):
            del tvmaze.shows[show]
    else:
        tvmaze.mode = mode
    clock = ManualClock(START)
    before = dump(store_with_ids.where)
    async with aiohttp.ClientSession() as session:
        reader = TVmazeReader(TVmaze(session, tvmaze.url, timeout=0.2))
        watcher = Watcher(store_with_ids, clock, [reader], interval=timedelta(hours=6))
        with caplog.at_level(logging.INFO, logger="bot.watcher"):
            first = await watcher.round(reader)
        assert (first.proposals, first.read, first.failed) == ((), 0, 3)
        assert dump(store_with_ids.where) == before  # nothing proposed, nothing changed
        (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.watcher"]
        assert says in line and "\n" not in line
        assert first.state.error.startswith(says) and first.state.failures == 1
        assert first.state.last_ok_at is None
        assert datetime.fromisoformat(first.state.next_at) == START + RETRY_FIRST  # tried again soon
        clock.advance(RETRY_FIRST)
        second = await watcher.round(reader)
        assert second.state.failures == 2
        assert datetime.fromisoformat(second.state.next_at) == clock() + 2 * RETRY_FIRST  # backing off
        # Once it answers again, the round proposes what it reads and the backoff is over.
        tvmaze.mode = "ok"
        serve_what_the_canon_says(tvmaze, FakeWikidata())
        tvmaze.seasons[CITADEL][1].update(premiereDate="2026-05-06")
        third = await watcher.round(reader)
    assert [p.suggestion.fact.value for p in third.proposals] == ["Prime Video", "2026-05-06"]
    assert (third.state.failures, third.state.error) == (0, "")
    assert datetime.fromisoformat(third.state.next_at) == clock() + timedelta(hours=6)


async def test_a_wikidata_that_fails_proposes_nothing(
    store_with_ids: Store, sources: tuple[FakeTVmaze, FakeWikidata]
) -> None:
    _, wikidata = sources
    wikidata.mode = "malformed"
    async with aiohttp.ClientSession() as session:
        reader = WikidataReader(Wikidata(session, wikidata.url))
        done = await Watcher(store_with_ids, ManualClock(START), [reader], interval=timedelta(hours=6)).round(
            reader
        )
    assert (done.proposals, done.failed) == ((), 1)
    assert done.state.error == "Wikidata: item Q1002 answered malformed JSON"


async def test_fifty_entries_never_exceed_tvmaze_rate_limit(store: Store) -> None:
    """TVmaze allows 20 calls every 10 seconds; here the fake enforces 20 a second and the client keeps
    to the same, so the test shows the limit kept in 3 seconds instead of 25."""
    async with FakeTVmaze(limit=20, period=1.0) as tvmaze:
        async with store.transaction() as tx:
            for n in range(50):
                await upsert_entry(tx, Entry(f"show-{n}", f"Show {n}", tvmaze_id=5000 + n))
        for n in range(50):
            tvmaze.add_show(5000 + n, name=f"Show {n}", seasons=[{"number": 1, "episodeOrder": 6}])
        async with aiohttp.ClientSession() as session:
            reader = TVmazeReader(TVmaze(session, tvmaze.url, limiter=RateLimiter(20, 1.0)))
            done = await Watcher(store, ManualClock(START), [reader], interval=timedelta(hours=6)).round(
                reader
            )
        assert (done.read, done.failed) == (50, 0)
        assert tvmaze.violations == 0 and tvmaze.throttled == 0
        assert len(tvmaze.requests) == 50
        times = sorted(t for t, _ in tvmaze.requests)
        assert times[-1] - times[0] >= 2.0  # 50 calls at 20 a second need at least two more seconds
        # Each of the 50 new entries lacks status, network, premiere and episodes: four proposals each.
        assert len(done.proposals) == 50 * 4


# --- what counts as a difference (pure) ----------------------------------------------------------


def observed(field: str, value: str) -> Observation:
    return Observation(field, value, "https://www.tvmaze.com/shows/1/x", "TVmaze", "2026-12-02")


def stored(field: str, value: str, key: str = "") -> Fact:
    return Fact(field, value, "https://example.org", "2025-01-01", key=key)


@pytest.mark.parametrize(
    ("field", "canon", "source", "news"),
    [
        ("premiere", "Q2 2026", "2026-05-06", True),  # more precise: news
        ("premiere", "2026-05-06", "2026-05", False),  # less precise: not a difference
        ("premiere", "2026-05-06", "2026", False),
        ("premiere", "2026-05-06", "2026-05-06", False),
        ("premiere", "2026-05-06", "2026-05-13", True),  # moved
        ("status", "cancelled", "ended", False),  # cancelled says ended, and more
        ("status", "renewed", "released", False),
        ("status", "renewed", "ended", True),
        ("status", "in production", "released", True),
        ("episodes", "6", "6", False),
        ("episodes", "6", "8", True),
        ("network", "Prime Video", "prime video", False),
    ],
)
def test_what_counts_as_a_difference(field: str, canon: str, source: str, news: bool) -> None:
    found = differences([stored(field, canon)], [observed(field, source)])
    assert bool(found) is news
    if found:
        ((proposal, replaced),) = found
        assert (proposal.value, proposal.confidence, replaced) == (source, "reported", stored(field, canon))


def test_cast_members_the_canon_lacks_are_proposed_and_roles_alone_are_not() -> None:
    facts = [stored("cast", "Richard Madden — Mason Kane, alias Kyle Conroy", key="richard madden")]
    found = differences(
        facts,
        [observed("cast", "Richard Madden — Mason Kane"), observed("cast", "Stanley Tucci — Bernard Orlick")],
    )
    assert [(f.value, f.key, replaced) for f, replaced in found] == [
        ("Stanley Tucci — Bernard Orlick", "stanley tucci", None)
    ]


def test_today_is_the_source_date() -> None:
    ((proposal, _),) = differences(
        [], [Observation("episodes", "8", "https://x.example", "Wikidata", date(2026, 12, 2).isoformat())]
    )
    assert (proposal.source_date, proposal.note) == (
        "2026-12-02",
        "From Wikidata (https://www.wikidata.org), CC0",
    )


async def test_editing_an_entry_keeps_the_ids_its_canon_names(store_with_ids: Store) -> None:
    clock = ManualClock(START)
    catalogue = Catalogue(store_with_ids, clock)
    await catalogue.open()
    try:
        curation = Curation(store_with_ids, catalogue, clock)
        await curation.edit_entry(
            catalogue.resolve("diana"), EntryChange(title="Citadel: Diana (Italy)"), "mod (1)"
        )
    finally:
        catalogue.close()
    edited = await store_with_ids.entries.get("diana")
    assert edited is not None
    assert (edited.title, edited.tvmaze_id, edited.wikidata_id) == (
        "Citadel: Diana (Italy)",
        DIANA,
        DIANA_QID,
    )
