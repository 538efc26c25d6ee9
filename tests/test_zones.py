"""Servers' time zones: a local hour on a day as an instant (daylight-saving days included), milestone
times, the zone names offered as a server admin types, and what is refused."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.announcements import Premiere, milestone_times
from bot.errors import InputError
from bot.facts import normalize
from bot.zones import PostingTime, check_hour, find_zone, local_label, wall_clock_instant, zone_choices

ROME = ZoneInfo("Europe/Rome")
HOUR = timedelta(hours=1)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """What clocks in `zone` show at `instant`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def instants_showing(naive: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant at which clocks in `zone` show `naive`, found without zoneinfo's fold rule: try each
    offset the zone has within two days of it, keep those that read back as `naive`."""
    guess = naive.replace(tzinfo=UTC)
    offsets = {(guess + k * HOUR).astimezone(zone).utcoffset() for k in range(-48, 49)}
    found = {guess - offset for offset in offsets if offset is not None}
    return sorted(t for t in found if wall(t, zone) == naive)


def offset_before(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The zone's offset just before its last change at or before `instant` (searched back 15 minutes at
    a time, up to two days: longer than any gap in the zone data)."""
    now = instant.astimezone(zone).utcoffset()
    for step in range(1, 4 * 48):
        earlier = (instant - step * timedelta(minutes=15)).astimezone(zone).utcoffset()
        if earlier != now:
            assert earlier is not None
            return earlier
    raise AssertionError(f"no change of offset before {instant} in {zone}")


# Zones whose clocks change in odd ways: by 30 minutes (Lord Howe), by 2 hours (Troll), at midnight
# (Havana, Beirut, São Paulo until 2019), for Ramadan (Casablanca), across the date line (Apia).
CHANGING = ("Europe/Rome", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll", "America/Havana",
            "Asia/Beirut", "America/Sao_Paulo", "Africa/Casablanca", "Pacific/Apia", "Pacific/Chatham",
            "America/Santiago", "Asia/Tehran")  # fmt: skip


@st.composite
def days_near_a_change(draw: st.DrawFn) -> tuple[ZoneInfo, date, int]:
    """A zone, and a day and hour: anywhere, or (mostly) on a day its clocks change, at an hour
    close to the change, where a wrong rule for gaps and repeated hours would show."""
    zone = ZoneInfo(draw(st.timezone_keys() | st.sampled_from(CHANGING)))
    day = draw(st.dates(date(1970, 1, 1), date(2037, 12, 31)))
    hour = draw(st.integers(0, 23))
    if draw(st.integers(0, 3)):  # three times in four
        start = datetime.combine(day, time(12), tzinfo=UTC)
        for n in range(1, 400):  # the first change of offset in about a year from `day`
            if (start + n * timedelta(days=1)).astimezone(zone).utcoffset() != start.astimezone(
                zone
            ).utcoffset():
                low, high = start + (n - 1) * timedelta(days=1), start + n * timedelta(days=1)
                while high - low > timedelta(minutes=1):
                    middle = low + (high - low) / 2
                    same = middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                    low, high = (middle, high) if same else (low, middle)
                before = (high - timedelta(minutes=1)).astimezone(zone)
                day = before.date() if draw(st.booleans()) else high.astimezone(zone).date()
                # Mostly the hour skipped (clocks go forward) or repeated (they go back), else one beside it.
                forward = high.astimezone(zone).utcoffset() > before.utcoffset()  # type: ignore[operator]
                hour = before.hour + forward + draw(st.sampled_from((0, 0, 0, -1, 1)))
                hour = max(0, min(23, hour))
                break
    return zone, day, hour


@settings(max_examples=300)  # about 15 skipped hours and 20 repeated ones a run, the rest ordinary
@given(days_near_a_change())
def test_the_instant_reads_the_hour_on_the_day_or_the_gap_shifts_it_forward(
    case: tuple[ZoneInfo, date, int],
) -> None:
    """For any zone, day and hour: clocks there show exactly hour:00 on that day at the instant (the
    first time they do, if they show it twice as summer time ends); if they never do (the hour is
    skipped as summer time starts), the instant is hour:00 shifted forward by the length of the gap."""
    zone, day, hour = case
    naive = datetime.combine(day, time(hour))
    instant = wall_clock_instant(day, hour, zone)
    assert instant.tzinfo is UTC
    showing = instants_showing(naive, zone)
    if showing:
        assert instant == showing[0]
    else:
        gap = instant.astimezone(zone).utcoffset() - offset_before(instant, zone)  # type: ignore[operator]
        assert gap > timedelta(0)
        assert wall(instant, zone) == naive + gap


@pytest.mark.parametrize(
    ("day", "hour", "utc", "local"),
    [
        # 29 March 2026: at 02:00 clocks in Rome go forward to 03:00 (CET +01:00 -> CEST +02:00).
        (date(2026, 3, 29), 1, datetime(2026, 3, 29, 0, tzinfo=UTC), "01:00 +0100"),
        (date(2026, 3, 29), 2, datetime(2026, 3, 29, 1, tzinfo=UTC), "03:00 +0200"),  # skipped: shifted
        (date(2026, 3, 29), 3, datetime(2026, 3, 29, 1, tzinfo=UTC), "03:00 +0200"),
        (date(2026, 3, 29), 9, datetime(2026, 3, 29, 7, tzinfo=UTC), "09:00 +0200"),
        # 25 October 2026: at 03:00 they go back to 02:00, so 02:00-02:59 happens twice: the first counts.
        (date(2026, 10, 25), 2, datetime(2026, 10, 25, 0, tzinfo=UTC), "02:00 +0200"),
        (date(2026, 10, 25), 3, datetime(2026, 10, 25, 2, tzinfo=UTC), "03:00 +0100"),
        (date(2026, 10, 25), 9, datetime(2026, 10, 25, 8, tzinfo=UTC), "09:00 +0100"),
    ],
)
def test_rome_on_the_days_its_clocks_change(day: date, hour: int, utc: datetime, local: str) -> None:
    instant = wall_clock_instant(day, hour, ROME)
    assert instant == utc
    assert instant.astimezone(ROME).strftime("%H:%M %z") == local


def test_a_day_a_zone_skipped_is_shifted_to_the_next() -> None:
    """Samoa skipped 30 December 2011 (from -10:00 to +14:00): 09:00 that day is 09:00 on the 31st."""
    apia = ZoneInfo("Pacific/Apia")
    instant = wall_clock_instant(date(2011, 12, 30), 9, apia)
    assert instant.astimezone(apia).isoformat() == "2011-12-31T09:00:00+14:00"


@given(
    st.timezone_keys(),
    st.integers(0, 23),
    st.dates(date(1971, 1, 1), date(2037, 12, 31)),
    st.sets(st.integers(0, 365), min_size=1, max_size=10),
    st.none() | st.integers(0, 23 * 60 + 59),
)
def test_each_milestone_falls_at_the_servers_hour_on_its_local_day(
    zone_name: str, hour: int, day: date, milestones: set[int], minute_of_day: int | None
) -> None:
    """The N-day milestone of a premiere on local date D falls at hour:00 (or the gap's shift) on D - N
    in the server's zone; D is the date given, or for a premiere with a time, its date there."""
    zone = ZoneInfo(zone_name)
    moment = (
        None
        if minute_of_day is None
        else datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=minute_of_day)
    )
    premiere = Premiere(day, moment)
    local_day = moment.astimezone(zone).date() if moment else day
    times = milestone_times(premiere, milestones, PostingTime(zone_name, hour))
    assert set(times) == milestones
    for days, at in times.items():
        target = datetime.combine(local_day - timedelta(days=days), time(hour))
        shown = wall(at, zone)
        assert shown == target or (
            not instants_showing(target, zone) and target < shown < target + timedelta(days=1, hours=1)
        )
    ordered = sorted(times)  # more days before the premiere: never later
    assert all(times[a] >= times[b] for a, b in itertools.pairwise(ordered))


