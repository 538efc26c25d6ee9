"""Spoilers: until when a server's answers and posts keep a spoiler fact hidden, and how a server's
choice of that time is read. Pure: the caller gives the premiere, the server's days and the time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from bot.announcements import premiere_moment
from bot.errors import InputError
from bot.facts import SPOILER_DAYS, ReleaseDate
from bot.i18n import tr

MAX_DAYS = 365


@lru_cache(maxsize=4096)  # every answer in a server asks; a premiere and a server's days change rarely
def lifted_at(premiere: str | None, days: int, default_time: time) -> datetime | None:
    """When an entry's spoilers are shown plainly: `days` after its premiere began. A premiere known
    only to the month, quarter or year counts from the end of the last day it could fall on. None
    while no premiere is known: they stay hidden."""
    if premiere is None:
        return None
    moment = premiere_moment(premiere, default_time)
    if moment is None:
        try:
            last_day = ReleaseDate.parse(premiere).window()[1]
        except ValueError:
            return None
        moment = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)
    return moment + timedelta(days=days)


def hidden(premiere: str | None, days: int, now: datetime, default_time: time) -> bool:
    """Whether spoilers of an entry with this premiere are hidden at `now` for a server that chose `days`."""
    lifted = lifted_at(premiere, days, default_time)
    return lifted is None or now < lifted


def read_days(days: int) -> int:
    """A server's choice: whole days from 0 (everything shown once the premiere begins) to MAX_DAYS."""
    if not 0 <= days <= MAX_DAYS:
        raise InputError(
            tr(
                "Spoilers can stay hidden for 0 to {most} days after a premiere, not {days}; 0 shows "
                "everything once it premieres, {default} is the default.",
                most=MAX_DAYS,
                days=days,
                default=SPOILER_DAYS,
            )
        )
    return days
