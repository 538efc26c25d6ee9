"""Pure announcement logic: milestone arithmetic, and the countdown and update posts as Cards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import InputError
from bot.facts import (
    CONFIRMED,
    FIELDS,
    Entry,
    Fact,
    Precision,
    ReleaseDate,
    confidence_mark,
    field_label,
    split_person,
)
from bot.render import (
    Card,
    CardField,
    SourceIndex,
    Style,
    confirmed_status,
    fit,
    hidden_text,
    marked,
    premiere_text,
    safe,
    source_label,
)
from bot.zones import PostingTime, wall_clock_instant

MILESTONES_MAX = 10
MILESTONE_DAYS_MAX = 365


def parse_milestones(text: str) -> tuple[int, ...]:
    """'30, 14, 7, 3, 1, 0' -> (30, 14, 7, 3, 1, 0): days before the premiere; 0 is the day itself."""
    parts = [p.strip() for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        raise InputError(
            "Give the days before a premiere to post on, like 30,14,7,3,1,0 (0 is the premiere day)."
        )
    if not all(p.isdigit() for p in parts):
        raise InputError("Milestones are whole numbers of days separated by commas, like 30,14,7,3,1,0.")
    days = sorted({int(p) for p in parts}, reverse=True)
    if days[0] > MILESTONE_DAYS_MAX:
        raise InputError(f"A milestone can be at most {MILESTONE_DAYS_MAX} days before the premiere.")
    if len(days) > MILESTONES_MAX:
        raise InputError(f"That is {len(days)} milestones; the limit is {MILESTONES_MAX}.")
    return tuple(days)


@dataclass(frozen=True)
class Premiere:
    """A premiere known to the day: the date the canon gives and, when it also gives a time (with its
    offset), the exact instant."""

    day: date
    moment: datetime | None = None

    @classmethod
    def read(cls, value: str) -> Premiere | None:
        """The premiere a stored value names, if it is known to the day; None otherwise."""
        try:
            when = ReleaseDate.parse(value)
        except ValueError:
            return None
        if when.precision is not Precision.DAY:
            return None
        return cls(date(when.year, when.month, when.day), when.moment() if when.at else None)

    def day_in(self, zone: ZoneInfo) -> date:
        """Its date where a server is: the local date there of a known instant (a premiere at 00:00 UTC
        is on the evening before in Mexico City); else the date itself, as a calendar date there."""
        return self.moment.astimezone(zone).date() if self.moment else self.day

    def shown_at(self, zone: ZoneInfo) -> datetime:
        """The instant a server's posts show for it: its own, else the start of its day in the zone."""
        return self.moment or wall_clock_instant(self.day, 0, zone)


def premiere_moment(value: str, default_time: time) -> datetime | None:
    """The instant of a premiere known to the day (its own time, else `default_time` in UTC); None
    otherwise. For what is not a server's countdown: /citadel countdown and the scheduled events."""
    premiere = Premiere.read(value)
    if premiere is None:
        return None
    return premiere.moment or datetime.combine(premiere.day, default_time).astimezone(UTC)


def milestone_times(
    premiere: Premiere, milestones: Iterable[int], posting: PostingTime
) -> dict[int, datetime]:
    """When each milestone falls due for a server: the N-day milestone of a premiere on local date D is
    at `posting.hour`:00 on D - N days in the server's zone (see wall_clock_instant for DST days)."""
    zone = posting.zone
    day = premiere.day_in(zone)
    return {m: wall_clock_instant(day - timedelta(days=m), posting.hour, zone) for m in milestones}


def due_milestone(times: Mapping[int, datetime], now: datetime) -> int | None:
    """The one milestone to post now, if any, of those falling due at `times` (see milestone_times): the
    latest that has passed, and only while it is fresher than its own length (a 7-day milestone missed
    by 2 days still posts, saying "in 5 days"; a 1-day one missed by 2 does not; the premiere day's
    post is good for a day). Which servers it is for (those whose countdown had started by its time) is
    the scheduler's business."""
    passed = [m for m, at in times.items() if at <= now]
    if not passed:
        return None
    latest = min(passed)
    late = now - times[latest]
    return latest if late < timedelta(days=max(latest, 1)) else None


def upcoming_milestones(times: Mapping[int, datetime], now: datetime) -> list[tuple[datetime, int]]:
    """(when, days) of the milestones still ahead, soonest first."""
    return sorted((at, m) for m, at in times.items() if at > now)


def command_mention(slug: str, command_id: int | None) -> str:
    """A clickable `/citadel <slug>` once the command's id is known, else the command as text."""
    return f"</citadel {slug}:{command_id}>" if command_id else f"`/citadel {slug}`"


