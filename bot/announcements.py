"""Pure announcement logic: milestone arithmetic, and the countdown and update posts as Cards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from bot.errors import InputError
from bot.facts import FIELDS, Entry, Fact, Precision, ReleaseDate, field_label, split_person
from bot.render import Card, CardField, SourceIndex, Style, fit, premiere_text, safe, source_label

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


def premiere_moment(value: str, default_time: time) -> datetime | None:
    """The instant of a premiere known to the day (its own time, else `default_time` in UTC); None otherwise."""
    try:
        when = ReleaseDate.parse(value)
    except ValueError:
        return None
    if when.precision is not Precision.DAY:
        return None
    if when.at is None:
        when = ReleaseDate(when.year, when.precision, when.month, when.day, default_time)
    return when.moment()


def milestone_at(moment: datetime, days: int) -> datetime:
    return moment - timedelta(days=days)


def due_milestone(moment: datetime, milestones: Sequence[int], now: datetime) -> int | None:
    """The one milestone to post now, if any: the latest that has passed, and only while it is fresher
    than its own length (a 7-day milestone missed by 2 days still posts; a 1-day one missed by 2 does
    not; the premiere day's post is good for that day)."""
    passed = [m for m in milestones if milestone_at(moment, m) <= now]
    if not passed:
        return None
    latest = min(passed)
    late = now - milestone_at(moment, latest)
    return latest if late < timedelta(days=max(latest, 1)) else None


def upcoming_milestones(
    moment: datetime, milestones: Sequence[int], now: datetime
) -> list[tuple[datetime, int]]:
    """(when, days) of the milestones still ahead, soonest first."""
    return sorted((milestone_at(moment, m), m) for m in milestones if milestone_at(moment, m) > now)


def command_mention(slug: str, command_id: int | None) -> str:
    """A clickable `/citadel <slug>` once the command's id is known, else the command as text."""
    return f"</citadel {slug}:{command_id}>" if command_id else f"`/citadel {slug}`"


def countdown_title(title: str, days: int) -> str:
    if days == 0:
        return f"{title} premieres today"
    if days == 1:
        return f"{title} premieres tomorrow"
    return f"{title} premieres in {days} days"


def countdown_card(entry: Entry, facts: Sequence[Fact], days: int, moment: datetime, mention: str) -> Card:
    """A milestone post: the premiere as a timestamp every reader sees in their own zone, and key facts."""
    sources = SourceIndex()
    by_field: dict[str, list[Fact]] = {}
    for fact in sorted(facts, key=lambda f: f.position):
        by_field.setdefault(fact.field, []).append(fact)
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
    premiere = by_field.get("premiere", [])
    cite = f" {sources.cite(premiere[0])}" if premiere else ""
    stamp = int(moment.timestamp())
    description = f"Premiere: <t:{stamp}:F> (<t:{stamp}:R>){cite}\nEverything known: {mention}"
    return fit(Card(countdown_title(entry.title, days), description, tuple(fields), sources.footer()))


def _change_line(change: dict[str, Any], now: datetime) -> str:
    field = change["field"]
    label = "Title" if field == "_entry" else field_label(field)

    def shown(value: str | None) -> str:
        if value is None:
            return "—"
        if field == "premiere":
            return premiere_text(value, None, now, Style.DISCORD)
        return safe(value, Style.DISCORD)

    old, new = change["old"], change["new"]
    if old is None:
        text = f"**{label}**: added {shown(new)}"
    elif new is None:
        text = f"**{label}**: removed {shown(old)}"
    else:
        text = f"**{label}**: {shown(old)} → {shown(new)}"
    if change.get("source"):
        text += f" ({source_label(change['source'])}, {change.get('source_date', '')})"
    return text


def update_title(title: str, changes: Sequence[dict[str, Any]]) -> str:
    """'Premiere date confirmed' for a premiere now known to the day, 'Premiere moved' for a new day."""
    for change in changes:
        if change["field"] != "premiere" or not change["old"] or not change["new"]:
            continue
        try:
            old, new = ReleaseDate.parse(change["old"]), ReleaseDate.parse(change["new"])
        except ValueError:
            continue
        if new.precision is Precision.DAY and old.precision is not Precision.DAY:
            return f"Premiere date confirmed: {title}"
        if new.precision is Precision.DAY and old != new:
            return f"Premiere moved: {title}"
    return f"{title}: what changed"


def update_card(entry: Entry, changes: Sequence[dict[str, Any]], now: datetime, mention: str) -> Card:
    """One post per entry per batch: every change, old → new, with its source."""
    lines = [_change_line(change, now) for change in changes]
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
    status = next((f.value for f in facts if f.field == "status"), None)
    sources = SourceIndex()
    _, said = _when(premiere.value, status, now, default_time)
    if premiere_moment(premiere.value, default_time) is None:
        said = f"Premiere: {said}"
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
