"""Milestone arithmetic, milestone settings and update headlines: pure rules, exact answers.

The outbox's own rules (change summaries, nonces) are in test_store_outbox.py, shard ownership in
test_store_servers.py."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.announcements import (
    due_milestone,
    parse_milestones,
    premiere_moment,
    upcoming_milestones,
    update_title,
)
from bot.errors import InputError

PREMIERE = datetime(2026, 12, 24, tzinfo=UTC)
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
    due = due_milestone(PREMIERE, sorted(days, reverse=True), now)
    passed = [d for d in days if at[d] <= now]
    if due is not None:
        assert at[due] <= now  # never early
        assert now - at[due] < timedelta(days=max(due, 1))  # never stale
        assert due == min(passed)  # the latest passed, not an older one
    elif passed:  # nothing due although one passed: only because the latest passed is stale
        latest = min(passed)
        assert now - at[latest] >= timedelta(days=max(latest, 1))
    ahead = upcoming_milestones(PREMIERE, sorted(days), now)
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
