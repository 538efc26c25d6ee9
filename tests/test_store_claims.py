"""Delivery claims and the register of processes (bot/store/outbox.py, bot/store/processes.py): two
connections to one file, as two processes have, never both get a delivery; an expired claim or one
left by a dead process is taken over; a live claim is waited for, not spun on."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.canon import load_canon
from bot.clock import ManualClock
from bot.store import Store
from bot.store.processes import shards_text
from bot.store.servers import Shards
from tests.engines import new_database

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
TTL = timedelta(seconds=60)


def guilds(count: int) -> list[tuple[int, int]]:
    return [((n + 1) << 22, 1000 + n) for n in range(count)]


async def planned(store: Store, count: int) -> None:
    assert await store.outbox.plan_milestone("diana", 7, "2026-12-01", NOW, guilds(count)) == count


async def test_two_connections_racing_for_the_same_deliveries_split_them(seeded: Store) -> None:
    await planned(seeded, 300)
    other = await Store.open(seeded.where)
    try:
        taken: dict[str, list[int]] = {"a": [], "b": []}

        async def take(store: Store, owner: str) -> bool:
            batch = await store.outbox.claim_due(NOW, None, owner, TTL, 7)
            taken[owner] += [d.id for d in batch]
            return bool(batch)

        # Both claim at the same moment, again and again (SQLite serialises the two writers; with
        # the busy timeout a writer that comes second waits for the first and then sees its claims).
        while any(await asyncio.gather(take(seeded, "a"), take(other, "b"))):
            pass
    finally:
        await other.close()
    assert taken["a"] and taken["b"]  # both got some
    assert not set(taken["a"]) & set(taken["b"])
    assert len(taken["a"]) + len(taken["b"]) == 300
    assert await seeded.outbox.claims() == {"a": len(taken["a"]), "b": len(taken["b"])}
    counts = await seeded.outbox.status_counts()
    assert (counts["pending"], counts["claimed"]) == (300, 300)


async def test_an_expired_claim_is_taken_over_and_a_live_one_is_waited_for(
    canon_dir: Path, tmp_path: Path
) -> None:
    clock = ManualClock(NOW)
    store = await Store.open(new_database(tmp_path), clock)
    try:
        await load_canon(store, canon_dir)
        await planned(store, 3)
        assert len(await store.outbox.claim_due(NOW, None, "dead", TTL, 10)) == 3
        assert await store.outbox.claim_due(NOW, None, "me", TTL, 10) == []
        # Nothing is due for "me" until the claims expire: the scheduler sleeps until then.
        assert await store.outbox.next_delivery_due(None) == NOW + TTL
        clock.advance(TTL / 2)  # the holder's heartbeat renews them while it lives
        assert await store.outbox.renew("dead", TTL) == 3
        assert await store.outbox.next_delivery_due(None) == NOW + TTL / 2 + TTL
        clock.advance(TTL)  # and then it stops beating
        mine = await store.outbox.claim_due(NOW, None, "me", TTL, 10)
        assert len(mine) == 3 and await store.outbox.claims() == {"me": 3}
        await store.outbox.mark_sent(mine[0], 555)
        assert await store.outbox.release("me") == 2
        assert await store.outbox.claims() == {}
        counts = await store.outbox.status_counts()
        assert (counts["pending"], counts["claimed"], counts["sent"]) == (2, 0, 1)
    finally:
        await store.close()


async def test_claims_of_a_process_that_is_gone_are_freed_at_once(seeded: Store) -> None:
    await planned(seeded, 4)
    # A real process that has exited: its pid is free on this host.
    gone = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=PIPE
    )
    pid = int((await gone.communicate())[0])
    await seeded.processes.register(f"here:{pid}:abc", "here", pid, "all")
    await seeded.processes.register("elsewhere:1:def", "elsewhere", 1, "all")
    assert len(await seeded.outbox.claim_due(NOW, None, f"here:{pid}:abc", TTL, 2)) == 2
    assert len(await seeded.outbox.claim_due(NOW, None, "elsewhere:1:def", TTL, 2)) == 2
    # Another machine's process is judged by its heartbeat only, and it is fresh.
    assert await seeded.processes.clear_dead("here", timedelta(seconds=60)) == [f"here:{pid}:abc"]
    assert await seeded.outbox.claims() == {"elsewhere:1:def": 2}
    assert [p.name for p in await seeded.processes.alive(timedelta(seconds=60))] == ["elsewhere:1:def"]


def test_how_a_processs_shards_are_registered() -> None:
    assert shards_text(None) == "all" and shards_text(Shards(4, (0, 1))) == "4:0,1"


async def test_a_processs_dm_claims_are_renewed_released_and_taken_over_with_its_post_claims(
    canon_dir: Path, tmp_path: Path
) -> None:
    clock = ManualClock(NOW)
    store = await Store.open(new_database(tmp_path), clock)
    try:
        await load_canon(store, canon_dir)
        await planned(store, 2)
        assert await store.reminders.plan("diana", 7, "2026-12-01", NOW, [41, 42, 43]) == 3
        assert len(await store.outbox.claim_due(NOW, None, "old", TTL, 10)) == 2
        assert len(await store.reminders.claim_due(NOW, "old", TTL, 10)) == 3
        assert await store.reminders.claim_due(NOW, "me", TTL, 10) == []  # held: none is sent twice
        assert await store.reminders.next_due() == NOW + TTL
        clock.advance(TTL / 2)
        assert await store.outbox.renew("old", TTL) == 5  # its heartbeat keeps posts and DMs alike
        assert await store.outbox.release("old") == 5  # a graceful stop gives back both
        mine = await store.reminders.claim_due(NOW, "me", TTL * 10, 2)
        assert [d.user_id for d in mine] == [41, 42]
        await store.processes.register("here:1:abc", "here", 1, "all")
        await store.reminders.claim_due(NOW, "here:1:abc", TTL * 10, 10)  # a long lease, still live
        clock.advance(TTL * 2)  # it stopped beating: its DM claim is free at the next start, at once
        assert await store.processes.clear_dead("here", TTL) == ["here:1:abc"]
        assert [d.user_id for d in await store.reminders.claim_due(NOW, "next", TTL, 10)] == [43]
    finally:
        await store.close()
