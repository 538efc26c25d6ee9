"""Shard leases: which process runs which shard, until when (migration 0016)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta

from bot.store.database import Database


class ShardLeases:
    """`store.shard_leases`: each method is one transaction, so two processes never both win a shard."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, owner: str, wanted: Iterable[int], shard_count: int, ttl: timedelta) -> set[int]:
        """Renew `owner`'s leases among `wanted` and take those that are free (never leased, or expired),
        each for `ttl` from now; the shards of `wanted` that `owner` holds afterwards."""
        wanted = sorted(set(wanted))
        if not wanted:
            return set()
        async with self._db.transaction() as tx:
            now = tx.clock().astimezone(UTC)
            at, until = (t.isoformat(timespec="seconds") for t in (now, now + ttl))
            await tx.executemany(
                "INSERT INTO shard_leases (shard_id, shard_count, owner, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (shard_id) DO UPDATE SET shard_count = excluded.shard_count, "
                "owner = excluded.owner, expires_at = excluded.expires_at "
                "WHERE shard_leases.owner = excluded.owner OR shard_leases.expires_at <= ?",
                [(shard_id, shard_count, owner, until, at) for shard_id in wanted],
            )
            rows = await tx.fetchall("SELECT shard_id FROM shard_leases WHERE owner = ?", (owner,))
        return {int(row[0]) for row in rows} & set(wanted)

    async def release(self, owner: str, shard_ids: Iterable[int] | None = None) -> None:
        """Give up `owner`'s leases (all of them, or these), so another process may take them at once."""
        async with self._db.transaction() as tx:
            if shard_ids is None:
                await tx.execute("DELETE FROM shard_leases WHERE owner = ?", (owner,))
            else:
                await tx.executemany(
                    "DELETE FROM shard_leases WHERE owner = ? AND shard_id = ?",
                    [(owner, i) for i in shard_ids],
                )

    async def holders(self) -> dict[int, str]:
        """Every leased shard and its owner (expired leases included: nobody took them yet)."""
        rows = await self._db.fetchall("SELECT shard_id, owner FROM shard_leases ORDER BY shard_id")
        return {int(row[0]): row[1] for row in rows}
