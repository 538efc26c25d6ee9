"""Pure: members' DM reminders. Their default milestones, how milestones are said, when a member's next
DM is due, and the few sentences a member reads (the confirmation, the listing, the DM's own words)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

import discord

from bot.announcements import Premiere, milestone_times, premiere_moment, upcoming_milestones
from bot.facts import ReleaseDate
from bot.i18n import N_, listed, tr, trn
from bot.render import RELEASED_STATUSES, Style, premiere_text, safe
from bot.zones import DEFAULT_HOUR, DEFAULT_ZONE, PostingTime

# A week ahead to plan the watch, the eve, and the day itself. Three DMs per premiere, not the six
# server posts of DEFAULT_MILESTONES: a DM lands in a member's own inbox, so fewer and more useful.
DEFAULT_REMINDER_DAYS = (7, 1, 0)
# A member has no time zone the bot knows: their DMs go out at the servers' default posting time
# (09:00 UTC), each on its milestone's day there.
REMINDER_POSTING = PostingTime(DEFAULT_ZONE, DEFAULT_HOUR)
# Discord shows at most 25 buttons on a message (5 rows of 5): one Cancel button per reminder.
LISTED_MAX = 25


def days_said(days: int) -> str:
    """7 -> "7 days before", 1 -> "1 day before", 0 -> "on the day"."""
    if days == 0:
        return tr("on the day")
    return trn("{count} day before", "{count} days before", days)


def milestones_said(milestones: Sequence[int]) -> str:
    """[7, 1, 0] -> "7 days before, 1 day before and on the day"."""
    return listed([days_said(d) for d in milestones])


def has_premiered(premiere: str | None, status: str | None, now: datetime, default_time: time) -> bool:
    """Whether the premiere is behind us: its instant passed, or the whole period it names has and a
    confirmed status says it came out (a window that passed without a release is overdue, not out)."""
    if not premiere:
        return False
    moment = premiere_moment(premiere, default_time)
    if moment is not None:
        return moment <= now
    try:
        return ReleaseDate.parse(premiere).has_passed(now.date()) and status in RELEASED_STATUSES
    except ValueError:
        return False


def next_reminder(
    premiere: str | None, milestones: Sequence[int], since: datetime, now: datetime, default_time: time
) -> datetime | None:
    """When the member's next DM is due: the first of their milestones still ahead and after they asked;
    None if the premiere is not known to the day, or none is left."""
    dated = Premiere.read(premiere or "")
    if dated is None:
        return None
    ahead = upcoming_milestones(milestone_times(dated, milestones, REMINDER_POSTING), now)
    return next((when for when, _ in ahead if when >= since), None)


def _stamp(moment: datetime) -> str:
    return discord.utils.format_dt(moment, "F")


def confirmation(
    title: str,
    milestones: Sequence[int],
    premiere: str | None,
    status: str | None,
    now: datetime,
    default_time: time,
) -> str:
    """The one line that says what a member who just asked will get, and when (Discord timestamps)."""
    title = safe(title, Style.DISCORD)
    moment = premiere_moment(premiere or "", default_time)
    dated = Premiere.read(premiere or "")
    said = milestones_said(milestones)
    if not premiere:
        return tr("{title} has no premiere date yet: I'll DM you {milestones} once it has one.",
                  title=title, milestones=said)  # fmt: skip
    if moment is None or dated is None:
        return tr(
            "{title} has no premiere date to the day yet ({premiere}): I'll DM you {milestones} once it has one.",
            title=title, premiere=premiere_text(premiere, status, now, Style.DISCORD), milestones=said,
        )  # fmt: skip
    ahead = upcoming_milestones(milestone_times(dated, milestones, REMINDER_POSTING), now)
    if not ahead:
        return tr(
            "Every reminder you chose for {title} has passed (it premieres {when}); "
            "I'll DM you only if the date moves.",
            title=title,
            when=_stamp(moment),
        )
    times = listed([f"{days_said(d)} ({_stamp(when)})" for when, d in ahead])
    return tr("I'll DM you about {title} {times}.", title=title, times=times)


CLOSED_NOTE = N_(
    "Your DMs looked closed when I last tried to remind you, so your reminders stopped. They are on again "
    "now: open your DMs to me (Privacy Settings, Direct Messages) or they will stop again."
)


def listing_line(
    title: str,
    milestones: Sequence[int],
    premiere: str | None,
    status: str | None,
    since: datetime,
    now: datetime,
    default_time: time,
) -> str:
    """One reminder in /citadel following: the entry, the milestones, and the next DM or what it waits for."""
    title, said = f"**{safe(title, Style.DISCORD)}**", milestones_said(milestones)
    if premiere_moment(premiere or "", default_time) is None:
        if not premiere:
            return tr("{title}: {milestones}; waiting for a date.", title=title, milestones=said)
        return tr(
            "{title}: {milestones}; waiting for a date ({premiere}).",
            title=title, milestones=said, premiere=premiere_text(premiere, status, now, Style.DISCORD),
        )  # fmt: skip
    when = next_reminder(premiere, milestones, since, now, default_time)
    if when is None:
        return tr(
            "{title}: {milestones}; nothing left to send for this premiere.", title=title, milestones=said
        )
    return tr(
        "{title}: {milestones}; next DM {when} ({relative}).",
        title=title, milestones=said, when=_stamp(when), relative=discord.utils.format_dt(when, "R"),
    )  # fmt: skip


def dm_text(title: str) -> str:
    """The words above a reminder's countdown card."""
    return tr(
        "Your reminder for {title}, as you asked. `/citadel following` lists your reminders and cancels them.",
        title=safe(title, Style.DISCORD),
    )
