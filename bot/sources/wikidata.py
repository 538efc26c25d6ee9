"""Wikidata: an item's start time and number of episodes, from its Linked Data JSON.

One request: {base}/wiki/Special:EntityData/{qid}.json, which answers {"entities": {"Q…": {...}}};
for a redirected id the key is the target's, so the only entity is taken. Mapping to canon fields:

  premiere  P580 (start time), to its precision: 11 day → YYYY-MM-DD, 10 month → YYYY-MM, 9 year → YYYY;
            coarser (decade…) or a non-Gregorian calendar → nothing
  episodes  P1113 (number of episodes), a whole quantity such as "+6"

Of a property's statements the first with a value among the "preferred" ones is read, else among the
"normal" ones; "deprecated" ones never. The source link is https://www.wikidata.org/wiki/{id}, with the
id of the entity answered (the target of a redirect).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp

from bot.facts import parse_value
from bot.sources import Observation, SourceError
from bot.sources.http import RateLimiter, get_json

SOURCE_NAME = "Wikidata"
START_TIME, NUMBER_OF_EPISODES = "P580", "P1113"
GREGORIAN = "http://www.wikidata.org/entity/Q1985727"
_QID = re.compile(r"Q[1-9][0-9]*")
_TIME = re.compile(r"\+(\d{4})-(\d{2})-(\d{2})T")


class Wikidata:
    """Reads Wikidata's Special:EntityData; requests go through `limiter` when one is given."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = "https://www.wikidata.org",
        limiter: RateLimiter | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.timeout = timeout

    async def observe(self, qid: str, today: date) -> list[Observation]:
        """What Wikidata says about item `qid` (like "Q42"), read `today`."""
        if not isinstance(qid, str) or not _QID.fullmatch(qid):
            raise SourceError(f"Wikidata: {str(qid)[:40]!r} is not an item id such as Q42")
        data = await get_json(
            self.session,
            f"{self.base_url}/wiki/Special:EntityData/{qid}.json",
            limiter=self.limiter,
            source_name=SOURCE_NAME,
            what=f"item {qid}",
            timeout=self.timeout,
        )
        entities = data.get("entities")
        if not isinstance(entities, dict) or (qid not in entities and len(entities) != 1):
            raise SourceError(f"Wikidata: item {qid} answered without exactly one entity")
        own, entity = (qid, entities[qid]) if qid in entities else next(iter(entities.items()))
        if not isinstance(entity, dict):
            raise SourceError(f"Wikidata: item {qid} answered an entity that is not an object")
        claims = _object(entity.get("claims"))
        source = f"https://www.wikidata.org/wiki/{own if _QID.fullmatch(str(own)) else qid}"
        observations = []
        for field, raw in (
            ("premiere", _start(_best(claims.get(START_TIME)))),
            ("episodes", _count(_best(claims.get(NUMBER_OF_EPISODES)))),
        ):
            try:
                value = parse_value(field, raw) if raw is not None else None
            except ValueError:  # a value the canon cannot hold
                value = None
            if value is not None:
                observations.append(Observation(field, value, source, SOURCE_NAME, today.isoformat()))
        return observations


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _best(statements: object) -> dict[str, Any] | None:
    """The value of the first preferred statement with one, else of the first normal one."""
    if not isinstance(statements, list):
        return None
    for rank in ("preferred", "normal"):
        for statement in statements:
            statement = _object(statement)
            snak = _object(statement.get("mainsnak"))
            if statement.get("rank") == rank and snak.get("snaktype") == "value":
                value = _object(snak.get("datavalue")).get("value")
                if isinstance(value, dict):
                    return value
    return None


def _start(value: dict[str, Any] | None) -> str | None:
    """A time value as "YYYY-MM-DD", "YYYY-MM" or "YYYY" by its precision (11, 10, 9); else None."""
    if value is None or value.get("calendarmodel", GREGORIAN) != GREGORIAN:
        return None
    time, precision = value.get("time"), value.get("precision")
    match = _TIME.match(time) if isinstance(time, str) else None
    if match is None or not isinstance(precision, int) or precision < 9:
        return None
    year, month, day = match.groups()
    return f"{year}-{month}-{day}" if precision >= 11 else f"{year}-{month}" if precision == 10 else year


def _count(value: dict[str, Any] | None) -> str | None:
    """A quantity's amount ("+6") as a whole number; None if it is not one."""
    amount = (value or {}).get("amount")
    try:
        number = Decimal(amount) if isinstance(amount, str) else None
    except InvalidOperation:
        return None
    if number is None or not number.is_finite() or number < 0 or number != number.to_integral_value():
        return None
    return str(int(number))
