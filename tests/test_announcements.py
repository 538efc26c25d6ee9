"""Milestone arithmetic, milestone settings and update headlines: pure rules, exact answers.

The outbox's own rules (change summaries, nonces) are in test_store_outbox.py, shard ownership in
test_store_servers.py."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.announcements import (
    Premiere,
    countdown_card,
    countdown_entry,
    countdown_title,
    countdown_words,
    due_milestone,
    parse_milestones,
    premiere_moment,
    upcoming_milestones,
    update_card,
    update_title,
)
from bot.errors import InputError
from bot.facts import Entry, Fact

PREMIERE = datetime(2026, 12, 24, tzinfo=UTC)
ZULU = ZoneInfo("UTC")
DEFAULT = (30, 14, 7, 3, 1, 0)
# Hypothesis takes naive bounds and gives aware datetimes in the zones it is given.
EARLIEST, LATEST = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC)
MILESTONE_DAYS = st.sets(st.integers(0, 365), min_size=1, max_size=10)


@st.composite
def moments_and_milestones(draw: st.DrawFn) -> tuple[datetime, set[int]]:
    """Milestones, and a moment anywhere in two years or close (down to a microsecond) to one of them
    falling due or going stale: where an off-by-one would show."""
    days = draw(MILESTONE_DAYS)
    anywhere = st.datetimes(
        EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None), timezones=st.just(UTC)
    )
    d = draw(st.sampled_from(sorted(days)))
    due_at = PREMIERE - timedelta(days=d)
    edge = st.sampled_from([due_at, due_at + timedelta(days=max(d, 1))])
    offset = st.timedeltas(-timedelta(days=3), timedelta(days=3)) | st.sampled_from(
        [timedelta(microseconds=n) for n in (-1, 0, 1)]
    )
    return draw(anywhere | st.builds(lambda at, by: at + by, edge, offset)), days


@given(moments_and_milestones())
def test_at_most_one_milestone_is_due_and_it_is_never_in_the_future(case: tuple[datetime, set[int]]) -> None:
    """Catches a scheduler rule that posts a milestone early, posts a stale one after downtime (missed by
    more than its own length), posts an older milestone than the latest passed, or never posts at all;
    and an `upcoming` that lists a passed milestone, leaves one out, or is out of order."""
    now, days = case
    at = {d: PREMIERE - timedelta(days=d) for d in days}
    due = due_milestone(at, now)
    passed = [d for d in days if at[d] <= now]
    if due is not None:
        assert at[due] <= now  # never early
        assert now - at[due] < timedelta(days=max(due, 1))  # never stale
        assert due == min(passed)  # the latest passed, not an older one
    elif passed:  # nothing due although one passed: only because the latest passed is stale
        latest = min(passed)
        assert now - at[latest] >= timedelta(days=max(latest, 1))
    ahead = upcoming_milestones(at, now)
    assert ahead == sorted((at[d], d) for d in days if at[d] > now)  # every one still ahead, soonest first


def test_premieres_known_to_the_day_have_a_moment_at_the_default_time() -> None:
    assert premiere_moment("2026-12-24", time(0, 0, tzinfo=UTC)) == PREMIERE
    assert premiere_moment("2026-12-24", time(20, 0, tzinfo=UTC)) == PREMIERE + timedelta(hours=20)
    assert premiere_moment("2026-12-24 08:00 +02:00", time(20, 0, tzinfo=UTC)) == PREMIERE + timedelta(
        hours=6
    )
    assert premiere_moment("Q2 2026", time(0, 0, tzinfo=UTC)) is None
    assert premiere_moment("2026-12", time(0, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("text", "days"), [("30,14,7,3,1,0", DEFAULT), ("7 3 1", (7, 3, 1)), ("0", (0,)), (" 1; 1 ,2", (2, 1))]
)
def test_milestone_settings_are_read(text: str, days: tuple[int, ...]) -> None:
    assert parse_milestones(text) == days


@pytest.mark.parametrize(("text", "says"), [("", "Give the days"), ("7,x", "whole numbers"), ("400", "at most 365"),
                                            (",".join(map(str, range(11))), "limit is 10"), ("-1", "whole numbers")])  # fmt: skip
def test_bad_milestone_settings_say_what_would_be_accepted(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_milestones(text)


@pytest.mark.parametrize(
    ("old", "new", "title"),
    [("Q2 2026", "2026-05-06", "Premiere date confirmed: X"), ("2026-05-06", "2026-06-01", "Premiere moved: X"),
     ("2026", "Q2 2026", "X: what changed")],
)  # fmt: skip
def test_premiere_changes_have_their_own_headline(old: str, new: str, title: str) -> None:
    assert update_title("X", [{"field": "premiere", "old": old, "new": new}]) == title


# --- what a post says is true when it is sent -------------------------------------------------------

EVENING = datetime(2026, 12, 24, 20, tzinfo=UTC)  # a premiere at 20:00 UTC
DAY = timedelta(days=1)


def timed(moment: datetime) -> Premiere:
    """A premiere whose time the canon gives (in UTC here)."""
    return Premiere(moment.date(), moment)


@pytest.mark.parametrize(
    ("moment", "now", "words"),
    [
        (PREMIERE, PREMIERE - 7 * DAY, "premieres in 7 days"),  # on time
        (PREMIERE, PREMIERE - 5 * DAY, "premieres in 5 days"),  # the 7-day milestone, 2 days late
        (PREMIERE, PREMIERE - 6.5 * DAY, "premieres in 7 days"),  # 6.5 days left, counted up
        (PREMIERE, PREMIERE - DAY, "premieres tomorrow"),
        (PREMIERE, PREMIERE - timedelta(minutes=1), "premieres tomorrow"),  # 23:59 the day before
        (PREMIERE, PREMIERE, "premieres today"),  # the premiere-day milestone, on time
        (EVENING, EVENING - DAY, "premieres tomorrow"),
        (EVENING, datetime(2026, 12, 24, 6, tzinfo=UTC), "premieres today"),  # 1-day, on the day: 14 h left
        (EVENING, datetime(2026, 12, 22, 21, tzinfo=UTC), "premieres in 2 days"),  # 1 day 23 h left
        (datetime(2026, 12, 24, 1, tzinfo=UTC), datetime(2026, 12, 23, 23, tzinfo=UTC), "premieres tomorrow"),
        (PREMIERE + timedelta(hours=1), PREMIERE + timedelta(seconds=1), "premieres today"),
        (PREMIERE, PREMIERE + timedelta(seconds=1), None),  # passed: no countdown says anything true
        (EVENING, EVENING + timedelta(hours=3), None),  # passed, on the next day in UTC
    ],
)  # fmt: skip
def test_a_countdown_says_what_is_true_when_it_is_sent(
    moment: datetime, now: datetime, words: str | None
) -> None:
    assert countdown_words(timed(moment), now, ZULU) == words


KOLKATA, MEXICO_CITY = ZoneInfo("Asia/Kolkata"), ZoneInfo("America/Mexico_City")


@pytest.mark.parametrize(
    ("premiere", "zone", "now", "on_the_day", "words"),
    [
        # 00:00 UTC on 24 December is 18:00 on the 23rd in Mexico City and 05:30 on the 24th in Kolkata.
        (timed(PREMIERE), MEXICO_CITY, datetime(2026, 12, 23, 15, tzinfo=UTC), True, "premieres today"),
        (timed(PREMIERE), MEXICO_CITY, datetime(2026, 12, 16, 15, tzinfo=UTC), False, "premieres in 7 days"),
        (timed(PREMIERE), KOLKATA, datetime(2026, 12, 23, 3, 30, tzinfo=UTC), False, "premieres tomorrow"),
        (timed(PREMIERE), KOLKATA, datetime(2026, 12, 24, 3, 30, tzinfo=UTC), True, "premiered today"),
        (timed(PREMIERE), KOLKATA, datetime(2026, 12, 24, 3, 30, tzinfo=UTC), False, None),
        # A date alone is that calendar date where the server is: its whole day, and no time.
        (Premiere(PREMIERE.date()), KOLKATA, datetime(2026, 12, 17, 3, 30, tzinfo=UTC), False, "premieres in 7 days"),
        (Premiere(PREMIERE.date()), KOLKATA, datetime(2026, 12, 24, 18, 29, tzinfo=UTC), True, "premieres today"),
        (Premiere(PREMIERE.date()), KOLKATA, datetime(2026, 12, 24, 18, 30, tzinfo=UTC), True, None),  # 25th there
        (Premiere(PREMIERE.date()), MEXICO_CITY, datetime(2026, 12, 24, 5, 59, tzinfo=UTC), False, "premieres tomorrow"),
        (Premiere(PREMIERE.date()), MEXICO_CITY, datetime(2026, 12, 25, 5, 59, tzinfo=UTC), True, "premieres today"),
    ],
)  # fmt: skip
def test_today_and_tomorrow_are_said_in_the_servers_zone(
    premiere: Premiere, zone: ZoneInfo, now: datetime, on_the_day: bool, words: str | None
) -> None:
    assert countdown_words(premiere, now, zone, on_the_day=on_the_day) == words


def test_only_the_premiere_day_post_goes_out_after_the_premiere_and_only_that_day() -> None:
    """Held up a minute behind a rate limit, the premiere-day post still goes out (and says what
    happened); any other countdown is dropped, and so is the premiere-day post once the day is over."""
    midnight, evening = timed(PREMIERE), timed(EVENING)
    assert (
        countdown_words(midnight, PREMIERE + timedelta(minutes=1), ZULU, on_the_day=True) == "premiered today"
    )
    assert countdown_words(midnight, PREMIERE + timedelta(minutes=1), ZULU) is None
    assert (
        countdown_words(evening, EVENING + timedelta(hours=3, minutes=59), ZULU, on_the_day=True)
        == "premiered today"
    )
    assert countdown_words(evening, EVENING + timedelta(hours=4), ZULU, on_the_day=True) is None


@given(
    st.datetimes(EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None), timezones=st.just(UTC)),
    st.timedeltas(-3 * DAY, timedelta(days=40)),
    st.booleans(),
    st.timezone_keys(),
    st.booleans(),
)
def test_countdown_words_never_say_tomorrow_or_today_unless_they_are(
    moment: datetime, left: timedelta, on_the_day: bool, zone_name: str, has_time: bool
) -> None:
    """In any zone, for a premiere with a time or a date alone: catches "tomorrow" on the premiere day,
    "today" on the day before, "in N days" when the premiere is not N calendar days ahead where the
    server is, or a countdown after the premiere."""
    zone, now = ZoneInfo(zone_name), moment - left
    premiere = timed(moment) if has_time else Premiere(moment.date())
    words = countdown_words(premiere, now, zone, on_the_day=on_the_day)
    day = moment.astimezone(zone).date() if has_time else moment.date()  # the premiere's date there
    today = now.astimezone(zone).date()
    if (moment < now) if has_time else (day < today):
        assert words == ("premiered today" if on_the_day and day == today else None)
    elif day == today:
        assert words == "premieres today"
    elif day == today + DAY:
        assert words == "premieres tomorrow"
    else:
        assert words is not None
        n = int(words.removeprefix("premieres in ").removesuffix(" days"))
        assert n >= 2 and today + n * DAY == day


def test_a_premiere_not_confirmed_says_so_in_its_countdown() -> None:
    now, premiere = PREMIERE - 5 * DAY, timed(PREMIERE)
    assert countdown_title("Citadel: Diana", premiere, now, ZULU, "reported") == (
        "Citadel: Diana premieres in 5 days (reported, not confirmed)"
    )
    assert countdown_title("Citadel: Diana", premiere, now, ZULU, "rumour") == (
        "Citadel: Diana premieres in 5 days (rumour, not confirmed)"
    )
    assert countdown_title("Citadel: Diana", premiere, now, ZULU) == "Citadel: Diana premieres in 5 days"
    assert countdown_title("Citadel: Diana", premiere, PREMIERE + DAY, ZULU, "reported") is None


ENTRY = Entry("diana", "Citadel: Diana")
SOURCE = "https://www.example.org/x"


def premiere_fact(value: str = "2026-12-24", confidence: str = "confirmed") -> Fact:
    return Fact("premiere", value, SOURCE, "2026-11-20", confidence=confidence)


def test_a_countdown_card_reads_as_at_its_sending() -> None:
    facts = [premiere_fact(confidence="reported"), Fact("network", "Prime Video", SOURCE, "2026-11-20")]
    premiere = timed(PREMIERE)
    late = countdown_card(ENTRY, facts, premiere, PREMIERE - 5 * DAY, ZULU, "`/citadel diana`")
    assert late is not None
    assert late.title == "Citadel: Diana premieres in 5 days (reported, not confirmed)"
    stamp = int(PREMIERE.timestamp())
    assert (
        late.description == f"Premiere: <t:{stamp}:F> (<t:{stamp}:R>) [1]\nEverything known: `/citadel diana`"
    )
    assert countdown_card(ENTRY, facts, premiere, PREMIERE + timedelta(seconds=1), ZULU, "") is None
    on_the_day = countdown_card(
        ENTRY, facts, premiere, PREMIERE + timedelta(seconds=1), ZULU, "", on_the_day=True
    )
    assert on_the_day is not None and on_the_day.title.startswith("Citadel: Diana premiered today")


def test_a_date_alone_is_shown_as_its_date_where_the_server_is() -> None:
    """No time is known, so none is shown: the post's timestamp is the date (`:D`), taken at the start
    of that day in the server's zone, so its members read the date the countdown counts to."""
    card = countdown_card(
        ENTRY, [premiere_fact()], Premiere(PREMIERE.date()), PREMIERE - 5 * DAY, KOLKATA, "M"
    )
    assert card is not None and card.title == "Citadel: Diana premieres in 5 days"
    stamp = int(datetime(2026, 12, 23, 18, 30, tzinfo=UTC).timestamp())  # 24 December, 00:00 in Kolkata
    assert card.description == f"Premiere: <t:{stamp}:D> (<t:{stamp}:R>) [1]\nEverything known: M"


