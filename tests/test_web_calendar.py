"""The premiere calendar as a calendar app reads it: /calendar.ics and /entries/<slug>/calendar.ics parsed
back with `icalendar`, while moderators' edits (made through the store as /fact edit and /fact remove
make them) move, withdraw and bring back premieres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar

from bot.clock import ManualClock
from bot.facts import Fact
from bot.store import Store
from tests.engines import new_database
from tests.web_support import get, serving

SOURCE = "https://example.org/premiere-news"
MOD = "ana (1001)"


@pytest.fixture
def clock() -> ManualClock:
    """The store's clock: each edit is an hour after the one before (see `edit`)."""
    return ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    opened = await Store.open(new_database(tmp_path), clock)
    yield opened
    await opened.close()


@pytest.fixture
async def site(seeded: Store) -> AsyncIterator[tuple[Store, str, aiohttp.ClientSession]]:
    async with (
        serving(seeded, public_url="https://citadel.example.org") as base,
        aiohttp.ClientSession() as http,
    ):
        yield seeded, base, http


async def events(http: aiohttp.ClientSession, url: str) -> dict[str, dict[str, object]]:
    """The calendar's events by UID, each with what an app shows of it."""
    got = await get(http, url)
    assert got.status == 200 and got.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(got.body)
    assert str(calendar["VERSION"]) == "2.0" and calendar.errors == []
    found = {}
    for event in calendar.walk("VEVENT"):
        assert event.errors == []
        found[str(event["UID"])] = {
            "start": event.decoded("DTSTART"),
            "end": event.decoded("DTEND"),
            "sequence": int(event["SEQUENCE"]),
            "status": str(event["STATUS"]),
            "summary": str(event["SUMMARY"]),
            "modified": event.decoded("LAST-MODIFIED"),
            "description": str(event.get("DESCRIPTION", "")),
            "url": str(event.get("URL", "")),
        }
    return found


def premiere(value: str, confidence: str = "confirmed", source: str = SOURCE) -> Fact:
    return Fact("premiere", value, source, "2026-12-01", confidence=confidence)


async def test_only_premieres_known_to_the_day_are_events(
    site: tuple[Store, str, aiohttp.ClientSession],
) -> None:
    _, base, http = site
    shown = await events(http, base + "/calendar.ics")
    assert {uid: (e["start"], e["end"], e["sequence"], e["status"]) for uid, e in shown.items()} == {
        "mothership-premiere@citadel-bot": (date(2023, 4, 28), date(2023, 4, 29), 0, "CONFIRMED"),
        "diana-premiere@citadel-bot": (date(2024, 10, 10), date(2024, 10, 11), 0, "CONFIRMED"),
        "honey-bunny-premiere@citadel-bot": (date(2024, 11, 7), date(2024, 11, 8), 0, "CONFIRMED"),
    }  # season 2 is known to the quarter (Q2 2026); Spain and Mexico have no premiere
    diana = shown["diana-premiere@citadel-bot"]
    assert diana["summary"] == "Citadel: Diana: premiere"
    assert diana["url"] == "https://citadel.example.org/entries/diana"
    assert "Source: ottplay.com, 2024-09-11" in str(diana["description"])
    assert list(await events(http, base + "/entries/diana/calendar.ics")) == ["diana-premiere@citadel-bot"]
    assert await events(http, base + "/entries/season-2/calendar.ics") == {}
    first, again = await get(http, base + "/calendar.ics"), await get(http, base + "/calendar.ics")
    assert first.body == again.body  # the same history, the same bytes: apps see nothing new


async def test_a_moved_date_keeps_its_uid_and_raises_sequence(
    site: tuple[Store, str, aiohttp.ClientSession], clock: ManualClock
) -> None:
    store, base, http = site
    uid = "diana-premiere@citadel-bot"
    before = (await events(http, base + "/calendar.ics"))[uid]
    clock.advance(timedelta(hours=1))

    await store.facts.edit("diana", "premiere", "", premiere("2024-10-17"), MOD)
    moved = (await events(http, base + "/calendar.ics"))[uid]
    assert (moved["start"], moved["end"], moved["sequence"], moved["status"]) == (
        date(2024, 10, 17), date(2024, 10, 18), 1, "CONFIRMED",
    )  # fmt: skip
    assert (before["modified"], moved["modified"]) == (datetime(2026, 12, 1, 9, tzinfo=UTC), clock())

    await store.facts.edit("diana", "premiere", "", premiere("2024-10-17", source="Variety"), MOD)
    resourced = (await events(http, base + "/calendar.ics"))[uid]
    assert resourced["sequence"] == 1  # only the source changed: nothing an app shows
    assert "Source: Variety, 2026-12-01" in str(resourced["description"])

    await store.facts.edit("diana", "premiere", "", premiere("2024-10-24", "reported"), MOD)
    reported = (await events(http, base + "/calendar.ics"))[uid]
    assert (reported["start"], reported["sequence"], reported["status"]) == (
        date(2024, 10, 24),
        2,
        "TENTATIVE",
    )
    assert "reported, not confirmed" in str(reported["description"])
    assert len(await events(http, base + "/calendar.ics")) == 3


async def test_a_withdrawn_premiere_is_cancelled_and_a_new_day_brings_it_back(
    site: tuple[Store, str, aiohttp.ClientSession],
) -> None:
    store, base, http = site
    uid = "honey-bunny-premiere@citadel-bot"
    await store.facts.remove("honey-bunny", "premiere", "", MOD, "withdrawn")
    withdrawn = (await events(http, base + "/calendar.ics"))[uid]
    assert (withdrawn["start"], withdrawn["sequence"], withdrawn["status"]) == (
        date(2024, 11, 7),
        1,
        "CANCELLED",
    )

    await store.facts.add("honey-bunny", premiere("Q3 2027"), MOD)  # less than a day: still no day to keep
    vague = (await events(http, base + "/calendar.ics"))[uid]
    assert (vague["start"], vague["sequence"], vague["status"]) == (date(2024, 11, 7), 1, "CANCELLED")

    await store.facts.edit("honey-bunny", "premiere", "", premiere("2027-08-20"), MOD)
    back = (await events(http, base + "/calendar.ics"))[uid]
    assert (back["start"], back["sequence"], back["status"]) == (date(2027, 8, 20), 2, "CONFIRMED")

    await store.entries.retire("honey-bunny", MOD, force=True)
    gone = (await events(http, base + "/calendar.ics"))[uid]
    assert (gone["start"], gone["sequence"], gone["status"]) == (date(2027, 8, 20), 3, "CANCELLED")
    assert gone["summary"] == "Citadel: Honey Bunny: premiere"  # named as it was, though removed


async def test_a_premiere_first_known_to_the_day_becomes_an_event(
    site: tuple[Store, str, aiohttp.ClientSession],
) -> None:
    store, base, http = site
    await store.facts.edit("season-2", "premiere", "", premiere("2026-05-29"), MOD)
    shown = await events(http, base + "/calendar.ics")
    assert len(shown) == 4
    season = shown["season-2-premiere@citadel-bot"]
    assert (season["start"], season["sequence"], season["status"]) == (date(2026, 5, 29), 0, "CONFIRMED")
    page = (await get(http, base + "/entries/season-2")).text
    assert "Not in the calendar" not in page
