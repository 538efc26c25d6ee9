"""The pure domain: entries, fields, fact values, release dates with precision, and entry matching.

Nothing here does I/O or knows about Discord, so every rule is testable with plain values. The words a
reader sees (field labels, statuses, how sure a fact is, dates) are said in the reader's language
(bot/i18n.py); the values themselves stay as written.
"""

from __future__ import annotations

import bisect
import calendar
import difflib
import enum
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import overload
from urllib.parse import urlsplit

from bot.i18n import N_, day_words, month_words, quarter_words, tr

STATUSES: tuple[str, ...] = (
    "announced", "in production", "released", "renewed", "on hold", "cancelled", "ended",
)  # fmt: skip
# A status as fans read it: one of a fixed set, so it is translated (the store keeps the English word).
_STATUS_WORDS = {
    "announced": N_("Announced"),
    "in production": N_("In production"),
    "released": N_("Released"),
    "renewed": N_("Renewed"),
    "on hold": N_("On hold"),
    "cancelled": N_("Cancelled"),
    "ended": N_("Ended"),
}


def status_words(status: str) -> str:
    """A status as fans read it ("Cancelled", "Cancellata"); one outside the set capitalized, as written."""
    words = _STATUS_WORDS.get(status)
    return tr(words) if words else status.capitalize()


# How sure a fact is: `confirmed` (the network, the studio or the people themselves said it),
# `reported` (the press, citing sources) or `rumour`.
CONFIRMED = "confirmed"
CONFIDENCES: tuple[str, ...] = (CONFIRMED, "reported", "rumour")
_CONFIDENCE_MARKS = {"reported": N_("reported, not confirmed"), "rumour": N_("rumour, not confirmed")}


def confidence_mark(confidence: str) -> str:
    """What fans read beside a fact that is not confirmed ("reported, not confirmed"); '' if confirmed."""
    mark = _CONFIDENCE_MARKS.get(confidence)
    return tr(mark) if mark else ""


class Kind(enum.Enum):
    """How a field's value is read and shown."""

    TEXT = "text"
    PERSON = "person"  # a name with an optional role: "Matilda De Angelis — Diana Cavalieri"
    DATE = "date"  # a ReleaseDate with its precision
    URL = "url"
    NUMBER = "number"
    STATUS = "status"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    english: str  # its label in English, the catalogue's message id: see `label`
    kind: Kind
    multi: bool = False
    limit: int = 300  # longest value accepted, in characters
    inline: bool = True
    # Whether a fact of it may be marked as a spoiler: what it tells can give the story away.
    spoilable: bool = False

    @property
    def label(self) -> str:
        """How the field is named to the reader: "Premiere", "Uscita", "प्रीमियर"."""
        return tr(self.english)


