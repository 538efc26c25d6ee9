"""The watcher's memory: what it proposed from each source (so a difference is proposed once), and
how each source's rounds went (for moderators, and for backing off a source that fails)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.facts import Fact
from bot.store.database import Database, entry_id
from bot.store.suggestions import WATCHER_USER_ID, Suggestion, insert_suggestion, read_suggestion


@dataclass(frozen=True)
class SourceState:
    source: str
    last_ok_at: str | None
    last_run_at: str | None
    error: str
    failures: int
    next_at: str


class Watch:
    """`store.watch`: each method is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def propose(self, slug: str, fact: Fact, source: str) -> Suggestion | None:
        """File `fact`, read from `source`, as a suggestion for moderators; None when this source's
        value for this fact was proposed already (pending, approved or rejected)."""
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, slug)
            row = await tx.fetchone(
                "SELECT value FROM watch_proposals WHERE entry_id = ? AND field = ? AND key = ? AND source = ?",
                (entry, fact.field, fact.key, source),
            )
            if row is not None and row[0] == fact.value:
                return None
            suggestion_id = await insert_suggestion(tx, entry, fact, WATCHER_USER_ID, source, None)
            await tx.execute(
                "INSERT INTO watch_proposals (entry_id, field, key, source, value, suggestion_id, proposed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (entry_id, field, key, source) DO UPDATE SET "
                "value = excluded.value, suggestion_id = excluded.suggestion_id, proposed_at = excluded.proposed_at",
                (entry, fact.field, fact.key, source, fact.value, suggestion_id, tx.now()),
            )
            suggestion = await read_suggestion(tx, suggestion_id)
        assert suggestion is not None
        return suggestion

    async def sources(self) -> dict[str, SourceState]:
        rows = await self._db.fetchall(
            "SELECT source, last_ok_at, last_run_at, error, failures, next_at FROM watch_sources ORDER BY source"
        )
        return {row[0]: SourceState(*row) for row in rows}

    async def finished(self, source: str, error: str, failures: int, next_at: datetime) -> SourceState:
        """Record a round of `source`: `error` ('' if every entry was read), the failed rounds in a row
        it makes, and when the next round is due."""
        async with self._db.transaction() as tx:
            now = tx.now()
            await tx.execute(
                "INSERT INTO watch_sources (source, last_ok_at, last_run_at, error, failures, next_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
                "last_ok_at = coalesce(excluded.last_ok_at, watch_sources.last_ok_at), last_run_at = excluded.last_run_at, "
                "error = excluded.error, failures = excluded.failures, next_at = excluded.next_at",
                (source, None if error else now, now, error, failures, next_at.isoformat()),
            )
        state = (await self.sources())[source]
        return state
