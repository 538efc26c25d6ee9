"""Members' suggestions of facts: recording them (rate-limited), their review message, and their decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.errors import AlreadyDecided, AlreadyStored, RateLimited, SuggestionNotFound
from bot.facts import Fact
from bot.store.database import Database, Reads, Transaction, entry_id
from bot.store.facts import put_fact, stamped

WATCHER_USER_ID = 0  # suggestions the watcher of public sources files carry this id and the source's name


@dataclass(frozen=True)
class Suggestion:
    id: int
    entry_slug: str
    entry_title: str
    fact: Fact
    user_id: int
    user_name: str
    guild_id: int | None
    created_at: str
    status: str
    decided_by: str | None
    reason: str
    revision_id: int | None
    review_channel_id: int | None
    review_message_id: int | None
    locale: str | None = None  # the suggester's Discord locale: the DM with the decision is in it


async def read_suggestion(reader: Reads, suggestion_id: int) -> Suggestion | None:
    row = await reader.fetchone(
        "SELECT s.*, e.slug AS entry_slug, e.title AS entry_title FROM suggestions s "
        "JOIN entries e ON e.id = s.entry_id WHERE s.id = ?",
        (suggestion_id,),
    )
    if row is None:
        return None
    fact = Fact(
        row["field"], row["value"], row["source"], row["source_date"], key=row["key"], note=row["note"],
        confidence=row["confidence"],
    )  # fmt: skip
    return Suggestion(
        row["id"], row["entry_slug"], row["entry_title"], fact, row["user_id"], row["user_name"],
        row["guild_id"], row["created_at"], row["status"], row["decided_by"], row["reason"],
        row["revision_id"], row["review_channel_id"], row["review_message_id"], row["locale"],
    )  # fmt: skip


async def insert_suggestion(
    tx: Transaction,
    entry: int,
    fact: Fact,
    user_id: int,
    user_name: str,
    guild_id: int | None,
    locale: str | None = None,
) -> int:
    """A pending suggestion of `fact` for entry id `entry`; its id."""
    return await tx.insert(
        "INSERT INTO suggestions (entry_id, field, key, value, source, source_date, confidence, note, "
        "user_id, user_name, guild_id, created_at, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry, fact.field, fact.key, fact.value, fact.source, fact.source_date, fact.confidence, fact.note,
            user_id, user_name, guild_id, tx.now(), locale,
        ),
    )  # fmt: skip


class Suggestions:
    """`store.suggestions`: what members suggest and moderators decide, each write one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        slug: str,
        fact: Fact,
        user_id: int,
        user_name: str,
        guild_id: int | None,
        *,
        limit: int,
        window: timedelta,
        locale: str | None = None,
    ) -> Suggestion:
        """Record a member's suggestion (made in Discord's `locale`); RateLimited once they made `limit`
        in the last `window`."""
        now = self._db.clock().astimezone(UTC)
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, slug)
            recent = await tx.fetchall(
                "SELECT created_at FROM suggestions WHERE user_id = ? AND created_at > ? ORDER BY created_at",
                (user_id, (now - window).isoformat(timespec="seconds")),
            )
            if len(recent) >= limit:
                retry_at = datetime.fromisoformat(recent[0][0]) + window
                raise RateLimited(limit=limit, window=window, retry_at=retry_at)
            suggestion_id = await insert_suggestion(tx, entry, fact, user_id, user_name, guild_id, locale)
        found = await self.get(suggestion_id)
        assert found is not None
        return found

    async def get(self, suggestion_id: int) -> Suggestion | None:
        return await read_suggestion(self._db, suggestion_id)

    async def set_review_message(self, suggestion_id: int, channel_id: int, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE suggestions SET review_channel_id = ?, review_message_id = ? WHERE id = ?",
                (channel_id, message_id, suggestion_id),
            )

    async def decide(self, suggestion_id: int, approve: bool, by: str, reason: str = "") -> Suggestion:
        """Approve (store the fact as a revision crediting the suggester) or reject, exactly once:
        SuggestionNotFound, AlreadyDecided, or AlreadyStored (approving what is already stored)."""
        async with self._db.transaction() as tx:
            pending = await read_suggestion(tx, suggestion_id)
            if pending is None:
                raise SuggestionNotFound(suggestion_id)
            if pending.status != "pending":
                raise AlreadyDecided(suggestion_id, pending.status)
            revision = None
            if approve:
                suggester = (
                    f"the watcher, from {pending.user_name}"
                    if pending.user_id == WATCHER_USER_ID
                    else f"{pending.user_name} ({pending.user_id})"
                )
                credit = f"{suggester}, suggestion #{suggestion_id} approved by {by}"
                revision = await put_fact(
                    tx, pending.entry_slug, stamped(pending.fact, credit, tx.now()), credit
                )
                if revision is None:
                    raise AlreadyStored(suggestion_id)
            await tx.execute(
                "UPDATE suggestions SET status = ?, decided_by = ?, decided_at = ?, reason = ?, revision_id = ? "
                "WHERE id = ?",
                ("approved" if approve else "rejected", by, tx.now(), reason, revision, suggestion_id),
            )
        decided = await self.get(suggestion_id)
        assert decided is not None
        return decided

    async def unposted(self, limit: int = 50) -> list[Suggestion]:
        """Pending suggestions never put in front of the moderators (filed while the bot was offline, by
        `python -m bot watch`, or whose review post failed), oldest first."""
        rows = await self._db.fetchall(
            "SELECT id FROM suggestions WHERE status = 'pending' AND review_message_id IS NULL "
            "ORDER BY id LIMIT ?",
            (limit,),
        )
        found = [await self.get(row[0]) for row in rows]
        return [s for s in found if s is not None]