def countdown_words(
    premiere: Premiere, now: datetime, zone: ZoneInfo, *, on_the_day: bool = False
) -> str | None:
    """How far off the premiere is, said at `now` (when the post is sent, not when it was planned) in the
    server's `zone`: "premieres today" on its local day, "premieres tomorrow" on the day before, else
    "premieres in N days", N being calendar days there.

    None once the premiere has passed (its instant, or, for a date alone, its whole day there): a
    countdown that would go out after it says nothing true. Only the premiere-day post (`on_the_day`,
    the 0-day milestone) still goes out later on that day, as "premiered today", so a premiere at 05:30
    still gets its post at 09:00, and a post held up a minute behind a rate limit is kept."""
    today, day = now.astimezone(zone).date(), premiere.day_in(zone)
    passed = premiere.moment < now if premiere.moment else day < today
    if passed:
        return "premiered today" if on_the_day and day == today else None
    left = (day - today).days
    if left == 0:
        return "premieres today"
    if left == 1:
        return "premieres tomorrow"
    return f"premieres in {left} days"


def countdown_title(
    title: str,
    premiere: Premiere,
    now: datetime,
    zone: ZoneInfo,
    confidence: str = CONFIRMED,
    *,
    on_the_day: bool = False,
) -> str | None:
    """A countdown's title, like "Citadel: Diana premieres in 5 days", and "(reported, not confirmed)"
    after it for a date not confirmed; None if nothing true is left to say (see countdown_words)."""
    words = countdown_words(premiere, now, zone, on_the_day=on_the_day)
    return (
        None if words is None else marked(f"{title} {words}", confidence, Style.TEXT)
    )  # titles: no markdown


def countdown_card(
    entry: Entry,
    facts: Sequence[Fact],
    premiere: Premiere,
    now: datetime,
    zone: ZoneInfo,
    mention: str,
    *,
    on_the_day: bool = False,
) -> Card | None:
    """A milestone post as it reads at `now` in a server in `zone`: how far off the premiere is, the
    premiere as a timestamp every reader sees in their own zone (its date alone when no time is known,
    and relative, which Discord keeps current), and key facts. None if the premiere has passed (see
    countdown_words)."""
    sources = SourceIndex()
    by_field: dict[str, list[Fact]] = {}
    for fact in sorted(facts, key=lambda f: f.position):
        by_field.setdefault(fact.field, []).append(fact)
    dated = by_field.get("premiere", [])
    confidence = dated[0].confidence if dated else CONFIRMED
    title = countdown_title(entry.title, premiere, now, zone, confidence, on_the_day=on_the_day)
    if title is None:
        return None
    fields = []
    for name in ("network", "episodes", "schedule"):
        for fact in by_field.get(name, [])[:1]:
            fields.append(
                CardField(FIELDS[name].label, f"{safe(fact.value, Style.DISCORD)} {sources.cite(fact)}", True)
            )
    cast = by_field.get("cast", [])[:4]
    if cast:
        names = ", ".join(f"{safe(split_person(f.value)[0], Style.DISCORD)} {sources.cite(f)}" for f in cast)
        fields.append(CardField("Starring", names, False))
    cite = f" {sources.cite(dated[0])}" if dated else ""
    stamp, style = int(premiere.shown_at(zone).timestamp()), "F" if premiere.moment else "D"
    description = f"Premiere: <t:{stamp}:{style}> (<t:{stamp}:R>){cite}\nEverything known: {mention}"
    return fit(Card(title, description, tuple(fields), sources.footer()))


_SAID = {CONFIRMED: "confirmed", "reported": "reported", "rumour": "rumoured"}


def _change_line(change: dict[str, Any], now: datetime, hide_spoilers: bool) -> str:
    """One change, old → new; a value not confirmed is marked, and a change of confidence alone says so.
    Batches from before confidences were recorded have neither key: all their values were confirmed.
    The values of a spoiler (either of them) are hidden while `hide_spoilers`."""
    field = change["field"]
    label = "Title" if field == "_entry" else field_label(field)

    def shown(value: str | None, confidence: str = CONFIRMED) -> str:
        if value is None:
            return "—"
        text = (
            premiere_text(value, None, now, Style.DISCORD)
            if field == "premiere"
            else safe(value, Style.DISCORD)
        )
        if hide_spoilers and change.get("spoiler"):
            text = hidden_text(text, Style.DISCORD)
        return marked(text, confidence, Style.DISCORD)

    old, new = change["old"], change["new"]
    confidence = change.get("confidence") or CONFIRMED
    old_confidence = change.get("old_confidence") or confidence
    if old is None:
        text = f"**{label}**: added {shown(new, confidence)}"
    elif new is None:
        text = f"**{label}**: removed {shown(old, old_confidence)}"
    elif old == new and old_confidence != confidence:
        now_said = confidence_mark(confidence) or "confirmed"
        was = "a rumour" if old_confidence == "rumour" else old_confidence
        text = f"**{label}**: {shown(new)} — now {now_said} (was {was})"
    else:
        text = f"**{label}**: {shown(old, old_confidence)} → {shown(new, confidence)}"
    if change.get("source"):
        text += f" ({source_label(change['source'])}, {change.get('source_date', '')})"
    return text


