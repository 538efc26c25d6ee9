"""Clients of the public, machine-readable sources (TVmaze, Wikidata) that a watcher compares with the canon.

Each client reads one item and returns Observations: canon fields with the values the source gives,
in the canonical text of bot.facts.parse_value, and a link to the source's page for people.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    """What one source says about one canon field of an entry."""

    field: str  # a canon field: "status", "network", "premiere", "episodes", "cast"
    value: str  # canonical text, as bot.facts.parse_value(field, value) returns it
    source: str  # https link to the item's page for people (not the API)
    source_name: str  # "TVmaze" or "Wikidata"
    source_date: str  # YYYY-MM-DD: the day it was read


class SourceError(Exception):
    """One line saying what failed, naming the source and id, e.g. 'TVmaze: show 99999 not found (404)'."""


# The clients import the two classes above from this package, so they are imported after them.
from bot.sources.http import RateLimiter, get_json  # noqa: E402
from bot.sources.tvmaze import TVmaze  # noqa: E402
from bot.sources.wikidata import Wikidata  # noqa: E402

__all__ = ["Observation", "RateLimiter", "SourceError", "TVmaze", "Wikidata", "get_json"]
