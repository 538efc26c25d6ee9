"""TVmaze (https://www.tvmaze.com/api): what it says about a show, or about one season of it.

Requests, each through the rate limiter: /shows/{id}?embed[]=seasons&embed[]=cast for a show entry
(embed[]=seasons only for a season entry), and /shows/{id}/episodes only when the season needed has
no episodeOrder. How the JSON maps to canon fields:

show entry (season None)
  status    show.status: "Running" → released, "Ended" → ended, "In Development" → in production;
            "To Be Determined" (or anything else) → nothing
  network   show.network.name, else show.webChannel.name
  premiere  show.premiered (YYYY-MM-DD)
  episodes  of the show's first season (the canon's show entry is its first season, the 2023 series):
            the season's episodeOrder, else the number of its episodes in /shows/{id}/episodes
  cast      show._embedded.cast, each "Person — Character" (bot.facts.format_person), at most 20,
            one per person (the first character listed)
season entry (season N)
  status    released once season N's premiereDate is today or past; nothing before
  network   season.network.name, else season.webChannel.name, else the show's
  premiere  season.premiereDate
  episodes  season.episodeOrder, else the number of its episodes in /shows/{id}/episodes (none: nothing)

The source link is the show's (or season's) `url` if it is https, else https://www.tvmaze.com/shows/{id}.
A missing or null field gives no observation, nor does a value the canon cannot hold (parse_value refuses it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import aiohttp

from bot.facts import format_person, normalize, parse_value
from bot.sources import Observation, SourceError
from bot.sources.http import RateLimiter, get_json

SOURCE_NAME = "TVmaze"
STATUSES = {"Running": "released", "Ended": "ended", "In Development": "in production"}
MAX_CAST = 20


class TVmaze:
    """Reads TVmaze's public API; by default within its documented limit of 20 calls per 10 seconds."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = "https://api.tvmaze.com",
        limiter: RateLimiter | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or RateLimiter(20, 10.0)
        self.timeout = timeout

    async def observe(self, show_id: int, season: int | None, today: date) -> list[Observation]:
        """What TVmaze says about show `show_id` (season None) or its season `season`, read `today`."""
        embed = "embed[]=seasons&embed[]=cast" if season is None else "embed[]=seasons"
        show = await self._get(f"/shows/{show_id}?{embed}", f"show {show_id}", dict)
        embedded = _object(show.get("_embedded"))
        seasons = embedded.get("seasons")
        if not isinstance(seasons, list) or not all(isinstance(s, dict) for s in seasons):
            raise SourceError(f"TVmaze: show {show_id} answered without its list of seasons")
        if season is None:
            return await self._show(show_id, show, seasons, embedded.get("cast"), today)
        found = next((s for s in seasons if s.get("number") == season), None)
        if found is None:
            raise SourceError(f"TVmaze: show {show_id} has no season {season}")
        return await self._season(show_id, show, found, today)

    async def _show(
        self,
        show_id: int,
        show: dict[str, Any],
        seasons: list[dict[str, Any]],
        cast: object,
        today: date,
    ) -> list[Observation]:
        seen = _Seen(_link(show, show_id), today)
        seen.add("status", STATUSES.get(_text(show.get("status")) or ""))
        seen.add("network", _name(show, "network") or _name(show, "webChannel"))
        seen.add("premiere", _text(show.get("premiered")))
        numbered = [s for s in seasons if _integer(s.get("number")) is not None]
        if numbered:
            first = min(numbered, key=lambda s: s["number"])
            seen.add("episodes", await self._episodes(show_id, first))
        people: set[str] = set()
        for item in cast if isinstance(cast, list) else []:
            credit = _object(item)
            name = _text(_object(credit.get("person")).get("name"))
            if name and normalize(name) not in people and len(people) < MAX_CAST:
                people.add(normalize(name))
                seen.add("cast", format_person(name, _text(_object(credit.get("character")).get("name"))))
        return seen.observations

    async def _season(
        self, show_id: int, show: dict[str, Any], season: dict[str, Any], today: date
    ) -> list[Observation]:
        seen = _Seen(_link(season, show_id), today)
        premiere = _text(season.get("premiereDate"))
        day = _day(premiere) if premiere else None
        if day is not None and day <= today:
            seen.add("status", "released")
        seen.add(
            "network",
            _name(season, "network")
            or _name(season, "webChannel")
            or _name(show, "network")
            or _name(show, "webChannel"),
        )
        seen.add("premiere", premiere)
        seen.add("episodes", await self._episodes(show_id, season))
        return seen.observations

    async def _episodes(self, show_id: int, season: dict[str, Any]) -> str | None:
        """A season's episodeOrder, else how many of the show's episodes it has (None for none)."""
        order = _integer(season.get("episodeOrder"))
        if order:
            return str(order)
        episodes = await self._get(f"/shows/{show_id}/episodes", f"episodes of show {show_id}", list)
        number = season.get("number")
        count = sum(1 for e in episodes if isinstance(e, dict) and e.get("season") == number)
        return str(count) if count else None

    async def _get(self, path: str, what: str, expect: type[dict[str, Any]] | type[list[Any]]) -> Any:
        return await get_json(
            self.session,
            self.base_url + path,
            limiter=self.limiter,
            source_name=SOURCE_NAME,
            what=what,
            timeout=self.timeout,
            expect=expect,
        )


class _Seen:
    """Observations of one TVmaze page, each value in the canon's own text."""

    def __init__(self, source: str, today: date) -> None:
        self.source, self.today = source, today.isoformat()
        self.observations: list[Observation] = []

    def add(self, field: str, raw: str | None) -> None:
        if raw is None:
            return
        if field != "status":  # statuses come from a fixed table ("ended" may be newer than bot.facts)
            try:
                raw = parse_value(field, raw)
            except ValueError:
                return
        self.observations.append(Observation(field, raw, self.source, SOURCE_NAME, self.today))


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _name(item: dict[str, Any], key: str) -> str | None:
    """The name of a show's or season's network or webChannel, when it has one."""
    return _text(_object(item.get(key)).get("name"))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _link(item: dict[str, Any], show_id: int) -> str:
    url = _text(item.get("url"))
    if url and url.startswith("https://") and not any(c.isspace() for c in url):
        return url
    return f"https://www.tvmaze.com/shows/{show_id}"