def test_countdown_on_demand_marks_a_date_not_confirmed() -> None:
    now, stamp = PREMIERE - 5 * DAY, int(PREMIERE.timestamp())
    card = countdown_entry(ENTRY, [premiere_fact(confidence="reported")], now, time(0, tzinfo=UTC))
    assert card.description == f"premieres <t:{stamp}:F> (<t:{stamp}:R>) _(reported, not confirmed)_ [1]"
    card = countdown_entry(ENTRY, [premiere_fact()], now, time(0, tzinfo=UTC))
    assert card.description == f"premieres <t:{stamp}:F> (<t:{stamp}:R>) [1]"


def change(old: str | None, new: str | None, field: str = "premiere", **more: str | None) -> dict:
    return {"field": field, "key": "", "old": old, "new": new, "source": SOURCE, "source_date": "2026-11-20",
            **more}  # fmt: skip


def lines(*changes: dict) -> list[str]:
    card = update_card(ENTRY, changes, PREMIERE - 30 * DAY, "M")
    return card.description.split("\n\n")[0].splitlines()


def test_update_lines_mark_values_not_confirmed_and_say_when_only_the_confidence_changed() -> None:
    stamp = int(PREMIERE.timestamp())
    day = f"<t:{stamp}:D> (<t:{stamp}:R>)"
    assert lines(
        change("2026-12-24", "2026-12-24", confidence="confirmed", old_confidence="reported"),
        change("2026-12-24", "2026-12-24", confidence="rumour", old_confidence="confirmed"),
        change("2026-12-24", "2026-12-24", confidence="confirmed", old_confidence="rumour"),
        change("6", "8", "episodes", confidence="reported", old_confidence="confirmed"),
        change(None, "Jane Doe", "cast", confidence="rumour", old_confidence=None),
        change("Arnaldo Catinari", None, "director", confidence="reported", old_confidence="reported"),
    ) == [
        f"**Premiere**: {day} — now confirmed (was reported) (example.org, 2026-11-20)",
        f"**Premiere**: {day} — now rumour, not confirmed (was confirmed) (example.org, 2026-11-20)",
        f"**Premiere**: {day} — now confirmed (was a rumour) (example.org, 2026-11-20)",
        "**Episodes**: 6 → 8 _(reported, not confirmed)_ (example.org, 2026-11-20)",
        "**Cast**: added Jane Doe _(rumour, not confirmed)_ (example.org, 2026-11-20)",
        "**Directed by**: removed Arnaldo Catinari _(reported, not confirmed)_ (example.org, 2026-11-20)",
    ]


