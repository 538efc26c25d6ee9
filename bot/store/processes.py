"""The bot processes running on this store: who they are, which shards they run, and their heartbeats.

A process registers when it starts, beats while it runs and leaves when it stops. The table lets a
process notice another live one on its own shards (a common slip: the same settings started twice),
and take over the delivery claims of one that died without releasing them."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.database import Database
from bot.store.outbox import CLAIMED_TABLES, UNCLAIMED
from bot.store.servers import Shards

ALL_SHARDS = "all"


def shards_text(shards: Shards | None) -> str:
    """How a process's shards are stored: "all", or "count:id,id"."""
    if shards is None:
        return ALL_SHARDS
    return f"{shards.count}:{','.join(str(i) for i in shards.ids)}"


@dataclass(frozen=True)
class ProcessInfo:
    """One running (or lately running) bot process."""

    name: str
    host: str
    pid: int
    shards: str
    started_at: str
    seen_at: str


def this_process() -> tuple[str, str, int]:
    """A name for this process, unique per start (host:pid:random), its host and its pid."""
    host, pid = socket.gethostname(), os.getpid()
    return f"{host}:{pid}:{uuid.uuid4().hex[:6]}", host, pid


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


class Processes:
    """`store.processes`: the register of running bot processes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, name: str, host: str, pid: int, shards: str) -> None:
        async with self._db.transaction() as tx:
            now = tx.now()
            await tx.execute(
                "INSERT INTO processes (name, host, pid, shards, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
                (name, host, pid, shards, now, now),
            )

    async def beat(self, name: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE processes SET seen_at = ? WHERE name = ?", (tx.now(), name))

    async def leave(self, name: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM processes WHERE name = ?", (name,))

    async def alive(self, within: timedelta) -> list[ProcessInfo]:
        """Processes whose last heartbeat is at most `within` old."""
        since = (datetime.fromisoformat(self._db.now()) - within).isoformat(timespec="seconds")
        rows = await self._db.fetchall(
            "SELECT name, host, pid, shards, started_at, seen_at FROM processes WHERE seen_at >= ? ORDER BY name",
            (since,),
        )
        return [ProcessInfo(*row) for row in rows]

    async def clear_dead(self, host: str, within: timedelta) -> list[str]:
        """Forget the processes that are gone, and free their delivery claims and shard leases at once
        instead of when they expire: those on this host whose pid no longer runs, and any whose heartbeat is
        older than `within`. Returns their names."""
        since = (datetime.fromisoformat(self._db.now()) - within).isoformat(timespec="seconds")
        rows = await self._db.fetchall("SELECT name, host, pid, seen_at FROM processes")
        dead = [
            name
            for name, their_host, pid, seen_at in rows
            if seen_at < since or (their_host == host and not pid_alive(int(pid)))
        ]
        if dead:
            marks = ", ".join("?" * len(dead))
            async with self._db.transaction() as tx:
                for table in CLAIMED_TABLES:
                    await tx.execute(f"UPDATE {table} SET {UNCLAIMED} WHERE claimed_by IN ({marks})", dead)
                await tx.execute(f"DELETE FROM shard_leases WHERE owner IN ({marks})", dead)
                await tx.execute(f"DELETE FROM processes WHERE name IN ({marks})", dead)
        return dead