def test_a_premiere_with_a_time_is_counted_on_its_date_where_the_server_is() -> None:
    """00:00 UTC on 24 December is the evening of the 23rd in Mexico City: its premiere-day post goes out
    that morning at 09:00 there, and in Kolkata at 09:00 on the 24th."""
    premiere = Premiere.read("2026-12-24 00:00 UTC")
    assert premiere is not None
    mexico = milestone_times(premiere, (7, 0), PostingTime("America/Mexico_City", 9))
    assert mexico == {7: datetime(2026, 12, 16, 15, tzinfo=UTC), 0: datetime(2026, 12, 23, 15, tzinfo=UTC)}
    kolkata = milestone_times(premiere, (0,), PostingTime("Asia/Kolkata", 9))
    assert kolkata == {0: datetime(2026, 12, 24, 3, 30, tzinfo=UTC)}
    alone = Premiere.read("2026-12-24")
    assert alone is not None and milestone_times(alone, (0,), PostingTime("America/Mexico_City", 9)) == {
        0: datetime(2026, 12, 24, 15, tzinfo=UTC)
    }


# --- names a server admin types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "first"),
    [("rome", "Europe/Rome"), ("Kolkata", "Asia/Kolkata"), ("mexico city", "America/Mexico_City"),
     ("Mexico_City", "America/Mexico_City"), ("america/mex", "America/Mexico_City"), ("sao paulo", "America/Sao_Paulo"),
     ("new york", "America/New_York"), ("UTC", "UTC"), ("Europe/Rome", "Europe/Rome")],
)  # fmt: skip
def test_autocomplete_offers_the_zone_of_a_city_first(typed: str, first: str) -> None:
    assert zone_choices(typed)[0] == first


