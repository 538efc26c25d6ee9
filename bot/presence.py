"""This process's entry in the store's register of running bot processes: registered at start, a
heartbeat while running, gone at a clean stop. At start (and when it takes over shards) it also frees
the delivery claims and shard leases of processes that died holding them. Two processes never run the
same shard: shard leases (bot/gateway.py) see to that."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.clock import Timer, stop_task
from bot.store import Store
from bot.store.processes import shards_text, this_process
from bot.store.servers import Shards

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=15)
# A process that has not beaten for this long is gone (killed, frozen, its machine down): its claims
# are free. Each heartbeat renews this process's delivery claims for as long, so a claim expires only
# when its process stopped beating.
STALE = timedelta(seconds=60)


class Presence:
    """Register this process, beat, and free what dead processes held."""

    def __init__(self, store: Store, clock: Timer, shards: Shards | None) -> None:
        self.store = store
        self.clock = clock
        self.name, self.host, self.pid = this_process()
        self.shards = shards_text(shards)
        self.task: asyncio.Task[None] | None = None
        self.taken_over: list[str] = []  # dead processes whose claims this start freed
        self.joined = False

    async def join(self) -> None:
        """Free what dead processes held, and register. The first write of a start: a store that cannot be written fails here, before Discord is asked."""
        self.taken_over = await self.sweep()
        await self.store.processes.register(self.name, self.host, self.pid, self.shards)
        self.joined = True

    async def sweep(self) -> list[str]:
        """Free what dead processes held (their posts' claims and their shards' leases); their names."""
        dead = await self.store.processes.clear_dead(self.host, STALE)
        for name in dead:
            log.info("process %s stopped without releasing its posts; they are this process's to send", name)
        return dead

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._beat(), name="presence")

    async def _beat(self) -> None:
        never = asyncio.Event()
        while True:
            await self.clock.sleep_until(self.clock() + HEARTBEAT, never)
            try:
                await self.store.processes.beat(self.name)
                await self.store.outbox.renew(self.name, STALE)
            except Exception:  # a missed beat is not fatal; a lasting failure shows in the log
                log.exception("could not record this process's heartbeat")

    async def leave(self) -> None:
        if self.task is not None:
            await stop_task(self.task)
            self.task = None
        await self.store.processes.leave(self.name)