def update_title(title: str, changes: Sequence[dict[str, Any]]) -> str:
    """'Premiere date confirmed' for a premiere now known to the day (or a known day now confirmed),
    'Premiere moved' for a new day; a date that is only reported or rumoured is not called confirmed."""
    for change in changes:
        if change["field"] != "premiere" or not change["old"] or not change["new"]:
            continue
        try:
            old, new = ReleaseDate.parse(change["old"]), ReleaseDate.parse(change["new"])
        except ValueError:
            continue
        if new.precision is not Precision.DAY:
            continue
        confidence = change.get("confidence") or CONFIRMED
        said = _SAID.get(confidence, confidence)
        if old.precision is not Precision.DAY:
            return f"Premiere date {said}: {title}"
        if old != new:
            return (
                f"Premiere moved: {title}"
                if confidence == CONFIRMED
                else f"New premiere date {said}: {title}"
            )
        if confidence == CONFIRMED and (change.get("old_confidence") or CONFIRMED) != CONFIRMED:
            return f"Premiere date confirmed: {title}"
    return f"{title}: what changed"


def update_card(
    entry: Entry,
    changes: Sequence[dict[str, Any]],
    now: datetime,
    mention: str,
    *,
    hide_spoilers: bool = True,
) -> Card:
    """One post per entry per batch: every change, old → new, with its source."""
    lines = [_change_line(change, now, hide_spoilers) for change in changes]
    return fit(
        Card(update_title(entry.title, changes), "\n".join(lines) + f"\n\nEverything known: {mention}")
    )


def _when(value: str, status: str | None, now: datetime, default_time: time) -> tuple[datetime | None, str]:
    """(the instant if known to the day, how to say it) for one premiere."""
    moment = premiere_moment(value, default_time)
    if moment is None:
        return None, premiere_text(value, status, now, Style.DISCORD)
    stamp = int(moment.timestamp())
    verb = "premieres" if moment > now else "premiered"
    return moment, f"{verb} <t:{stamp}:F> (<t:{stamp}:R>)"


def countdown_entry(entry: Entry, facts: Sequence[Fact], now: datetime, default_time: time) -> Card:
    """/citadel countdown entry: the premiere as a timestamp, or as much of it as is known."""
    premiere = next((f for f in facts if f.field == "premiere"), None)
    if premiere is None:
        return Card(entry.title, "No premiere date is known yet.")
    status = confirmed_status(facts)  # a release only reported does not settle a past window
    sources = SourceIndex()
    _, said = _when(premiere.value, status, now, default_time)
    if premiere_moment(premiere.value, default_time) is None:
        said = f"Premiere: {said}"
    mark = confidence_mark(premiere.confidence)
    if mark and not said.endswith("not confirmed"):  # "expected Q2 2026, not confirmed" says it already
        said += f" _({mark})_"
    return fit(Card(entry.title, f"{said} {sources.cite(premiere)}", (), sources.footer()))


def countdown_overview(
    premieres: Sequence[tuple[str, str]], entries: Sequence[Entry], now: datetime, default_time: time
) -> Card:
    """/citadel countdown: every premiere still ahead (or whose window is still open), soonest first."""
    titles = {e.slug: e.title for e in entries}
    ahead: list[tuple[datetime, str, str]] = []
    for slug, value in premieres:
        try:
            when = ReleaseDate.parse(value)
        except ValueError:
            continue
        moment = premiere_moment(value, default_time)
        if (moment is not None and moment > now) or (moment is None and not when.has_passed(now.date())):
            start = moment or datetime.combine(when.window()[0], time(0), tzinfo=now.tzinfo)
            ahead.append((start, titles.get(slug, slug), _when(value, None, now, default_time)[1]))
    if not ahead:
        return Card(
            "Upcoming premieres", "No premiere is ahead right now. `/citadel show` has every entry's history."
        )
    ahead.sort()
    fields = tuple(CardField(title, said) for _, title, said in ahead)
    return fit(Card("Upcoming premieres", "", fields))
