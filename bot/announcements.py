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
    Entry,
    Fact,
    Precision,
    ReleaseDate,
    confidence_mark,
    field_label,
    split_person,
)
from bot.i18n import N_, tr, trn
from bot.render import (
    RELEASED_STATUSES,
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
            tr("Give the days before a premiere to post on, like 30,14,7,3,1,0 (0 is the premiere day).")
        )
    if not all(p.isdigit() for p in parts):
        raise InputError(tr("Milestones are whole numbers of days separated by commas, like 30,14,7,3,1,0."))
    days = sorted({int(p) for p in parts}, reverse=True)
    if days[0] > MILESTONE_DAYS_MAX:
        raise InputError(
            tr("A milestone can be at most {days} days before the premiere.", days=MILESTONE_DAYS_MAX)
        )
    if len(days) > MILESTONES_MAX:
        raise InputError(
            tr("That is {count} milestones; the limit is {limit}.", count=len(days), limit=MILESTONES_MAX)
        )
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


PREMIERED = -1  # days_left for the premiere-day post sent after the premiere began, that same day

# How far off a premiere is, alone and as a countdown's title, for what days_left says (other counts:
# the plural sentences in countdown_words and countdown_title).
_WORDS = {
    PREMIERED: N_("premiered today"),
    0: N_("premieres today"),
    1: N_("premieres tomorrow"),
}
_TITLES = {
    PREMIERED: N_("{title} premiered today"),
    0: N_("{title} premieres today"),
    1: N_("{title} premieres tomorrow"),
}


def days_left(premiere: Premiere, now: datetime, zone: ZoneInfo, *, on_the_day: bool = False) -> int | None:
    """How far off the premiere is at `now` (when the post is sent, not when it was planned) in the
    server's `zone`: the calendar days left there (0 on its local day).

    None once the premiere has passed (its instant, or, for a date alone, its whole day there): a
    countdown that would go out after it says nothing true. Only the premiere-day post (`on_the_day`,
    the 0-day milestone) still goes out later on that day, as PREMIERED ("premiered today"), so a
    premiere at 05:30 still gets its post at 09:00, and a post held up a minute behind a rate limit is
    kept."""
    today, day = now.astimezone(zone).date(), premiere.day_in(zone)
    passed = premiere.moment < now if premiere.moment else day < today
    if passed:
        return PREMIERED if on_the_day and day == today else None
    return (day - today).days


