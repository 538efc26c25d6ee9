"""The one place that says each error to a user: every error the domain and the store raise has its own
line, and the tree adds what a refused write did not do exactly once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bot import errors
from bot.errors import CitadelError, RateLimited, StaleEdit, UnknownEntry
from bot.facts import Fact
from bot.refusals import NOTHING_CHANGED, refusal

SAMPLES = {
    "str": "diana",
    "int": 7,
    "bool": False,
    "str | None": "Paris",
    "tuple[str, ...]": ("season-3",),
    "timedelta": timedelta(hours=1),
    "datetime": datetime(2026, 12, 2, 12, tzinfo=UTC),
    "Fact | None": None,
}


def leaves() -> list[type[CitadelError]]:
    found, todo = [], [CitadelError]
    while todo:
        cls = todo.pop()
        subclasses = cls.__subclasses__()
        todo += subclasses
        if not subclasses and cls.__module__ == errors.__name__:
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


def example(cls: type[CitadelError]) -> CitadelError:
    if cls is errors.InputError:
        return errors.InputError("The title is empty; write it out.")
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]  # type: ignore[arg-type]  # cls is a dataclass type
    values = {f.name: SAMPLES[str(f.type)] for f in required}
    return cls(**values)


def test_the_errors_are_found_by_walking_the_hierarchy() -> None:
    assert len(leaves()) == 30  # a new error type is picked up by the next test without listing it here


@pytest.mark.parametrize("cls", leaves(), ids=lambda c: c.__name__)
def test_every_error_the_domain_raises_has_its_own_one_line(cls: type[CitadelError]) -> None:
    line = refusal(example(cls))
    assert line != "That can't be done."  # the fallback: an error nobody wrote a line for
    assert line and "\n" not in line and line == line.strip()
    assert "repr" not in line and cls.__name__ not in line  # data, not the exception's own text


def test_the_unknown_entry_line_names_the_closest_titles_or_says_how_to_find_one() -> None:
    assert refusal(UnknownEntry("narnia", ("Citadel: Diana", "Citadel"))) == (
        "I don't know an entry called “narnia”. Closest: Citadel: Diana, Citadel. Pick one from the list as you type."
    )
    assert "Start typing a title" in refusal(UnknownEntry("narnia"))
    assert refusal(UnknownEntry("")).startswith("Name an entry:")


@pytest.mark.parametrize(
    ("window", "said"),
    [
        (timedelta(hours=1), "5 suggestions an hour."),
        (timedelta(hours=2), "5 suggestions 2 hours."),
        (timedelta(minutes=10), "5 suggestions 10 minutes."),
        (timedelta(days=1), "5 suggestions a day."),
    ],
)
def test_a_rate_limit_says_its_own_window(window: timedelta, said: str) -> None:
    retry = datetime(2026, 12, 2, 13, tzinfo=UTC)
    line = refusal(RateLimited(5, window, retry))
    assert line.startswith(f"You can make {said}") and f"<t:{int(retry.timestamp())}:R>" in line


def test_a_stale_edit_says_who_saved_first_and_what_it_says_now() -> None:
    current = Fact("episodes", "8", "example.org", "2026-11-01", revision_id=41, added_by="ben (2)")
    line = refusal(StaleEdit(current, "episodes"))
    assert line.startswith("Someone changed this fact after you opened it (revision #41 by ben (2)).")
    assert "It now says “8”." in line and line.endswith("run the command again to edit the new value.")
    # It already says nothing was changed: a write command's note is not added twice; other lines get it.
    assert refusal(StaleEdit(current), NOTHING_CHANGED) == refusal(StaleEdit(current))
    assert refusal(UnknownEntry("x"), NOTHING_CHANGED).endswith("pick from the list. Nothing was changed.")
