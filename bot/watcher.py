"""The watcher of public sources: one task that sleeps until a source's round is due, reads every entry
whose canon names an id there, and files each difference from the stored facts as a suggestion for the
moderators (Approve / Reject, as for members' suggestions). It never writes a fact itself.

A difference is proposed once per source and value: the same value seen again is not proposed again,
and a rejected one comes back only when the source's value changes again (`store.watch` remembers).
A round that cannot read an entry (the source is down, slow, has no such id, answers something
unreadable) logs one line, proposes nothing for that entry, and is tried again sooner, backing off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import aiohttp

from bot.clock import Timer, stop_task
from bot.config import Settings
from bot.facts import FIELDS, Entry, Fact, ReleaseDate, fact_key, normalize
from bot.render import WatchedSource
from bot.sources import Observation, SourceError, TVmaze, Wikidata
from bot.store import SourceState, Store, Suggestion

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(minutes=10)  # after a failed round; doubled after each failure, up to the interval
WATCHED_CONFIDENCE = "reported"  # community databases, not the studio: a moderator may confirm it

# A status a source gives, and the canon's statuses that already say it (or say more): a show TVmaze
# calls "Running" that the canon knows was renewed or cancelled is not news.
_STATUS_AGREES = {
    "released": {"released", "renewed", "ended", "cancelled"},
    "ended": {"ended", "cancelled"},
    "in production": {"in production", "announced", "on hold"},
}

TVMAZE, WIKIDATA = "TVmaze", "Wikidata"
# Said with every fact a source proposes: TVmaze's data is CC BY-SA and must be credited with a link.
CREDITS = {
    TVMAZE: "From TVmaze (https://www.tvmaze.com), CC BY-SA 4.0",
    WIKIDATA: "From Wikidata (https://www.wikidata.org), CC0",
}


class Reader(Protocol):
    """One public source: which entries it knows, and what it says about one of them."""

    name: str

    def reads(self, entry: Entry) -> bool: ...

    async def observe(self, entry: Entry, today: date) -> list[Observation]: ...


@dataclass(frozen=True)
class Proposal:
    suggestion: Suggestion
    current: str | None  # what the facts say now, None if nothing


@dataclass(frozen=True)
class Round:
    source: str
    proposals: tuple[Proposal, ...]
    read: int  # entries read
    failed: int  # entries that could not be read
    state: SourceState


# --- what counts as a difference ----------------------------------------------------------------


def _dates_differ(observed: str, stored: str) -> bool:
    """A date with less precision than the stored one is not a difference, nor the same date."""
    try:
        seen, known = ReleaseDate.parse(observed), ReleaseDate.parse(stored)
    except ValueError:
        return observed != stored
    if seen.precision < known.precision:
        return False
    return seen != known


def differs(observation: Observation, stored: Fact | None) -> bool:
    if stored is None:
        return True
    if FIELDS[observation.field].multi:
        return False  # an item the facts have already: a role worded otherwise is not news
    if observation.field == "premiere":
        return _dates_differ(observation.value, stored.value)
    if observation.field == "status":
        return stored.value not in _STATUS_AGREES.get(observation.value, {observation.value})
    return normalize(observation.value) != normalize(stored.value)


def differences(facts: Sequence[Fact], observations: Sequence[Observation]) -> list[tuple[Fact, Fact | None]]:
    """(the fact to propose, the stored fact it would replace or None) for every observation that says
    something the facts do not. For a field with several items, only items the facts lack are news."""
    stored = {(f.field, f.key): f for f in facts}
    found: list[tuple[Fact, Fact | None]] = []
    for observation in observations:
        if observation.field not in FIELDS:
            continue
        key = fact_key(observation.field, observation.value)
        current = stored.get((observation.field, key))
        if differs(observation, current):
            fact = Fact(
                field=observation.field,
                value=observation.value,
                source=observation.source,
                source_date=observation.source_date,
                key=key,
                note=CREDITS.get(observation.source_name, f"From {observation.source_name}"),
                confidence=WATCHED_CONFIDENCE,
            )
            found.append((fact, current))
    return found


# --- the task ----------------------------------------------------------------------------------


class Watcher:
    """Rounds of every reader, each on its own schedule (`store.watch` keeps when each is due)."""

    def __init__(
        self,
        store: Store,
        clock: Timer,
        readers: Sequence[Reader],
        *,
        interval: timedelta,
        proposed: Callable[[Proposal], None] = lambda proposal: None,
        ready: Callable[[], Awaitable[object]] | None = None,
        on_round: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.readers = tuple(readers)
        self.interval = interval
        self.proposed = proposed
        self._ready = ready
        self.on_round = on_round  # told (source, every entry read) after each round (metrics)
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.rounds = 0  # rounds finished (of any source): what tests wait on
        self._round_done = asyncio.Condition()

    def start(self) -> None:
        if self.task is None and self.readers:
            self.task = asyncio.create_task(self._run(), name="watcher")

    async def stop(self) -> None:
        if self.task is not None:
            await stop_task(self.task)
            self.task = None

    async def wait_for_rounds(self, count: int) -> None:
        """Return once `count` rounds have finished since the watcher was made."""
        async with self._round_done:
            await self._round_done.wait_for(lambda: self.rounds >= count)

    async def _run(self) -> None:
        if self._ready is not None:
            await self._ready()
        while True:
            self.wake.clear()
            try:
                next_at = await self.due_rounds()
            except Exception:  # a bug in one round must not stop the watcher for good
                log.exception("watcher round failed; trying again in %s", RETRY_FIRST)
                next_at = self.clock() + RETRY_FIRST
            await self.clock.sleep_until(next_at, self.wake)

    async def due_rounds(self) -> datetime | None:
        """Run every source whose round is due; return when the next one is."""
        states = await self.store.watch.sources()
        next_at: datetime | None = None
        for reader in self.readers:
            state = states.get(reader.name)
            due = datetime.fromisoformat(state.next_at) if state else self.clock()
            if due <= self.clock():
                due = datetime.fromisoformat((await self.round(reader)).state.next_at)
            next_at = due if next_at is None else min(next_at, due)
        return next_at

    async def round_now(self) -> list[Round]:
        """One round of every source, due or not (`python -m bot watch`)."""
        return [await self.round(reader) for reader in self.readers]

    async def round(self, reader: Reader) -> Round:
        """Read every entry `reader` knows and propose what differs; record how it went."""
        now = self.clock()
        proposals: list[Proposal] = []
        errors: list[str] = []
        entries = [e for e in await self.store.entries.all() if reader.reads(e)]
        for entry in entries:
            try:
                observations = await reader.observe(entry, now.date())
            except SourceError as exc:
                errors.append(str(exc))
                continue
            facts = await self.store.facts.for_entry(entry.slug)
            for fact, current in differences(facts, observations):
                suggestion = await self.store.watch.propose(entry.slug, fact, reader.name)
                if suggestion is not None:
                    proposal = Proposal(suggestion, current.value if current else None)
                    proposals.append(proposal)
                    self.proposed(proposal)
        error = ""
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            error = f"{errors[0]}{more}"
        prior = (await self.store.watch.sources()).get(reader.name)
        failures = (prior.failures if prior else 0) + 1 if errors else 0
        state = await self.store.watch.finished(reader.name, error, failures, self.next_round(now, failures))
        if error:
            log.warning(
                "watcher: %s: %d of %d entries not read: %s; next try %s",
                reader.name, len(errors), len(entries), error, state.next_at,
            )  # fmt: skip
        else:
            log.info("watcher: %s: read %d entries, %d proposals", reader.name, len(entries), len(proposals))
        if self.on_round is not None:
            self.on_round(reader.name, not errors)
        await self._finished_one()
        return Round(reader.name, tuple(proposals), len(entries) - len(errors), len(errors), state)

    def next_round(self, now: datetime, failures: int) -> datetime:
        """After a good round, one interval on; after the n-th failure in a row, RETRY_FIRST * 2^(n-1)."""
        if not failures:
            return now + self.interval
        return now + min(self.interval, RETRY_FIRST * (1 << min(failures - 1, 20)))

    async def _finished_one(self) -> None:
        async with self._round_done:
            self.rounds += 1
            self._round_done.notify_all()

    async def sources(self) -> list[WatchedSource]:
        """Each source: how many entries it reads, and how its rounds went (for moderators)."""
        states, entries = await self.store.watch.sources(), await self.store.entries.all()
        return [
            WatchedSource(r.name, sum(1 for e in entries if r.reads(e)), states.get(r.name))
            for r in self.readers
        ]


# --- the sources, as readers of entries ---------------------------------------------------------


class TVmazeReader:
    """Entries whose canon names a TVmaze show (and season)."""

    name = TVMAZE

    def __init__(self, client: TVmaze) -> None:
        self.client = client

    def reads(self, entry: Entry) -> bool:
        return entry.tvmaze_id is not None

    async def observe(self, entry: Entry, today: date) -> list[Observation]:
        assert entry.tvmaze_id is not None
        return await self.client.observe(entry.tvmaze_id, entry.tvmaze_season, today)


class WikidataReader:
    """Entries whose canon names a Wikidata item."""

    name = WIKIDATA

    def __init__(self, client: Wikidata) -> None:
        self.client = client

    def reads(self, entry: Entry) -> bool:
        return entry.wikidata_id is not None

    async def observe(self, entry: Entry, today: date) -> list[Observation]:
        assert entry.wikidata_id is not None
        return await self.client.observe(entry.wikidata_id, today)


def readers(session: aiohttp.ClientSession, settings: Settings) -> list[Reader]:
    """The sources the settings name, reading through `session`."""
    return [
        TVmazeReader(TVmaze(session, settings.tvmaze_api)),
        WikidataReader(Wikidata(session, settings.wikidata_api)),
    ]
