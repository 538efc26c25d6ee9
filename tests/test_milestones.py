"""Milestone arithmetic, milestone settings, change summaries and shard ownership: pure rules, exact answers."""

from __future__ import annotations

import json
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
from bot.curation import InputError
from bot.store.outbox import Shards, nonce, summarize

PREMIERE = datetime(2026, 12, 24, tzinfo=UTC)
DEFAULT = (30, 14, 7, 3, 1, 0)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (PREMIERE - timedelta(days=31), None),  # nothing has passed yet
        (PREMIERE - timedelta(days=30), 30),  # exactly on time
        (PREMIERE - timedelta(days=8), 14),  # 14 passed 6 days ago: fresher than 14 days
        (PREMIERE - timedelta(days=7), 7),
        (PREMIERE - timedelta(days=5), 7),  # a 7-day milestone missed by 2 days still posts
        (PREMIERE + timedelta(hours=23), 0),  # the premiere day's post is good for that day
        (PREMIERE + timedelta(days=1), None),  # ...and not after
    ],
)
def test_the_latest_passed_milestone_is_due_only_while_fresh(now: datetime, due: int | None) -> None:
    assert due_milestone(PREMIERE, DEFAULT, now) == due


def test_a_one_day_milestone_missed_by_two_days_does_not_post() -> None:
    assert due_milestone(PREMIERE, (7, 1), PREMIERE - timedelta(days=1) + timedelta(days=2)) is None
    assert due_milestone(PREMIERE, (7, 1), PREMIERE - timedelta(days=1) + timedelta(hours=23)) == 1


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.sets(st.integers(0, 365), min_size=1, max_size=10),
)
def test_at_most_one_milestone_is_due_and_it_is_never_in_the_future(naive: datetime, days: set[int]) -> None:
    now = naive.replace(tzinfo=UTC)
    due = due_milestone(PREMIERE, sorted(days, reverse=True), now)
    if due is not None:
        assert PREMIERE - timedelta(days=due) <= now
        assert now - (PREMIERE - timedelta(days=due)) < timedelta(days=max(due, 1))
    ahead = upcoming_milestones(PREMIERE, sorted(days), now)
    assert all(when > now for when, _ in ahead) and ahead == sorted(ahead)


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


def revision(
    old: str | None, new: str | None, source: str = "https://a.example/x"
) -> tuple[str | None, str | None]:
    def content(value: str | None) -> str | None:
        return (
            json.dumps({"value": value, "source": source, "source_date": "2026-11-20", "note": ""})
            if value
            else None
        )

    return content(old), content(new)


def test_a_batch_keeps_the_first_old_and_the_last_new_value() -> None:
    changes = summarize([
        ("episodes", "", *revision("6", "7")),
        ("episodes", "", *revision("7", "8")),
        ("status", "", *revision("announced", "released")),
        ("network", "", *revision("Prime Video", "Netflix")),
        ("network", "", *revision("Netflix", "Prime Video")),  # changed and changed back: no news
        ("cast", "jane doe", *revision(None, "Jane Doe")),
    ])  # fmt: skip
    assert [(c["field"], c["old"], c["new"]) for c in changes] == [
        ("episodes", "6", "8"), ("status", "announced", "released"), ("cast", None, "Jane Doe")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "title"),
    [("Q2 2026", "2026-05-06", "Premiere date confirmed: X"), ("2026-05-06", "2026-06-01", "Premiere moved: X"),
     ("2026", "Q2 2026", "X: what changed")],
)  # fmt: skip
def test_premiere_changes_have_their_own_headline(old: str, new: str, title: str) -> None:
    assert update_title("X", [{"field": "premiere", "old": old, "new": new}]) == title


def test_each_guild_belongs_to_exactly_one_shard() -> None:
    guilds = [(1_000_000_000 + i) << 22 for i in range(100)]
    owners = [[s for s in range(4) if Shards(4, (s,)).owns(g)] for g in guilds]
    assert all(len(o) == 1 for o in owners)
    assert Shards(4, (0, 2)).sql() == "((guild_id >> 22) % 4) IN (0, 2)"


def test_nonces_are_deterministic_and_fit_discord() -> None:
    assert nonce("update", 1, 123) == nonce("update", 1, 123) != nonce("update", 1, 124)
    assert len(nonce("milestone", 99999, 30, "2026-12-24", 1 << 62)) == 25
