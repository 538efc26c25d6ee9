"""What each page of the public site shows, as plain data for its template: the same facts, order,
confidence marks, notes and spoilers as `/citadel <entry>` (bot/render.py `entry_sections`), and the same
search. Nothing here writes, and nothing here is HTML: the templates escape every value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.announcements import value_text
from bot.facts import (
    CONFIRMED,
    FIELDS,
    Entry,
    Fact,
    Kind,
    Precision,
    ReleaseDate,
    confidence_mark,
    field_label,
)
from bot.i18n import N_, day_words, tr
from bot.render import (
    NOT_RELEASED,
    SourceIndex,
    Style,
    action_words,
    confirmed_status,
    cut,
    entry_sections,
    fact_text,
    premiere_text,
    revision_field,
    source_label,
)
from bot.store import SearchHit
from bot.store.revisions import Revision

HISTORY_PAGE = 50  # revisions per page of an entry's history, newest first (a page stays under 50 KB)
HISTORY_VALUE = 200  # characters of each value a revision shows, as /fact history shows them

# Why a premiere is not in the calendar, by how precisely it is known.
NOT_IN_CALENDAR = {
    Precision.YEAR: N_("Not in the calendar: the premiere is known only to the year."),
    Precision.QUARTER: N_("Not in the calendar: the premiere is known only to the quarter."),
    Precision.MONTH: N_("Not in the calendar: the premiere is known only to the month."),
}


def web_link(url: str) -> str | None:
    """`url` if a visitor may follow it (http or https, no spaces), else None: a source is a link only
    then, and never javascript: or data:."""
    if url.startswith(("https://", "http://")) and not any(c.isspace() for c in url):
        return url
    return None


@dataclass(frozen=True)
class FactView:
    text: str  # the value as its field reads, in plain text
    url: str | None  # a link to follow (the trailer)
    mark: str  # "reported, not confirmed"; empty when confirmed
    source: int  # the number of its source in the page's list
    note: str
    hidden: bool  # a spoiler still hidden: shown on a click


@dataclass(frozen=True)
class SectionView:
    name: str  # the field's name, for the page's anchors
    label: str
    facts: tuple[FactView, ...]
    empty: str = ""  # said when there are no facts: "not released yet"


@dataclass(frozen=True)
class SourceView:
    number: int
    label: str
    url: str | None
    date: str


@dataclass(frozen=True)
class EntryPage:
    entry: Entry
    plot: SectionView | None
    sections: tuple[SectionView, ...]
    sources: tuple[SourceView, ...]
    calendar_note: str  # why its premiere is not in the calendar; empty when it is, or there is none
    nothing_known: bool


def entry_page(entry: Entry, facts: Sequence[Fact], now: datetime, hide_spoilers: bool) -> EntryPage:
    """Everything `/citadel <entry>` shows, as the page lays it out."""
    sections = entry_sections(facts, now)
    sources = SourceIndex()
    views: list[SectionView] = []
    for section in sections.fields:
        shown = tuple(_fact_view(f, sections.status, now, sources, hide_spoilers) for f in section.facts)
        empty = "" if shown else tr(NOT_RELEASED)
        views.append(SectionView(section.spec.name, section.label, shown, empty))
    plot = views.pop(0) if views and views[0].name == "plot" else None
    return EntryPage(
        entry,
        plot,
        tuple(views),
        tuple(SourceView(n, source_label(src), web_link(src), when) for n, src, when in sources.listed()),
        calendar_note(facts),
        not views and plot is None,
    )


def _fact_view(
    fact: Fact, status: str | None, now: datetime, sources: SourceIndex, hide_spoilers: bool
) -> FactView:
    if FIELDS[fact.field].kind is Kind.URL:
        text, url = tr("Watch the trailer"), web_link(fact.value)
    else:
        text, url = fact_text(fact, status, now, Style.TEXT), None
    return FactView(
        text,
        url,
        confidence_mark(fact.confidence),
        sources.number(fact),
        fact.note,
        fact.spoiler and hide_spoilers,
    )


def calendar_note(facts: Sequence[Fact]) -> str:
    premiere = next((f for f in facts if f.field == "premiere"), None)
    if premiere is None:
        return ""
    try:
        precision = ReleaseDate.parse(premiere.value).precision
    except ValueError:
        return ""
    return tr(NOT_IN_CALENDAR[precision]) if precision in NOT_IN_CALENDAR else ""


@dataclass(frozen=True)
class IndexRow:
    entry: Entry
    status: str  # in words, with its mark when not confirmed; empty when unknown
    premiere: str  # as the answers say it; empty when unknown


def index_row(entry: Entry, facts: Sequence[Fact], now: datetime) -> IndexRow:
    status = next((f for f in facts if f.field == "status"), None)
    premiere = next((f for f in facts if f.field == "premiere"), None)
    confirmed = confirmed_status(facts)

    def said(fact: Fact | None, text: str) -> str:
        if fact is None:
            return ""
        mark = confidence_mark(fact.confidence)
        return f"{text} ({mark})" if mark else text

    return IndexRow(
        entry,
        said(status, fact_text(status, confirmed, now, Style.TEXT) if status else ""),
        said(premiere, premiere_text(premiere.value, confirmed, now, Style.TEXT) if premiere else ""),
    )


@dataclass(frozen=True)
class HitView:
    entry_slug: str
    entry_title: str
    field: str
    text: str
    mark: str
    source: str
    source_url: str | None
    date: str
    hidden: bool  # a spoiler: search always hides it behind a click, as /citadel search does


def hit_views(hits: Sequence[SearchHit]) -> list[HitView]:
    return [
        HitView(
            hit.entry_slug,
            hit.entry_title,
            field_label(hit.field),
            hit.value,
            confidence_mark(hit.confidence),
            source_label(hit.source),
            web_link(hit.source),
            hit.source_date,
            hit.spoiler,
        )
        for hit in hits
    ]


@dataclass(frozen=True)
class RevisionView:
    id: int
    day: str  # the day in the reader's words
    at: str  # ISO 8601, for <time datetime>
    action: str
    field: str
    old: str
    new: str
    source: str
    who: str
    reason: str
    hidden: bool  # either value is a spoiler still hidden


# Who made a change, as the public page says it: the canon and the watcher by name, a moderator not.
MODERATOR = N_("a moderator")


def who_said(who: str) -> str:
    """The canon and the watcher by name; a moderator stays unnamed on a public page (revisions hold
    their Discord name and id, which moderators see in /fact history)."""
    return who if who in ("canon", "watcher") or who.startswith("watcher") else tr(MODERATOR)


def revision_view(revision: Revision, now: datetime, hide_spoilers: bool) -> RevisionView:
    def value(content: dict[str, Any] | None) -> str:
        if content is None:
            return "—"
        text = str(content.get("value") or content.get("title") or "")
        return cut(value_text(revision.field, text, now, Style.TEXT), HISTORY_VALUE)

    latest = revision.new or revision.old or {}
    source = str(latest.get("source") or "")
    spoiler = any(bool(c.get("spoiler")) for c in (revision.old, revision.new) if c is not None)
    moment = datetime.fromisoformat(revision.at)
    confidence = str(latest.get("confidence") or CONFIRMED) if "title" not in latest else CONFIRMED
    new = value(revision.new)
    if revision.new is not None and (mark := confidence_mark(confidence)):
        new = f"{new} ({mark})"
    return RevisionView(
        revision.id,
        day_words(moment.date()),
        revision.at,
        action_words(revision.action),
        revision_field(revision),
        value(revision.old),
        new,
        f"{source_label(source)}, {latest.get('source_date', '')}" if source else "",
        who_said(revision.who),
        revision.reason,
        spoiler and hide_spoilers,
    )
