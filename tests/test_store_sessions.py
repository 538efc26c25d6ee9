"""store.gateway_sessions: one row per shard, replaced at each save; a start gets only the fresh ones
saved under its own shard count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import ManualClock
from bot.store import GatewaySession, Store
from tests.engines import new_database

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def session(shard: int, seq: int, count: int = 2) -> GatewaySession:
    return GatewaySession(shard, count, f"s{shard}", seq, "wss://gateway.example/")


async def test_sessions_are_replaced_per_shard_and_only_fresh_ones_of_the_same_count_are_given(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    store = await Store.open(new_database(tmp_path), clock)
    try:
        sessions = store.gateway_sessions
        assert await sessions.save([session(0, 5), session(1, 7)]) == 2
        assert await sessions.save([session(0, 9)]) == 1
        assert await sessions.fresh(2, T0, timedelta(seconds=90)) == {0: session(0, 9), 1: session(1, 7)}
        (count,) = await store._database.fetchone("SELECT COUNT(*) FROM gateway_sessions")
        assert count == 2
        # Another shard count: none of them resumes (a session belongs to one shard of one layout).
        assert await sessions.fresh(3, T0, timedelta(seconds=90)) == {}
        # 91 s later they are stale; a shard saved again meanwhile is still fresh.
        clock.advance(timedelta(seconds=60))
        await sessions.save([session(1, 8)])
        later = T0 + timedelta(seconds=91)
        assert await sessions.fresh(2, later, timedelta(seconds=90)) == {1: session(1, 8)}
        assert await sessions.save([]) == 0
    finally:
        await store.close()
