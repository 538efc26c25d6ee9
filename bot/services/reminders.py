"""Members' DM reminders: asking for one (/citadel remind), the member's list of them with what each
will send next (/citadel following), and cancelling one. The scheduler (bot/announcer.py) sends the DMs
and is poked after every change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

from bot.announcements import parse_milestones
from bot.clock import Clock
from bot.errors import NothingToRemind
from bot.facts import Entry, Fact
from bot.i18n import tr
from bot.reminders import (
    CLOSED_NOTE,
    DEFAULT_REMINDER_DAYS,
    LISTED_MAX,
    confirmation,
    has_premiered,
    listing_line,
)
from bot.render import Style, confirmed_status, premiere_text, safe
from bot.store import Store


@dataclass(frozen=True)
class ReminderList:
    """A member's reminders as /citadel following shows them: the text, and (slug, title) of each
    reminder that gets a Cancel button."""

    text: str
    cancellable: tuple[tuple[str, str], ...]


def _premiere(facts: list[Fact]) -> str | None:
    return next((f.value for f in facts if f.field == "premiere"), None)


class Reminders:
    def __init__(self, store: Store, clock: Clock, default_time: time, poke: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self.default_time = default_time
        self.poke = poke

    async def remind(self, user_id: int, entry: Entry, days: str | None, locale: str | None = None) -> str:
        """Remind the member of the entry's premiere at `days` (DEFAULT_REMINDER_DAYS if None), in their
        Discord `locale`, replacing what they had asked for it; the one line that says what they will
        get and when. Bad days, or a premiere already behind us, are refused before anything is stored."""
        milestones = parse_milestones(days) if days is not None else DEFAULT_REMINDER_DAYS
        now = self.clock()
        facts = await self.store.facts.for_entry(entry.slug)
        premiere, status = _premiere(facts), confirmed_status(facts)
        if premiere is not None and has_premiered(premiere, status, now, self.default_time):
            said = premiere_text(premiere, status, now, Style.DISCORD)
            raise NothingToRemind(safe(entry.title, Style.DISCORD), said)
        before = await self.store.reminders.set(user_id, entry.slug, milestones, locale)
        self.poke()
        line = confirmation(entry.title, milestones, premiere, status, now, self.default_time)
        return f"{tr(CLOSED_NOTE)} {line}" if before.closed_at else line

    async def listing(self, user_id: int) -> ReminderList:
        """The member's reminders, each with its milestones and its next DM (or what it waits for)."""
        now = self.clock()
        reminders = (await self.store.reminders.of_member(user_id))[:LISTED_MAX]
        lines: list[str] = []
        if not reminders:
            lines.append(
                tr("You have no reminders. `/citadel remind entry:` asks for a DM before a premiere.")
            )
            return ReminderList("\n".join(lines), ())
        lines.append(tr("Your DM reminders:"))
        for reminder in reminders:
            facts = await self.store.facts.for_entry(reminder.entry_slug)
            lines.append(
                "• " + listing_line(reminder.entry_title, reminder.milestones, _premiere(facts),
                                    confirmed_status(facts), reminder.started, now, self.default_time)
            )  # fmt: skip
        if (await self.store.reminders.recipient(user_id)).closed_at:
            lines.append(
                tr(
                    "Your DMs looked closed when I last tried, so these are stopped: open your DMs to me and "
                    "run `/citadel remind` again to restart them."
                )
            )
        return ReminderList("\n".join(lines), tuple((r.entry_slug, r.entry_title) for r in reminders))

    async def cancel(self, user_id: int, slug: str) -> str:
        """Cancel the member's reminder for `slug` and its DMs not sent yet; the line that says so."""
        entry = await self.store.entries.get(slug)
        title = safe(entry.title if entry else slug, Style.DISCORD)
        if await self.store.reminders.cancel(user_id, slug):
            self.poke()
            return tr("Cancelled your reminder for {title}: no more DMs about it.", title=title)
        return tr("You had no reminder for {title} any more.", title=title)