@given(st.text(max_size=12))
def test_autocomplete_offers_at_most_25_zones_each_matching_what_was_typed(typed: str) -> None:
    choices = zone_choices(typed)
    assert len(choices) <= 25 and len(set(choices)) == len(choices)
    if normalize(typed):
        assert all(normalize(typed) in normalize(name) for name in choices)
    for name in choices:
        ZoneInfo(name)  # every one offered is a zone that loads


def test_before_anything_is_typed_the_audiences_zones_are_offered() -> None:
    assert zone_choices("")[:5] == [
        "UTC",
        "Europe/Rome",
        "Asia/Kolkata",
        "Europe/Madrid",
        "America/Mexico_City",
    ]
    assert len(zone_choices("a")) == 25
    assert "localtime" not in zone_choices("local") and zone_choices("factory") == []


@pytest.mark.parametrize(
    ("typed", "zone"),
    [("Asia/Kolkata", "Asia/Kolkata"), ("asia/kolkata", "Asia/Kolkata"), (" europe/rome ", "Europe/Rome"),
     ("Kolkata", "Asia/Kolkata"), ("mexico city", "America/Mexico_City"), ("utc", "UTC")],
)  # fmt: skip
def test_a_zone_is_read_in_any_case_or_by_its_city(typed: str, zone: str) -> None:
    assert find_zone(typed) == zone


@pytest.mark.parametrize(
    ("typed", "says"),
    [("Mars/Olympus", "“Mars/Olympus” is not a time zone I know; pick one from the list as you type"),
     ("Rom", "Did you mean Europe/Rome"), ("localtime", "is not a time zone I know"), ("+05:30", "like Europe/Rome")],
)  # fmt: skip
def test_an_unknown_zone_is_refused_with_what_to_do(typed: str, says: str) -> None:
    with pytest.raises(InputError, match=says.replace("+", r"\+")):
        find_zone(typed)


@pytest.mark.parametrize("hour", [-1, 24, 100])
def test_an_hour_out_of_the_day_is_refused(hour: int) -> None:
    with pytest.raises(InputError, match=f"{hour} is not an hour of the day; give a whole hour from 0 to 23"):
        check_hour(hour)


def test_a_local_time_reads_as_the_servers_clock() -> None:
    at = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)
    assert local_label(at, "Asia/Kolkata") == "Mon 7 Dec, 09:00 Asia/Kolkata"
    assert local_label(at, "America/Mexico_City") == "Sun 6 Dec, 21:30 America/Mexico_City"
