"""This process's entry in the store's register of running bot processes: registered at start, a
heartbeat while running, gone at a clean stop. At start it also frees the delivery claims of processes
that died holding them, and it names, once, any other live process running its shards."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.clock import Timer, stop_task
from bot.store import Store
from bot.store.processes import overlap, shards_text, this_process
from bot.store.servers import Shards

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=15)
# A process that has not beaten for this long is gone (killed, frozen, its machine down): its claims
# are free. Each heartbeat renews this process's delivery claims for as long, so a claim expires only
# when its process stopped beating.
STALE = timedelta(seconds=60)


class Presence:
    """Register this process, beat, and warn about another process on the same shards."""

    def __init__(self, store: Store, clock: Timer, shards: Shards | None) -> None:
        self.store = store
        self.clock = clock
        self.name, self.host, self.pid = this_process()
        self.shards = shards_text(shards)
        self.task: asyncio.Task[None] | None = None
        self.warned: set[str] = set()  # other processes already named in a warning
        self.taken_over: list[str] = []  # dead processes whose claims this start freed
        self.joined = False

    async def join(self) -> None:
        """Free what dead processes held, register, and name any live process on the same shards.
        The first write of a start: a store that cannot be written fails here, before Discord is asked."""
        self.taken_over = await self.store.processes.clear_dead(self.host, STALE)
        for name in self.taken_over:
            log.info("process %s stopped without releasing its posts; they are this process's to send", name)
        await self.store.processes.register(self.name, self.host, self.pid, self.shards)
        self.joined = True
        await self.look_around()

    async def look_around(self) -> None:
        for other in await self.store.processes.alive(STALE):
            if other.name == self.name or other.name in self.warned or not overlap(self.shards, other.shards):
                continue
            self.warned.add(other.name)
            log.warning(
                "another citadel-bot process, %s (started %s), runs shards %s on this database too: posts are "
                "still sent once each (every delivery is claimed), but both answer commands; stop one, or give "
                "each its own SHARD_IDS",
                other.name,
                other.started_at,
                other.shards,
            )

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
                await self.look_around()
            except Exception:  # a missed beat is not fatal; a lasting failure shows in the log
                log.exception("could not record this process's heartbeat")

    async def leave(self) -> None:
        if self.task is not None:
            await stop_task(self.task)
            self.task = None
        await self.store.processes.leave(self.name)