def countdown_words(
    premiere: Premiere, now: datetime, zone: ZoneInfo, *, on_the_day: bool = False
) -> str | None:
    """How far off the premiere is, in words (see days_left): "premieres today", "premieres tomorrow",
    "premieres in N days", "premiered today"; None once it has passed."""
    left = days_left(premiere, now, zone, on_the_day=on_the_day)
    if left is None:
        return None
    if left in _WORDS:
        return tr(_WORDS[left])
    return trn("premieres in {count} day", "premieres in {count} days", left)


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
    after it for a date not confirmed; None if nothing true is left to say (see days_left). One whole
    sentence per case, so that each language says it in its own order."""
    left = days_left(premiere, now, zone, on_the_day=on_the_day)
    if left is None:
        return None
    said = (
        tr(_TITLES[left], title=title)
        if left in _TITLES
        else trn("{title} premieres in {count} day", "{title} premieres in {count} days", left, title=title)
    )
    return marked(said, confidence, Style.TEXT)  # titles: no markdown


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
                CardField(field_label(name), f"{safe(fact.value, Style.DISCORD)} {sources.cite(fact)}", True)
            )
    cast = by_field.get("cast", [])[:4]
    if cast:
        names = ", ".join(f"{safe(split_person(f.value)[0], Style.DISCORD)} {sources.cite(f)}" for f in cast)
        fields.append(CardField(tr("Starring"), names, False))
    cite = f" {sources.cite(dated[0])}" if dated else ""
    stamp, style = int(premiere.shown_at(zone).timestamp()), "F" if premiere.moment else "D"
    premiere_line = tr("Premiere: {when}", when=f"<t:{stamp}:{style}> (<t:{stamp}:R>)") + cite
    description = f"{premiere_line}\n{tr(EVERYTHING_KNOWN, command=mention)}"
    return fit(Card(title, description, tuple(fields), sources.footer()))


EVERYTHING_KNOWN = N_("Everything known: {command}")  # the last line of every post

# A change of confidence alone, for (now, before): "— now confirmed (was reported)".
_RECONSIDERED = {
    (CONFIRMED, "reported"): N_("{field}: {value} — now confirmed (was reported)"),
    (CONFIRMED, "rumour"): N_("{field}: {value} — now confirmed (was a rumour)"),
    ("reported", CONFIRMED): N_("{field}: {value} — now reported, not confirmed (was confirmed)"),
    ("reported", "rumour"): N_("{field}: {value} — now reported, not confirmed (was a rumour)"),
    ("rumour", CONFIRMED): N_("{field}: {value} — now rumour, not confirmed (was confirmed)"),
    ("rumour", "reported"): N_("{field}: {value} — now rumour, not confirmed (was reported)"),
}
# An update's headline for a premiere now known to the day, by how sure the new date is.
_DATED = {
    CONFIRMED: N_("Premiere date confirmed: {title}"),
    "reported": N_("Premiere date reported: {title}"),
    "rumour": N_("Premiere date rumoured: {title}"),
}
_REDATED = {
    CONFIRMED: N_("Premiere moved: {title}"),
    "reported": N_("New premiere date reported: {title}"),
    "rumour": N_("New premiere date rumoured: {title}"),
}


def change_line(
    change: dict[str, Any], now: datetime, hide_spoilers: bool, style: Style = Style.DISCORD
) -> str:
    """One change, old → new; a value not confirmed is marked, and a change of confidence alone says so.
    Batches from before confidences were recorded have neither key: all their values were confirmed.
    The values of a spoiler (either of them) are hidden while `hide_spoilers`: behind Discord's markers,
    or in plain text (the web's feed, which readers keep) not shown at all.

    In plain text a premiere is its date alone: a feed item is read long after it was written, when
    "in 3 days" would no longer be true."""
    field = change["field"]
    label = tr("Title") if field == "_entry" else field_label(field)

    def shown(value: str | None, confidence: str = CONFIRMED) -> str:
        if value is None:
            return "—"
        if hide_spoilers and change.get("spoiler"):
            if style is Style.TEXT:
                return tr("(a spoiler, not shown here)")
            text = hidden_text(value_text(field, value, now, style), style)
        else:
            text = value_text(field, value, now, style)
        return marked(text, confidence, style)

    old, new = change["old"], change["new"]
    confidence = change.get("confidence") or CONFIRMED
    old_confidence = change.get("old_confidence") or confidence
    name = f"**{label}**" if style is Style.DISCORD else label
    if old is None:
        text = tr("{field}: added {value}", field=name, value=shown(new, confidence))
    elif new is None:
        text = tr("{field}: removed {value}", field=name, value=shown(old, old_confidence))
    elif old == new and (confidence, old_confidence) in _RECONSIDERED:
        text = tr(_RECONSIDERED[confidence, old_confidence], field=name, value=shown(new))
    else:
        text = tr(
            "{field}: {old} → {new}",
            field=name,
            old=shown(old, old_confidence),
            new=shown(new, confidence),
        )
    if change.get("source"):
        text += f" ({source_label(change['source'])}, {change.get('source_date', '')})"
    return text


def value_text(field: str, value: str, now: datetime, style: Style) -> str:
    """A value of a change as the update post says it; in plain text a premiere known to the day is the
    day alone (no "in 3 days", which a feed item would keep saying)."""
    if field != "premiere":
        return safe(value, style)
    if style is Style.TEXT:
        try:
            when = ReleaseDate.parse(value)
        except ValueError:
            return value
        if when.moment() is not None:
            return when.label()
    return premiere_text(value, None, now, style)


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
        if confidence not in _DATED:  # not a confidence the canon knows: said as a confirmed one
            confidence = CONFIRMED
        if old.precision is not Precision.DAY:
            return tr(_DATED[confidence], title=title)
        if old != new:
            return tr(_REDATED[confidence], title=title)
        if confidence == CONFIRMED and (change.get("old_confidence") or CONFIRMED) != CONFIRMED:
            return tr(_DATED[CONFIRMED], title=title)
    return tr("{title}: what changed", title=title)


def update_card(
    entry: Entry,
    changes: Sequence[dict[str, Any]],
    now: datetime,
    mention: str,
    *,
    hide_spoilers: bool = True,
) -> Card:
    """One post per entry per batch: every change, old → new, with its source."""
    lines = [change_line(change, now, hide_spoilers) for change in changes]
    description = "\n".join(lines) + "\n\n" + tr(EVERYTHING_KNOWN, command=mention)
    return fit(Card(update_title(entry.title, changes), description))


def _when(value: str, status: str | None, now: datetime, default_time: time) -> tuple[datetime | None, str]:
    """(the instant if known to the day, how to say it) for one premiere."""
    moment = premiere_moment(value, default_time)
    if moment is None:
        return None, premiere_text(value, status, now, Style.DISCORD)
    stamp = int(moment.timestamp())
    when = f"<t:{stamp}:F> (<t:{stamp}:R>)"
    return moment, tr("premieres {when}", when=when) if moment > now else tr("premiered {when}", when=when)


def countdown_entry(entry: Entry, facts: Sequence[Fact], now: datetime, default_time: time) -> Card:
    """/citadel countdown entry: the premiere as a timestamp, or as much of it as is known."""
    premiere = next((f for f in facts if f.field == "premiere"), None)
    if premiere is None:
        return Card(entry.title, tr("No premiere date is known yet."))
    status = confirmed_status(facts)  # a release only reported does not settle a past window
    sources = SourceIndex()
    moment, said = _when(premiere.value, status, now, default_time)
    if moment is None:
        said = tr("Premiere: {when}", when=said)
    mark = confidence_mark(premiere.confidence)
    if mark and not _expected(premiere.value, status, now):  # "expected Q2 2026, not confirmed" says it
        said += f" _({mark})_"
    return fit(Card(entry.title, f"{said} {sources.cite(premiere)}", (), sources.footer()))


def _expected(value: str, status: str | None, now: datetime) -> bool:
    """Whether premiere_text says the premiere as "expected Q2 2026, not confirmed" (a window that has
    passed with no confirmed release): it says "not confirmed" itself, in the reader's language."""
    try:
        when = ReleaseDate.parse(value)
    except ValueError:
        return False
    return when.moment() is None and when.has_passed(now.date()) and status not in RELEASED_STATUSES


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
            tr("Upcoming premieres"),
            tr("No premiere is ahead right now. `/citadel show` has every entry's history."),
        )
    ahead.sort()
    fields = tuple(CardField(title, said) for _, title, said in ahead)
    return fit(Card(tr("Upcoming premieres"), "", fields))