def test_update_batches_from_before_confidences_read_as_they_did() -> None:
    assert lines(
        change("6", "8", "episodes"), change(None, "Jane Doe", "cast"), change("x", None, "notes")
    ) == [
        "**Episodes**: 6 → 8 (example.org, 2026-11-20)",
        "**Cast**: added Jane Doe (example.org, 2026-11-20)",
        "**Notes**: removed x (example.org, 2026-11-20)",
    ]


@pytest.mark.parametrize(
    ("old", "new", "confidence", "old_confidence", "title"),
    [("Q2 2026", "2026-05-06", "reported", "confirmed", "Premiere date reported: X"),
     ("Q2 2026", "2026-05-06", "rumour", "confirmed", "Premiere date rumoured: X"),
     ("2026-05-06", "2026-06-01", "reported", "reported", "New premiere date reported: X"),
     ("2026-05-06", "2026-05-06", "confirmed", "reported", "Premiere date confirmed: X"),
     ("2026-05-06", "2026-05-06", "reported", "confirmed", "X: what changed"),
     ("2026-05-06", "2026-06-01", "confirmed", "reported", "Premiere moved: X")],
)  # fmt: skip
def test_a_premiere_headline_calls_a_date_confirmed_only_when_it_is(
    old: str, new: str, confidence: str, old_confidence: str, title: str
) -> None:
    changes = [{"field": "premiere", "old": old, "new": new, "confidence": confidence,
                "old_confidence": old_confidence}]  # fmt: skip
    assert update_title("X", changes) == title
