"""Fake TVmaze and Wikidata servers on 127.0.0.1 that speak the documented JSON.

`async with FakeTVmaze() as fake:` serves at `fake.url` until the block ends. Both fakes record every
request in `fake.requests` as (loop time, path with query), and can be made to fail: `fake.mode` is
"ok", "down" (HTTP 500), "slow" (no answer until the fake closes) or "malformed" (200 with broken
JSON); `fake.fail_next_429(retry_after=1)` answers the next request with a 429. With a `limit`, a
request beyond `limit` in any sliding `period` gets a 429 and is counted in `fake.violations`.
"""

# The waits take a deadline (`timeout`), as asyncio.timeout does.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

from aiohttp import web

MODES = ("ok", "down", "slow", "malformed")
BROKEN_JSON = b'{"id": 1, "name": "Citadel", "status": "Runn'


class FakeSource:
    """The server, the request log, the failure modes and the rate limit the two fakes share."""

    def __init__(self, limit: int | None = None, period: float = 10.0) -> None:
        self.limit, self.period = limit, period
        self.mode = "ok"
        self.url = ""
        self.requests: list[tuple[float, str]] = []
        self.user_agents: list[str] = []  # the User-Agent of each request
        self.violations = 0  # requests beyond the rate limit
        self.throttled = 0  # 429s answered, for violations or by fail_next_429
        self._forced_429: deque[int] = deque()
        self._served: deque[float] = deque()  # when requests within the limit arrived, in the last period
        self._arrived = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def fail_next_429(self, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` requests with 429 and this Retry-After (not counted as violations)."""
        self._forced_429.extend([retry_after] * times)

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:
        """Until the fake has received `count` requests in all."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()  # "slow" requests answer now
        if self._runner is not None:
            await self._runner.cleanup()

    def error_body(self, status: int, name: str) -> web.Response:
        """An error as TVmaze answers it."""
        return web.json_response({"name": name, "message": "", "code": 0, "status": status}, status=status)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = asyncio.get_running_loop().time()
        self.requests.append((now, unquote(request.path_qs)))
        self.user_agents.append(request.headers.get("User-Agent", ""))
        self._arrived.set()
        if self._forced_429:
            self.throttled += 1
            return self._too_many(self._forced_429.popleft())
        if self.limit is not None:
            while self._served and self._served[0] <= now - self.period:
                self._served.popleft()
            if len(self._served) >= self.limit:
                self.violations += 1
                self.throttled += 1
                return self._too_many(max(1, math.ceil(self._served[0] + self.period - now)))
            self._served.append(now)
        if self.mode == "down":
            return self.error_body(500, "Internal Server Error")
        if self.mode == "slow":
            await self._closing.wait()
            return self.error_body(503, "Service Unavailable")
        if self.mode == "malformed":
            return web.Response(body=BROKEN_JSON, content_type="application/json")
        assert self.mode == "ok", f"fake mode {self.mode!r} is not one of {MODES}"
        response: web.StreamResponse = await handler(request)
        return response

    def _too_many(self, retry_after: int) -> web.Response:
        response = self.error_body(429, "Too Many Requests")
        response.headers["Retry-After"] = str(retry_after)
        return response


# --- TVmaze -------------------------------------------------------------------------------------


def channel(name: str | None, id: int = 1, country: str = "US") -> dict[str, Any] | None:
    """A TVmaze network or webChannel object."""
    if name is None:
        return None
    return {
        "id": id,
        "name": name,
        "country": {"name": "United States", "code": country, "timezone": "America/New_York"},
        "officialSite": None,
    }


class FakeTVmaze(FakeSource):
    """TVmaze's /shows/{id} (embed[] of seasons, cast, episodes), /seasons, /episodes and /cast.

    `shows`, `seasons`, `episodes` and `cast` hold the JSON served, by show id, to change between
    rounds: `fake.shows[7]["status"] = "Ended"`, `fake.seasons[7][1]["episodeOrder"] = None`.
    """

    def __init__(self, limit: int | None = None, period: float = 10.0) -> None:
        super().__init__(limit, period)
        self.shows: dict[int, dict[str, Any]] = {}
        self.seasons: dict[int, list[dict[str, Any]]] = {}
        self.episodes: dict[int, list[dict[str, Any]]] = {}
        self.cast: dict[int, list[dict[str, Any]]] = {}

    def add_show(
        self,
        id: int,
        *,
        name: str = "Citadel",
        status: str | None = "Running",
        premiered: str | None = "2023-04-28",
        ended: str | None = None,
        network: str | None = None,
        web_channel: str | None = "Prime Video",
        seasons: Iterable[Mapping[str, Any]] = (),
        episodes: Iterable[tuple[int, int, str | None]] = (),
        cast: Iterable[tuple[str, str | None]] = (),
    ) -> dict[str, Any]:
        """Add a show and return its JSON. `seasons` are season fields to set (number first, then
        episodeOrder, premiereDate…: the rest are filled in), `episodes` (season, number, airdate)
        and `cast` (person, character) pairs."""
        slug = name.lower().replace(" ", "-")
        show = {
            "id": id,
            "url": f"https://www.tvmaze.com/shows/{id}/{slug}",
            "name": name,
            "type": "Scripted",
            "language": "English",
            "genres": ["Drama", "Action", "Espionage"],
            "status": status,
            "runtime": None,
            "averageRuntime": 50,
            "premiered": premiered,
            "ended": ended,
            "officialSite": "https://www.amazon.com/dp/B0B8TQB3ZN",
            "schedule": {"time": "", "days": ["Friday"]},
            "rating": {"average": 6.6},
            "weight": 97,
            "network": channel(network),
            "webChannel": channel(web_channel, id=3),
            "dvdCountry": None,
            "externals": {"tvrage": None, "thetvdb": 413950, "imdb": "tt9794044"},
            "image": None,
            "summary": f"<p><b>{name}</b></p>",
            "updated": 1767225600,
            "_links": {"self": {"href": f"https://api.tvmaze.com/shows/{id}"}},
        }
        self.shows[id] = show
        self.seasons[id] = [self._season(id, slug, dict(fields)) for fields in seasons]
        self.episodes[id] = [
            {
                "id": id * 1000 + season * 100 + number,
                "url": f"https://www.tvmaze.com/episodes/{id * 1000 + season * 100 + number}/{slug}-{season}x{number:02d}",
                "name": f"Episode {number}",
                "season": season,
                "number": number,
                "type": "regular",
                "airdate": airdate or "",
                "airtime": "",
                "airstamp": f"{airdate}T12:00:00+00:00" if airdate else None,
                "runtime": 50,
                "rating": {"average": None},
                "image": None,
                "summary": None,
                "_links": {
                    "self": {"href": f"https://api.tvmaze.com/episodes/{id * 1000 + season * 100 + number}"}
                },
            }
            for season, number, airdate in episodes
        ]
        self.cast[id] = [
            {
                "person": {
                    "id": 10 * id + i,
                    "url": f"https://www.tvmaze.com/people/{10 * id + i}",
                    "name": person,
                },
                "character": (
                    {
                        "id": 20 * id + i,
                        "url": f"https://www.tvmaze.com/characters/{20 * id + i}",
                        "name": character,
                    }
                    if character is not None
                    else None
                ),
                "self": False,
                "voice": False,
            }
            for i, (person, character) in enumerate(cast, 1)
        ]
        return show

    @staticmethod
    def _season(show_id: int, slug: str, fields: dict[str, Any]) -> dict[str, Any]:
        number = fields["number"]
        season_id = show_id * 100 + number
        season = {
            "id": season_id,
            "url": f"https://www.tvmaze.com/seasons/{season_id}/{slug}-season-{number}",
            "number": number,
            "name": "",
            "episodeOrder": None,
            "premiereDate": None,
            "endDate": None,
            "network": None,
            "webChannel": None,
            "image": None,
            "summary": None,
            "_links": {"self": {"href": f"https://api.tvmaze.com/seasons/{season_id}"}},
        }
        season.update(fields)
        return season

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(r"/shows/{id:\d+}", self._show),
            web.get(r"/shows/{id:\d+}/seasons", self._listing("seasons")),
            web.get(r"/shows/{id:\d+}/episodes", self._listing("episodes")),
            web.get(r"/shows/{id:\d+}/cast", self._listing("cast")),
        ]

    async def _show(self, request: web.Request) -> web.Response:
        show_id = int(request.match_info["id"])
        if show_id not in self.shows:
            return self.error_body(404, "Not Found")
        embeds = request.query.getall("embed[]", []) + request.query.getall("embed", [])
        show = dict(self.shows[show_id])
        if embeds:
            lists = {"seasons": self.seasons, "episodes": self.episodes, "cast": self.cast}
            show["_embedded"] = {e: lists[e].get(show_id, []) for e in embeds if e in lists}
        return web.json_response(show)

    def _listing(self, name: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            show_id = int(request.match_info["id"])
            if show_id not in self.shows:
                return self.error_body(404, "Not Found")
            listing: dict[int, list[dict[str, Any]]] = getattr(self, name)
            return web.json_response(listing.get(show_id, []))

        return handle


# --- Wikidata -----------------------------------------------------------------------------------

GREGORIAN = "http://www.wikidata.org/entity/Q1985727"
JULIAN = "http://www.wikidata.org/entity/Q1985786"
_statement_ids = itertools.count(1)


def _statement(qid: str, prop: str, datatype: str, kind: str, value: object, rank: str) -> dict[str, Any]:
    return {
        "mainsnak": {
            "snaktype": "value",
            "property": prop,
            "datavalue": {"value": value, "type": kind},
            "datatype": datatype,
        },
        "type": "statement",
        "id": f"{qid}${prop}-{next(_statement_ids):08d}",
        "rank": rank,
    }


def time_statement(
    qid: str, start: str, precision: int = 11, rank: str = "normal", calendar: str = GREGORIAN
) -> dict[str, Any]:
    """A P580 (start time) statement; `start` is "2023-04-28", "2023-04" or "2023" (the rest zeros)."""
    parts = [*start.split("-"), "00", "00"][:3]
    time = f"+{parts[0]}-{parts[1]}-{parts[2]}T00:00:00Z"
    value = {
        "time": time,
        "timezone": 0,
        "before": 0,
        "after": 0,
        "precision": precision,
        "calendarmodel": calendar,
    }
    return _statement(qid, "P580", "time", "time", value, rank)


def quantity_statement(qid: str, amount: int, rank: str = "normal") -> dict[str, Any]:
    """A P1113 (number of episodes) statement."""
    return _statement(qid, "P1113", "quantity", "quantity", {"amount": f"{amount:+d}", "unit": "1"}, rank)


def no_value_statement(
    qid: str, prop: str, snaktype: str = "somevalue", rank: str = "preferred"
) -> dict[str, Any]:
    """A statement without a value ("unknown value" or "no value")."""
    return {
        "mainsnak": {"snaktype": snaktype, "property": prop, "datatype": "time"},
        "type": "statement",
        "id": f"{qid}${prop}-{snaktype}",
        "rank": rank,
    }


class FakeWikidata(FakeSource):
    """Wikidata's /wiki/Special:EntityData/{qid}.json; `entities` holds each item's JSON by id."""

    def __init__(self, limit: int | None = None, period: float = 10.0) -> None:
        super().__init__(limit, period)
        self.entities: dict[str, dict[str, Any]] = {}
        self.redirects: dict[str, str] = {}

    def set_entity(
        self, qid: str, start: str | None = "2023-04-28", precision: int = 11, episodes: int | None = 6
    ) -> dict[str, Any]:
        """Set an item with a start time (P580) and a number of episodes (P1113); None leaves one out."""
        claims: dict[str, list[dict[str, Any]]] = {}
        if start is not None:
            claims["P580"] = [time_statement(qid, start, precision)]
        if episodes is not None:
            claims["P1113"] = [quantity_statement(qid, episodes)]
        entity = {
            "pageid": int(qid[1:]) + 1000,
            "ns": 0,
            "title": qid,
            "lastrevid": 2000000000,
            "modified": "2026-01-01T00:00:00Z",
            "type": "item",
            "id": qid,
            "labels": {"en": {"language": "en", "value": "Citadel"}},
            "descriptions": {"en": {"language": "en", "value": "American spy television series"}},
            "aliases": {},
            "claims": claims,
            "sitelinks": {},
        }
        self.entities[qid] = entity
        return entity

    def redirect(self, qid: str, target: str) -> None:
        """Make `qid` a redirect to `target`: its data is the target's, under the target's id."""
        self.redirects[qid] = target

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/wiki/Special:EntityData/{file}", self._entity)]

    async def _entity(self, request: web.Request) -> web.Response:
        qid = request.match_info["file"].removesuffix(".json")
        qid = self.redirects.get(qid, qid)
        if qid not in self.entities:
            return web.Response(
                status=404,
                text=f"<!DOCTYPE html><p>No entity with ID {qid} was found.</p>",
                content_type="text/html",
            )
        return web.json_response({"entities": {qid: self.entities[qid]}})
