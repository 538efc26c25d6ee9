"""Each shard's gateway session, kept between runs so that a restart RESUMEs instead of IDENTIFYing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.database import Database


@dataclass(frozen=True)
class GatewaySession:
    """What RESUME needs: the session, the last dispatch handled, and where to resume it."""

    shard_id: int
    shard_count: int
    session_id: str
    sequence: int
    resume_url: str


class GatewaySessions:
    """`store.gateway_sessions`: one row per shard, replaced at each save."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, sessions: Iterable[GatewaySession]) -> int:
        """Keep these sessions (replacing each shard's last); how many were saved."""
        rows = [(s.shard_id, s.shard_count, s.session_id, s.sequence, s.resume_url) for s in sessions]
        if not rows:
            return 0
        async with self._db.transaction() as tx:
            now = tx.now()
            await tx.executemany(
                "INSERT INTO gateway_sessions (shard_id, shard_count, session_id, sequence, resume_url, saved_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shard_id) DO UPDATE SET shard_count = excluded.shard_count, "
                "session_id = excluded.session_id, sequence = excluded.sequence, "
                "resume_url = excluded.resume_url, saved_at = excluded.saved_at",
                [(*row, now) for row in rows],
            )
        return len(rows)

    async def fresh(self, shard_count: int, now: datetime, within: timedelta) -> dict[int, GatewaySession]:
        """The sessions saved under `shard_count` no longer than `within` before `now`, by shard."""
        since = (now - within).isoformat(timespec="seconds")
        rows = await self._db.fetchall(
            "SELECT shard_id, shard_count, session_id, sequence, resume_url FROM gateway_sessions "
            "WHERE shard_count = ? AND saved_at >= ?",
            (shard_count, since),
        )
        return {int(row[0]): GatewaySession(*row) for row in rows}