# Order here is the order of the embed's fields.
FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("status", N_("Status"), Kind.STATUS, limit=20),
    FieldSpec("premiere", N_("Premiere"), Kind.DATE, limit=40),
    FieldSpec("schedule", N_("Release schedule"), Kind.TEXT, inline=False),
    FieldSpec("network", N_("Network"), Kind.TEXT, limit=60),
    FieldSpec("country", N_("Country"), Kind.TEXT, limit=60),
    FieldSpec("language", N_("Language"), Kind.TEXT, limit=60),
    FieldSpec("episodes", N_("Episodes"), Kind.NUMBER, limit=4),
    FieldSpec("creator", N_("Created by"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("developer", N_("Developed by"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("showrunner", N_("Showrunner"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("head_writer", N_("Head writer"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("writer", N_("Written by"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("director", N_("Directed by"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("executive_producer", N_("Executive producers"), Kind.PERSON, multi=True, limit=120),
    FieldSpec("production", N_("Production"), Kind.TEXT, multi=True, limit=120),
    FieldSpec("cast", N_("Cast"), Kind.PERSON, multi=True, limit=120, inline=False),
    FieldSpec("setting", N_("Setting"), Kind.TEXT, inline=False),
    FieldSpec("filming_location", N_("Filmed in"), Kind.TEXT, multi=True, limit=80, inline=False),
    FieldSpec("filming", N_("Filming"), Kind.TEXT, inline=False),
    FieldSpec("plot", N_("Plot"), Kind.TEXT, limit=1000, inline=False, spoilable=True),
    FieldSpec("first_look", N_("First look"), Kind.TEXT, inline=False),
    FieldSpec("trailer", N_("Trailer"), Kind.URL, inline=False),
    FieldSpec("relation", N_("Related series"), Kind.TEXT, multi=True, inline=False),
    FieldSpec("reception", N_("Reception"), Kind.TEXT, multi=True, inline=False),
    # There is no field of its own for an episode or the ending: a note on one is where it goes.
    FieldSpec("notes", N_("Notes"), Kind.TEXT, multi=True, limit=500, inline=False, spoilable=True),
)
FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in FIELD_SPECS}
SPOILABLE: tuple[str, ...] = tuple(spec.name for spec in FIELD_SPECS if spec.spoilable)
# How many days after a premiere its spoilers stay hidden where a server has not chosen (and in DMs).
SPOILER_DAYS = 14


def field_label(field: str) -> str:
    """How a field is named to users ("Premiere", "Filmed in"); an unknown one by its own name."""
    return FIELDS[field].label if field in FIELDS else field


PERSON_SEPARATOR = " — "


@dataclass(frozen=True)
class Entry:
    """One series, season or spin-off of the franchise."""

    slug: str
    title: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    parent: str | None = None
    position: int = 0
    # Where the watcher reads about it: a TVmaze show (and season, for an entry that is one season of a
    # show) and a Wikidata item. The canon names them; None where no public source establishes them.
    tvmaze_id: int | None = None
    tvmaze_season: int | None = None
    wikidata_id: str | None = None


@dataclass(frozen=True)
class Fact:
    """One sourced statement about an entry. `key` tells apart the items of a multi-valued field."""

    field: str
    value: str
    source: str
    source_date: str
    key: str = ""
    note: str = ""
    added_by: str = "canon"
    added_at: str = ""
    position: int = 0
    revision_id: int | None = None  # the revision that set it, once stored
    confidence: str = CONFIRMED
    spoiler: bool = False  # hidden behind Discord's spoiler markers until a while after the premiere


def one_line(text: str, limit: int = 60) -> str:
    """User text fit to be quoted inside a one-line message: whitespace folded, cut with '…'."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- people -------------------------------------------------------------------------------------


def format_person(name: str, role: str | None = None) -> str:
    name, role = name.strip(), (role or "").strip()
    return f"{name}{PERSON_SEPARATOR}{role}" if role else name


def split_person(value: str) -> tuple[str, str | None]:
    """'Name — Role' -> ('Name', 'Role'); 'Name' -> ('Name', None)."""
    name, _, role = value.partition(PERSON_SEPARATOR)
    return name.strip(), (role.strip() or None)


def fact_key(field_name: str, value: str) -> str:
    """The identity of a fact within its field: '' for single-valued fields, else the normalized item."""
    spec = FIELDS[field_name]
    if not spec.multi:
        return ""
    if spec.kind is Kind.PERSON:
        value = split_person(value)[0]
    return normalize(value)


# --- text matching ------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    """Fold case, accents and punctuation: 'Citadel: Diána!' -> 'citadel diana'."""
    if not text.isascii():  # plain ASCII (most names) has no accents to take off
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", text.casefold()).strip()


@functools.lru_cache(maxsize=8192)
def entry_terms(entry: Entry) -> tuple[str, ...]:
    """Every name a fan might use for an entry, normalized (cached: entries are immutable)."""
    names = [entry.slug.replace("-", " "), entry.title, *entry.aliases]
    if ":" in entry.title:
        names.append(entry.title.split(":", 1)[1])
    terms = dict.fromkeys(t for t in (normalize(n) for n in names) if t)
    return tuple(terms)


FUZZY_CUTOFF = 0.6


def _score(query: str, terms: Sequence[str]) -> float:
    """100 exact, 80 a name starting with the query, 60 a word starting with it, 40 a substring."""
    best = 0.0
    for term in terms:
        if term == query:
            return 100.0
        if term.startswith(query):
            best = max(best, 80.0)
        elif f" {query}" in f" {term}":  # the start of a word, even in a longer name
            best = max(best, 60.0)
        elif query in term:
            best = max(best, 40.0)
    return best


def _fuzzy(matcher: difflib.SequenceMatcher[str], terms: Sequence[str]) -> float:
    """Below 30 for a near spelling ('Dianna'), 0 otherwise; the cheap upper bounds go first."""
    # SequenceMatcher keeps its second sequence as .b; typeshed does not declare it.
    best, size = 0.0, len(matcher.b)  # type: ignore[attr-defined]
    for term in terms:
        if 2 * min(size, len(term)) < FUZZY_CUTOFF * (size + len(term)):
            continue  # lengths alone rule it out: the cheapest bound of all
        matcher.set_seq1(term)
        if matcher.real_quick_ratio() >= FUZZY_CUTOFF and matcher.quick_ratio() >= FUZZY_CUTOFF:
            ratio = matcher.ratio()
            if ratio >= FUZZY_CUTOFF:
                best = max(best, 30.0 * ratio)
    return best


class EntryIndex(Sequence[Entry]):
    """Entries as given, with every name normalized once, for matching on every keystroke.

    All the names sit in one string, so finding the entries that contain what was typed is a few
    `str.find` calls in C rather than a Python loop over every entry: with 1,000 entries a new prefix
    costs microseconds. Build one whenever the entries change; it never changes itself.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._given = tuple(entries)
        self.by_slug = {e.slug: e for e in self._given}

    # The names are normalized on the first match, not at start-up: `/citadel diana` names its entry
    # by slug and never needs them (with 1,000 entries they take a few milliseconds).

    @functools.cached_property
    def ordered(self) -> tuple[Entry, ...]:
        return tuple(sorted(self._given, key=lambda e: (e.position, e.slug)))

    @functools.cached_property
    def terms(self) -> tuple[tuple[str, ...], ...]:
        return tuple(entry_terms(e) for e in self.ordered)

    @functools.cached_property
    def _names(self) -> tuple[str, list[int]]:
        """Every entry's names in one string, and where each entry's begin."""
        # Normalized names hold only [0-9a-z ], so neither separator can occur in them or in a query.
        blocks = ["\n".join(terms) for terms in self.terms]
        starts: list[int] = []
        offset = 0
        for block in blocks:
            starts.append(offset)
            offset += len(block) + 1
        return "\0".join(blocks), starts

    def __len__(self) -> int:
        return len(self._given)

    @overload
    def __getitem__(self, i: int) -> Entry: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Entry]: ...
    def __getitem__(self, i: int | slice) -> Entry | Sequence[Entry]:
        return self._given[i]

    def containing(self, wanted: str) -> list[int]:
        """Positions in `ordered` of the entries some name of which contains `wanted`, in order."""
        found: list[int] = []
        text, starts = self._names
        at = text.find(wanted)
        while at != -1:
            i = bisect.bisect_right(starts, at) - 1
            found.append(i)
            if i + 1 == len(starts):
                break
            at = text.find(wanted, starts[i + 1])
        return found


def as_index(entries: Iterable[Entry]) -> EntryIndex:
    return entries if isinstance(entries, EntryIndex) else EntryIndex(entries)


def ranked_entries(query: str, entries: Iterable[Entry], limit: int = 25) -> list[tuple[float, Entry]]:
    """(score, entry) for entries whose slug, title or aliases match `query`, best first.

    100 is an exact name, 80 a name that starts with the query, 60 a word that does, 40 a substring,
    below 30 a near spelling. An empty query ranks every entry equally, in franchise order. Pass an
    EntryIndex when matching the same entries again and again.
    """
    index = as_index(entries)
    wanted = normalize(query)
    if not wanted:
        return [(0.0, e) for e in index.ordered[:limit]]
    # Every plain match contains the query: only those entries are scored.
    scored = [(_score(wanted, index.terms[i]), index.ordered[i]) for i in index.containing(wanted)]
    if not scored and len(wanted) >= 3:  # near spellings only when nothing matches plainly
        matcher = difflib.SequenceMatcher(None)
        matcher.set_seq2(wanted)  # the query is compared with every term: analyse it once
        scored = [
            (score, e)
            for e, terms in zip(index.ordered, index.terms, strict=True)
            if (score := _fuzzy(matcher, terms)) > 0
        ]
    scored.sort(key=lambda pair: -pair[0])  # stable: ties keep franchise order
    return scored[:limit]


def match_entries(query: str, entries: Iterable[Entry], limit: int = 25) -> list[Entry]:
    """Entries matching `query`, best first; all of them for an empty query."""
    return [entry for _, entry in ranked_entries(query, entries, limit)]


def find_entry(query: str, entries: Iterable[Entry]) -> Entry | None:
    """The entry `query` clearly names: an exact name, or the one best match by the start of a word."""
    ranked = ranked_entries(query, entries, limit=2)
    if not ranked or ranked[0][0] < 60:
        return None
    if len(ranked) > 1 and ranked[1][0] >= ranked[0][0] and ranked[0][0] < 100:
        return None  # two equally good guesses: ask rather than pick one
    return ranked[0][1]


# --- release dates ------------------------------------------------------------------------------


class Precision(enum.IntEnum):
    YEAR = 1
    QUARTER = 2
    MONTH = 3
    DAY = 4


_MONTHS = {normalize(name): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({normalize(name): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9

_RE_YEAR = re.compile(r"^(\d{4})$")
_RE_QUARTER = re.compile(r"^(?:q([1-4])\s*(\d{4})|(\d{4})\s*-?\s*q([1-4]))$")
_RE_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_RE_ISO_DAY = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ](\d{1,2}):(\d{2})(?:\s*(z|utc|[+-]\d{2}:?\d{2}))?)?$"
)
_RE_WORDS_MONTH = re.compile(r"^([a-z]+)\.?\s+(\d{4})$")
_RE_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})$")
_RE_MONTH_DAY_YEAR = re.compile(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")
MIN_YEAR, MAX_YEAR = 1900, 2100


class DateError(ValueError):
    """A release date that cannot be read or does not exist; the message says what would be accepted."""


ACCEPTED_DATES = "2024, Q2 2026, 2024-10, October 2024, 2024-10-10 or 10 October 2024"


@dataclass(frozen=True)
class ReleaseDate:
    """A release date known to the year, quarter, month or day (optionally with a time, in UTC)."""

    year: int
    precision: Precision
    month: int = 1
    day: int = 1
    at: time | None = None

    @property
    def quarter(self) -> int:
        return (self.month - 1) // 3 + 1

    @classmethod
    def parse(cls, raw: str) -> ReleaseDate:
        """Read the forms in ACCEPTED_DATES; raise DateError with a clear message otherwise."""
        text = " ".join(raw.strip().lower().split())
        if len(text) > 40:
            raise DateError(tr("That date is too long; write it like {accepted}.", accepted=ACCEPTED_DATES))
        if m := _RE_YEAR.match(text):
            return cls._make(int(m[1]), Precision.YEAR)
        if m := _RE_QUARTER.match(text):
            quarter, year = (m[1], m[2]) if m[1] else (m[4], m[3])
            return cls._make(int(year), Precision.QUARTER, month=(int(quarter) - 1) * 3 + 1)
        if m := _RE_ISO_MONTH.match(text):
            return cls._make(int(m[1]), Precision.MONTH, month=int(m[2]))
        if m := _RE_WORDS_MONTH.match(text):
            return cls._make(int(m[2]), Precision.MONTH, month=cls._month(m[1]))
        if m := _RE_ISO_DAY.match(text):
            at = cls._time(m[4], m[5], m[6]) if m[4] else None
            return cls._make(int(m[1]), Precision.DAY, month=int(m[2]), day=int(m[3]), at=at)
        if m := _RE_DAY_MONTH_YEAR.match(text):
            return cls._make(int(m[3]), Precision.DAY, month=cls._month(m[2]), day=int(m[1]))
        if m := _RE_MONTH_DAY_YEAR.match(text):
            return cls._make(int(m[3]), Precision.DAY, month=cls._month(m[1]), day=int(m[2]))
        raise DateError(
            tr(
                "I can't read '{value}' as a date; write it like {accepted}.",
                value=one_line(raw, 40),
                accepted=ACCEPTED_DATES,
            )
        )

    @staticmethod
    def _month(word: str) -> int:
        try:
            return _MONTHS[word]
        except KeyError:
            raise DateError(
                tr("'{word}' is not a month; write it like {accepted}.", word=word, accepted=ACCEPTED_DATES)
            ) from None

    @staticmethod
    def _time(hour: str, minute: str, zone: str | None) -> time:
        h, m = int(hour), int(minute)
        if h > 23 or m > 59:
            raise DateError(tr("{time} is not a time of day; use 24-hour HH:MM.", time=f"{hour}:{minute}"))
        tz: timezone = UTC
        if zone and zone not in ("z", "utc"):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if offset > timedelta(hours=14):
                raise DateError(
                    tr("{zone} is not a time zone offset; use one between -14:00 and +14:00.", zone=zone)
                )
            tz = timezone(sign * offset)
        return time(h, m, tzinfo=tz)

    @classmethod
    def _make(
        cls, year: int, precision: Precision, month: int = 1, day: int = 1, at: time | None = None
    ) -> ReleaseDate:
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise DateError(
                tr(
                    "{year} is out of range; use a year between {first} and {last}.",
                    year=year,
                    first=MIN_YEAR,
                    last=MAX_YEAR,
                )
            )
        if not 1 <= month <= 12:
            raise DateError(tr("Month {month} does not exist; use 1 to 12.", month=month))
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise DateError(
                tr(
                    "{date} does not exist: {month} has {days} days.",
                    date=f"{year}-{month:02d}-{day:02d}",
                    month=month_words(year, month),
                    days=last,
                )
            )
        return cls(year, precision, month, day, at)

    # Canonical text, which parse() reads back.
    def __str__(self) -> str:
        if self.precision is Precision.YEAR:
            return f"{self.year}"
        if self.precision is Precision.QUARTER:
            return f"Q{self.quarter} {self.year}"
        if self.precision is Precision.MONTH:
            return f"{self.year}-{self.month:02d}"
        base = f"{self.year}-{self.month:02d}-{self.day:02d}"
        if self.at is None:
            return base
        offset = self.at.utcoffset() or timedelta(0)
        zone = "UTC" if not offset else datetime.combine(date(2000, 1, 1), self.at).strftime("%z")
        return f"{base} {self.at:%H:%M} {zone}"

    def window(self) -> tuple[date, date]:
        """First and last day the date could fall on."""
        if self.precision is Precision.YEAR:
            return date(self.year, 1, 1), date(self.year, 12, 31)
        if self.precision is Precision.QUARTER:
            first = (self.quarter - 1) * 3 + 1
            return date(self.year, first, 1), date(
                self.year, first + 2, calendar.monthrange(self.year, first + 2)[1]
            )
        if self.precision is Precision.MONTH:
            return date(self.year, self.month, 1), date(
                self.year, self.month, calendar.monthrange(self.year, self.month)[1]
            )
        day = date(self.year, self.month, self.day)
        return day, day

    def moment(self) -> datetime | None:
        """The instant of a premiere known to the day (00:00 UTC unless a time is known), else None."""
        if self.precision is not Precision.DAY:
            return None
        local = datetime.combine(date(self.year, self.month, self.day), self.at or time(0, 0, tzinfo=UTC))
        return local.astimezone(UTC)

    def has_passed(self, today: date) -> bool:
        return self.window()[1] < today

    def label(self) -> str:
        """The date in the reader's words, to its precision: '2024', 'Q2 2026', 'October 2024',
        '10 October 2024' ('2º trimestre 2026', 'ottobre 2024', '10 ottobre 2024')."""
        if self.precision is Precision.QUARTER:
            return quarter_words(self.year, self.quarter)
        if self.precision is Precision.MONTH:
            return month_words(self.year, self.month)
        if self.precision is Precision.DAY:
            return day_words(date(self.year, self.month, self.day))
        return str(self.year)


def parse_value(field_name: str, raw: str) -> str:
    """Check a raw value against its field and return the canonical text to store.

    Raises ValueError with one sentence saying what was wrong and what would be accepted.
    """
    spec = FIELDS.get(field_name)
    if spec is None:
        raise ValueError(
            tr(
                "There is no field '{name}'; use one of: {fields}.",
                name=one_line(field_name, 40),
                fields=", ".join(FIELDS),
            )
        )
    value = " ".join(raw.split()) if spec.kind is not Kind.TEXT else raw.strip()
    if not value:
        raise ValueError(tr("The value for {field} is empty; write what the source says.", field=spec.label))
    if len(value) > spec.limit:
        raise ValueError(
            tr(
                "The value for {field} is {length} characters; the limit is {limit}.",
                field=spec.label,
                length=len(value),
                limit=spec.limit,
            )
        )
    if spec.kind is Kind.DATE:
        return str(ReleaseDate.parse(value))
    if spec.kind is Kind.STATUS:
        status = normalize(value)
        if status not in STATUSES:
            raise ValueError(
                tr(
                    "'{value}' is not a status; use one of: {statuses}.",
                    value=value,
                    statuses=", ".join(STATUSES),
                )
            )
        return status
    if spec.kind is Kind.NUMBER:
        if not value.isdigit() or int(value) > 9999:
            raise ValueError(tr("{field} takes a whole number such as 6.", field=spec.label))
        return str(int(value))
    if spec.kind is Kind.URL and not _is_https_link(value):
        raise ValueError(
            tr(
                "{field} takes a web link that starts with https://, like https://www.youtube.com/watch?v=…; "
                "no other kind of address (http:, javascript:, ftp:…).",
                field=spec.label,
            )
        )
    return value


def _is_https_link(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() == "https" and bool(parts.hostname) and not any(c.isspace() for c in value)
