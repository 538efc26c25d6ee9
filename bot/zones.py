"""Servers' time zones: the IANA names they pick from (with autocomplete), and the rule that turns a
local wall-clock hour on a day into an instant, daylight-saving days included.

The zone data comes from the system or, where it has none, from the `tzdata` package (a dependency).
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.errors import InputError
from bot.facts import normalize, one_line
from bot.i18n import short_day_words, tr

DEFAULT_ZONE = "UTC"
DEFAULT_HOUR = 9  # 09:00: posts in the morning, where the server is
CHOICES = 25  # Discord shows at most 25 autocomplete choices
# Not places: `localtime` is the machine's own setting and `Factory` a placeholder with no offset.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
# What the option shows before anything is typed: UTC and the franchise's audiences first.
_SUGGESTED = (
    "UTC", "Europe/Rome", "Asia/Kolkata", "Europe/Madrid", "America/Mexico_City", "America/Sao_Paulo",
    "America/Bogota", "America/Buenos_Aires", "Europe/London", "Europe/Paris", "Europe/Berlin",
    "America/New_York", "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney",
)  # fmt: skip


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name, sorted; read once (the first autocomplete, or the first check)."""
    return tuple(sorted(zoneinfo.available_timezones() - _NOT_ZONES))


@functools.cache
def _searchable() -> tuple[tuple[str, str, str], ...]:
    """(name, the name folded for matching, its city folded): 'America/Mexico_City' is found by
    'mexico city', 'Mexico_City' or 'city'."""
    return tuple((n, normalize(n), normalize(n.rsplit("/", 1)[-1])) for n in zone_names())


def zone_choices(typed: str, limit: int = CHOICES) -> list[str]:
    """The zones matching what was typed, best first: the whole name, the city, a city starting with it, a
    word of the name starting with it, then anywhere in the name; alphabetical within each."""
    query = normalize(typed)
    if not query:
        return [n for n in _SUGGESTED if n in zone_names()][:limit]
    ranked: list[tuple[int, str]] = []
    for name, folded, city in _searchable():
        if query not in folded:
            continue
        if folded == query:
            rank = 0
        elif city == query:
            rank = 1
        elif city.startswith(query):
            rank = 2
        elif f" {query}" in f" {folded}":
            rank = 3
        else:
            rank = 4
        ranked.append((rank, name))
    ranked.sort()
    return [name for _, name in ranked[:limit]]


def find_zone(typed: str) -> str:
    """The IANA name a server admin meant: the name in any case ('asia/kolkata'), or a city only one
    zone has ('Kolkata', 'mexico city'). InputError, with the closest names, for anything else."""
    wanted = typed.strip()
    by_case = {n.casefold(): n for n in zone_names()}
    if wanted.casefold() in by_case:
        return by_case[wanted.casefold()]
    query = normalize(wanted)
    cities = [name for name, _, city in _searchable() if city == query] if query else []
    if len(cities) == 1:
        return cities[0]
    close = (cities or zone_choices(wanted))[:3]
    typed_zone = one_line(wanted, 40)
    if close and query:
        raise InputError(
            tr(
                "“{typed}” is not a time zone I know; pick one from the list as you type, like "
                "Europe/Rome or Asia/Kolkata. Did you mean {zones}?",
                typed=typed_zone,
                zones=", ".join(close),
            )
        )
    raise InputError(
        tr(
            "“{typed}” is not a time zone I know; pick one from the list as you type, like "
            "Europe/Rome or Asia/Kolkata.",
            typed=typed_zone,
        )
    )


@dataclass(frozen=True)
class PostingTime:
    """When a server's countdowns go out: `hour`:00 on a milestone's day, in its zone."""

    zone_name: str = DEFAULT_ZONE
    hour: int = DEFAULT_HOUR

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)  # zoneinfo keeps one object per name: no file is read twice

    def __str__(self) -> str:
        return f"{self.hour:02d}:00 {self.zone_name}"


def check_hour(hour: int) -> int:
    """A posting hour, 0 to 23 (Discord's form enforces it too, but a client can send anything)."""
    if not 0 <= hour <= 23:
        raise InputError(
            tr(
                "{hour} is not an hour of the day; give a whole hour from 0 to 23, like 9 for 09:00.",
                hour=hour,
            )
        )
    return hour


def wall_clock_instant(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """The instant (in UTC) at which clocks in `zone` show `hour`:00 on `day`.

    On daylight-saving days, by PEP 495's fold=0: an hour that happens twice (clocks go back) is its
    first occurrence; an hour that does not exist (clocks go forward) is shifted forward by the length
    of the gap, i.e. 02:00 on the day Rome skips to 03:00 is 03:00 CEST, the first instant of the new
    time. (A whole skipped day, as Samoa's 30 December 2011, becomes the same hour of the next day.)"""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def local_label(instant: datetime, zone_name: str) -> str:
    """How a server's own clock reads at `instant`, in the reader's words: "Mon 7 Dec, 09:00
    Asia/Kolkata", "lun 7 dic, 09:00 Asia/Kolkata"."""
    local = instant.astimezone(ZoneInfo(zone_name))
    return f"{short_day_words(local.date())}, {local:%H:%M} {zone_name}"
