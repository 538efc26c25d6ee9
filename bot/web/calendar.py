"""The premiere calendar (RFC 5545), made with `icalendar`: one all-day event per premiere known to the
day, followed through the entry's history, so that a calendar app subscribed to it sees a moved date
move and a withdrawn one cancelled.

An event is derived from the revisions of the entry's premiere (and of the entry itself), oldest first:

- it begins when the premiere is first known to the day; its UID never changes (one per entry: an entry
  has one premiere);
- whenever what a calendar shows of it changes (the day, withdrawn or back, how sure it is), SEQUENCE
  goes up by one and LAST-MODIFIED/DTSTAMP take the time of that revision;
- it is CANCELLED when the premiere is removed, becomes less precise than a day (a moved-back "Q3 2027"
  is not a day to keep free), or the entry is removed; its last day stays as DTSTART;
- a premiere only reported or rumoured is TENTATIVE; a confirmed one CONFIRMED.

Nothing is stored for it: the same history always gives the same calendar, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from icalendar import Calendar, Event

from bot.facts import CONFIRMED, Precision, ReleaseDate, confidence_mark
from bot.i18n import tr
from bot.render import source_label
from bot.store.revisions import ENTRY_FIELD, Revision

UID_DOMAIN = "citadel-bot"
REFRESH = timedelta(hours=6)  # how often calendar apps are asked to look again (PT6H)
_STATUS = {CONFIRMED: "CONFIRMED"}  # anything less sure is TENTATIVE


@dataclass(frozen=True)
class PremiereEvent:
    slug: str
    title: str  # as the entry's own revisions last named it (the slug if they never did)
    day: date
    sequence: int
    cancelled: bool
    confidence: str
    source: str
    source_date: str
    created: datetime
    modified: datetime

    @property
    def uid(self) -> str:
        return f"{self.slug}-premiere@{UID_DOMAIN}"

    def shown(self) -> tuple[date, bool, str]:
        """What a calendar app shows of it: a change here is a new SEQUENCE."""
        return self.day, self.cancelled, _STATUS.get(self.confidence, "TENTATIVE")


def _day(content: dict[str, object] | None) -> date | None:
    if content is None:
        return None
    try:
        when = ReleaseDate.parse(str(content.get("value") or ""))
    except ValueError:
        return None
    return date(when.year, when.month, when.day) if when.precision is Precision.DAY else None


def premiere_events(revisions: Sequence[Revision]) -> list[PremiereEvent]:
    """The events of these revisions (the premiere's and the entries' own, oldest first), by the rules
    in this module's docstring; in order of their entries' first day-precise premiere."""
    events: dict[str, PremiereEvent] = {}
    titles: dict[str, str] = {}
    removed: dict[str, bool] = {}
    premiere: dict[str, dict[str, object] | None] = {}
    for revision in revisions:
        slug = revision.entry_slug
        if revision.field == ENTRY_FIELD:
            removed[slug] = revision.new is None
            titles[slug] = str((revision.new or revision.old or {}).get("title") or slug)
        else:
            premiere[slug] = revision.new
        content = premiere.get(slug)
        day = _day(content)
        at = datetime.fromisoformat(revision.at)
        gone = day is None or removed.get(slug, False)
        said = (
            (str(content.get("confidence") or CONFIRMED), str(content.get("source") or ""),
             str(content.get("source_date") or ""))
            if content else None
        )  # fmt: skip
        event = events.get(slug)
        if event is None:  # it begins when the premiere is first known to the day
            if not gone and said is not None and day is not None:
                title = titles.get(slug, slug)
                events[slug] = PremiereEvent(slug, title, day, 0, False, *said, created=at, modified=at)
            continue
        latest = replace(event, title=titles.get(slug, event.title), day=day or event.day, cancelled=gone)
        if said is not None:
            latest = replace(latest, confidence=said[0], source=said[1], source_date=said[2])
        if latest.shown() != event.shown():
            latest = replace(latest, sequence=event.sequence + 1, modified=at)
        elif latest != event:  # only its source: the description changed, not what a calendar shows
            latest = replace(latest, modified=at)
        events[slug] = latest
    return list(events.values())


def calendar(
    events: Sequence[PremiereEvent], titles: Mapping[str, str], name: str, page: Mapping[str, str]
) -> bytes:
    """The calendar of `events`: `titles` names their entries (a removed one keeps the title its
    revisions last gave it), `page` gives each entry's web page."""
    cal = Calendar()
    cal.add("prodid", "-//citadel-bot//Citadel premieres//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT6H")  # Outlook's name for REFRESH-INTERVAL
    for event in events:
        title = titles.get(event.slug, event.title)
        item = Event()
        item.add("uid", event.uid)
        item.add("dtstamp", event.modified)
        item.add("created", event.created)
        item.add("last-modified", event.modified)
        item.add("sequence", event.sequence)
        item.add("dtstart", event.day)
        item.add("dtend", event.day + timedelta(days=1))
        item.add("transp", "TRANSPARENT")
        item.add("summary", tr("{title}: premiere", title=title))
        item.add("status", "CANCELLED" if event.cancelled else _STATUS.get(event.confidence, "TENTATIVE"))
        lines = []
        if mark := confidence_mark(event.confidence):
            lines.append(mark)
        if event.source:
            lines.append(
                tr("Source: {source}, {date}", source=source_label(event.source), date=event.source_date)
            )
        if event.slug in page:
            item.add("url", page[event.slug])
            lines.append(page[event.slug])
        if lines:
            item.add("description", "\n".join(lines))
        cal.add_component(item)
    return bytes(cal.to_ical())
