"""Members' DM reminders: the entries each member asked to be reminded of and at which milestones, the
DMs planned from them (an outbox like the posts': unique per member, entry, milestone and premiere, a
deterministic nonce, claimed before sending, marked once sent), and whose DMs Discord said are closed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store.database import Database, Transaction, entry_id
from bot.store.outbox import UNCLAIMED, claim_rows, narrowed, next_due, nonce

CLOSED = "their DMs are closed"  # why a member's other reminders are skipped once a DM was refused


@dataclass(frozen=True)
class Reminder:
    """A member's wish: a DM before `entry_slug`'s premiere at each of `milestones` (days before)."""

    user_id: int
    entry_slug: str
    entry_title: str
    milestones: tuple[int, ...]
    since: str  # when they asked: a milestone that passed before is not theirs
    locale: str | None = None  # the Discord locale they asked in: their DMs are written in it

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.since)


@dataclass(frozen=True)
class ReminderDelivery:
    id: int
    user_id: int
    entry_slug: str
    milestone: int
    premiere: str
    due_at: str
    nonce: str
    attempts: int
    status: str
    message_id: int | None
    error: str


@dataclass(frozen=True)
class Recipient:
    """What the bot knows of a member it DMs: their DM channel, and whether a DM was refused."""

    user_id: int
    dm_channel_id: int | None = None
    closed_at: str | None = None
    problem: str = ""


_REMINDER_SQL = (
    "SELECT r.user_id, e.slug, e.title, r.milestones, r.since, r.locale FROM reminders r "
    "JOIN entries e ON e.id = r.entry_id WHERE e.removed_at IS NULL"
)
_DELIVERY_SQL = (
    "SELECT d.id, d.user_id, e.slug, d.milestone, d.premiere, d.due_at, d.nonce, d.attempts, d.status, "
    "d.message_id, d.error FROM reminder_deliveries d JOIN entries e ON e.id = d.entry_id"
)


def _reminder(row: Any) -> Reminder:
    milestones = tuple(int(m) for m in row[3].split(",") if m != "")
    return Reminder(row[0], row[1], row[2], milestones, row[4], row[5])


class Reminders:
    """`store.reminders`: members' reminders, their DMs, and members whose DMs are closed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- what members asked for ------------------------------------------------------------------

    async def set(
        self, user_id: int, entry_slug: str, milestones: Sequence[int], locale: str | None = None
    ) -> Recipient:
        """Remind `user_id` of the entry at `milestones` from now on, in `locale` (their Discord locale),
        replacing what they had asked for it (pending DMs of milestones no longer chosen are dropped).
        Asking again also lifts a stop after closed DMs. Returns what was known of the member before
        (`closed_at` set if stopped)."""
        before = await self.recipient(user_id)
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, entry_slug)
            await tx.execute(
                "INSERT INTO reminders (user_id, entry_id, milestones, since, locale) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (user_id, entry_id) DO UPDATE SET milestones = excluded.milestones, "
                "since = excluded.since, locale = excluded.locale",
                (user_id, entry, ",".join(map(str, milestones)), tx.now(), locale),
            )
            await tx.execute(
                "DELETE FROM reminder_deliveries WHERE user_id = ? AND entry_id = ? AND status = 'pending' "
                f"AND milestone NOT IN ({', '.join('?' * len(milestones))})",
                (user_id, entry, *milestones),
            )
            await tx.execute(
                "UPDATE dm_recipients SET closed_at = NULL, problem = '' WHERE user_id = ?", (user_id,)
            )
        return before

    async def cancel(self, user_id: int, entry_slug: str) -> bool:
        """Forget the member's reminder for the entry and its DMs not sent yet; whether there was one."""
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, entry_slug, removed=True)
            removed = await tx.execute("DELETE FROM reminders WHERE user_id = ? AND entry_id = ?", (user_id, entry))
            await tx.execute(
                "DELETE FROM reminder_deliveries WHERE user_id = ? AND entry_id = ? AND status = 'pending'",
                (user_id, entry),
            )
        return removed > 0

    async def of_member(self, user_id: int) -> list[Reminder]:
        """The member's reminders, in franchise order (entries removed since are left out)."""
        rows = await self._db.fetchall(
            _REMINDER_SQL + " AND r.user_id = ? ORDER BY e.position, e.slug", (user_id,)
        )
        return [_reminder(row) for row in rows]

    async def active(self) -> list[Reminder]:
        """Every reminder still to be kept: of members whose DMs were not found closed."""
        rows = await self._db.fetchall(
            _REMINDER_SQL + " AND NOT EXISTS (SELECT 1 FROM dm_recipients m WHERE m.user_id = r.user_id "
            "AND m.closed_at IS NOT NULL) ORDER BY e.slug, r.milestones, r.since, r.user_id"
        )
        return [_reminder(row) for row in rows]

    async def recipient(self, user_id: int) -> Recipient:
        row = await self._db.fetchone(
            "SELECT user_id, dm_channel_id, closed_at, problem FROM dm_recipients WHERE user_id = ?",
            (user_id,),
        )
        return Recipient(*row) if row else Recipient(user_id)

    # --- the DMs ---------------------------------------------------------------------------------

    async def plan(
        self, entry_slug: str, milestone: int, premiere: str, due_at: datetime, users: Sequence[int]
    ) -> int:
        """One DM per member for this milestone of this premiere; existing ones are kept as they are."""
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, entry_slug, removed=True)
            due = due_at.isoformat(timespec="seconds")
            return await tx.executemany(
                "INSERT OR IGNORE INTO reminder_deliveries (user_id, entry_id, milestone, premiere, due_at, nonce) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (u, entry, milestone, premiere, due, nonce("reminder", u, entry, milestone, premiere))
                    for u in users
                ],
            )

    async def claim_due(
        self, now: datetime, owner: str, ttl: timedelta, limit: int
    ) -> list[ReminderDelivery]:
        """Claim up to `limit` due DMs for `owner` (see outbox.claim_rows) and return them."""
        async with self._db.transaction(serial=False) as tx:
            ids = await claim_rows(tx, "reminder_deliveries", owner, ttl, now, limit)
            if not ids:
                return []
            rows = await tx.fetchall(
                _DELIVERY_SQL + f" WHERE d.id IN ({', '.join('?' * len(ids))}) ORDER BY d.due_at, d.id", ids
            )
        return [ReminderDelivery(*row) for row in rows]

    async def next_due(self) -> datetime | None:
        return await next_due(self._db, "reminder_deliveries")

    async def deliveries(
        self, user_id: int | None = None, status: str | None = None
    ) -> list[ReminderDelivery]:
        sql, params = narrowed(_DELIVERY_SQL, user_id=user_id, status=status)
        rows = await self._db.fetchall(sql + " ORDER BY d.due_at, d.id", params)
        return [ReminderDelivery(*row) for row in rows]

    async def opened(self, user_id: int, dm_channel_id: int) -> None:
        """Remember the member's DM channel: it is opened once, not before every DM."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO dm_recipients (user_id, dm_channel_id) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET dm_channel_id = excluded.dm_channel_id",
                (user_id, dm_channel_id),
            )

    async def mark_sent(self, delivery: ReminderDelivery, message_id: int) -> None:
        await self._update(
            delivery,
            f"status = 'sent', message_id = ?, sent_at = ?, attempts = attempts + 1, {UNCLAIMED}",
            lambda tx: (message_id, tx.now()),
        )

    async def skip(self, delivery: ReminderDelivery, reason: str) -> None:
        """Not sent, and not a failure: the DM is no longer true (the premiere moved or passed)."""
        await self._update(delivery, f"status = 'skipped', error = ?, {UNCLAIMED}", lambda tx: (reason,))

    async def retry(self, delivery: ReminderDelivery, problem: str, at: datetime) -> None:
        await self._update(
            delivery,
            f"attempts = attempts + 1, error = ?, due_at = ?, {UNCLAIMED}",
            lambda tx: (problem, at.isoformat(timespec="seconds")),
        )

    async def fail(self, delivery: ReminderDelivery, problem: str) -> None:
        await self._update(
            delivery,
            f"status = 'failed', attempts = attempts + 1, error = ?, {UNCLAIMED}",
            lambda tx: (problem,),
        )

    async def closed(self, delivery: ReminderDelivery, problem: str) -> None:
        """Discord refused the DM because the member's DMs are closed: it failed, the member is recorded
        as closed, and none of their other DMs is tried (until they ask again with /citadel remind)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE reminder_deliveries SET status = 'failed', attempts = attempts + 1, error = ?, {UNCLAIMED} "
                "WHERE id = ?",
                (problem, delivery.id),
            )
            await tx.execute(
                f"UPDATE reminder_deliveries SET status = 'skipped', error = ?, {UNCLAIMED} "
                "WHERE user_id = ? AND status = 'pending'",
                (CLOSED, delivery.user_id),
            )
            await tx.execute(
                "INSERT INTO dm_recipients (user_id, closed_at, problem) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET closed_at = excluded.closed_at, problem = excluded.problem",
                (delivery.user_id, tx.now(), problem),
            )

    async def _update(
        self,
        delivery: ReminderDelivery,
        assignments: str,
        params: Callable[[Transaction], tuple[object, ...]],
    ) -> None:
        """UPDATE one DM's row: `assignments` with the parameters `params(tx)` gives."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE reminder_deliveries SET {assignments} WHERE id = ?", (*params(tx), delivery.id)
            )
