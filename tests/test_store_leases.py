"""store.shard_leases: a shard's lease has one owner at a time, whatever the race; it moves only once
its owner stopped renewing it for the lease's length, or gave it up."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import ManualClock
from bot.store import Store
from tests.engines import new_database

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
LEASE = timedelta(seconds=20)
SHARDS = 10


async def test_racing_processes_never_hold_one_shard_together(tmp_path: Path) -> None:
    """Eight processes (each its own connection to the file) grab at all ten shards at once, again and
    again, in random order: each shard is held by exactly one of them after every round."""
    clock = ManualClock(T0)
    path = new_database(tmp_path)
    stores = [await Store.open(path, clock) for _ in range(8)]
    rng = random.Random(15)
    try:
        for _ in range(20):
            owners = list(range(len(stores)))
            rng.shuffle(owners)
            held = await asyncio.gather(
                *(
                    stores[o].shard_leases.hold(
                        f"p{o}", rng.sample(range(SHARDS), rng.randint(1, SHARDS)), SHARDS, LEASE
                    )
                    for o in owners
                )
            )
            claimed = [shard for shards in held for shard in shards]
            assert len(claimed) == len(set(claimed))  # no shard claimed by two
            holders = await stores[0].shard_leases.holders()
            for owner, shards in zip(owners, held, strict=True):
                assert all(holders[shard] == f"p{owner}" for shard in shards)
            clock.advance(timedelta(seconds=rng.choice((1, 5, 21))))  # sometimes past every lease
    finally:
        for store in stores:
            await store.close()


async def test_a_lease_moves_only_when_it_runs_out_or_is_given_up(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store = await Store.open(new_database(tmp_path), clock)
    leases = store.shard_leases
    try:
        assert await leases.hold("a", [0, 1], 2, LEASE) == {0, 1}
        assert await leases.hold("b", [0, 1], 2, LEASE) == set()  # a standby
        clock.advance(timedelta(seconds=15))
        assert await leases.hold("a", [0], 2, LEASE) == {0}  # a renews shard 0 only
        clock.advance(timedelta(seconds=6))  # shard 1's lease ran out 1 s ago; shard 0's has 14 s left
        assert await leases.hold("b", [0, 1], 2, LEASE) == {1}
        assert await leases.hold("a", [0, 1], 2, LEASE) == {0}  # a lost shard 1 and knows it
        await leases.release("a")
        assert await leases.hold("b", [0, 1], 2, LEASE) == {0, 1}  # given up: taken at once
        assert await leases.holders() == {0: "b", 1: "b"}
    finally:
        await store.close()
