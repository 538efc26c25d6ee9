"""The bot's gateway connections: which shards are live, and their sessions kept across restarts.

A restart would otherwise IDENTIFY every shard afresh, and Discord allows one IDENTIFY per 5 seconds: at
10 shards the last one answered 47 s after the start. So each shard's session (id, last sequence, resume
URL) is saved in the store every SAVE_EVERY seconds and on a clean stop, which closes the sockets with a
code that keeps the sessions alive; the next start RESUMEs every shard whose saved session is fresh,
all at once, and falls back to IDENTIFY for a shard Discord answers with op 9.

A RESUMEd shard gets no READY and no GUILD_CREATE, so nothing here or above may wait for discord.py's
`is_ready()`: the bot is "connected" once every shard of this process has had READY or RESUMED
(`ShardSessions`), and it keeps no copy of its servers at all (bot/client.py asks for no intents).

discord.py has no public hook for starting a shard with a saved session: `resume_shard` is the one place
that reaches into its internals, pinned to discord.py 2.7 (see PINNED and tests/test_restart.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import yarl
from discord.gateway import DiscordWebSocket
from discord.shard import Shard

from bot.clock import Clock
from bot.store import Store
from bot.store.sessions import GatewaySession

if TYPE_CHECKING:
    from bot.client import CitadelBot

log = logging.getLogger(__name__)

PINNED = "2.7"  # the discord.py whose AutoShardedClient internals resume_shard uses
SAVE_EVERY = 5.0  # seconds between saves of the sessions while running
# A session saved longer ago than this is not tried: Discord keeps a closed session resumable for a short
# while only, and a RESUME it refuses costs a round trip before the IDENTIFY.
FRESH_FOR = timedelta(seconds=90)
# Closing a socket with 1000 or 1001 ends the session on Discord's side (the bot shows offline); any
# other code keeps it resumable. discord.py's own reconnects use 4000.
KEEP_SESSION_CLOSE = 4000
IDENTIFY_SPACING = 5.0  # Discord's max_concurrency 1: one IDENTIFY per 5 seconds


class ShardSessions:
    """Which shards have a live gateway session, from discord.py's shard events (READY, RESUMED,
    disconnects): a shard's websocket can be open before its RESUME is answered, and until then it
    receives nothing. `connected` is set once every shard of the process has been live once."""

    def __init__(self, shard_ids: Callable[[], Iterable[int]]) -> None:
        self.live: dict[int, bool] = {}
        self.turned = asyncio.Event()  # set whenever a shard connects or disconnects
        self.connected = asyncio.Event()
        self._shard_ids = shard_ids

    def _set(self, shard_id: int, live: bool) -> None:
        self.live[shard_id] = live
        self.turned.set()
        if live and not self.connected.is_set() and all(self.live.get(i) for i in self._shard_ids()):
            self.connected.set()

    async def on_shard_connect(self, shard_id: int) -> None:  # READY: commands work from now on
        self._set(shard_id, True)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._set(shard_id, True)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._set(shard_id, False)

    def attach(self, bot: CitadelBot) -> None:
        for name in ("on_shard_connect", "on_shard_resumed", "on_shard_disconnect"):
            bot.add_listener(getattr(self, name), name)


def _shards(bot: CitadelBot) -> dict[int, Shard]:
    shards: dict[int, Shard] = bot._AutoShardedClient__shards  # type: ignore[attr-defined]  # pinned: 2.7
    return shards


def session_of(shard_id: int, ws: DiscordWebSocket, shard_count: int | None) -> GatewaySession | None:
    """The session a shard's websocket holds (READY seen), as RESUME would need it, or None."""
    if ws.session_id and ws.sequence is not None and shard_count:
        return GatewaySession(shard_id, shard_count, ws.session_id, ws.sequence, str(ws.gateway))
    return None


def current_sessions(bot: CitadelBot) -> list[GatewaySession]:
    """The session of every launched shard that has one (READY seen), as it stands now."""
    sessions = (session_of(i, shard.ws, bot.shard_count) for i, shard in sorted(_shards(bot).items()))
    return [session for session in sessions if session is not None]


async def resume_shard(bot: CitadelBot, saved: GatewaySession) -> bool:
    """Start shard `saved.shard_id` by RESUMEing its saved session, as discord.py's own
    `AutoShardedClient.launch_shard` starts one by IDENTIFYing; False (and nothing started) if the
    socket could not be opened. A RESUME Discord refuses (op 9) makes discord.py IDENTIFY that shard."""
    try:
        ws = await asyncio.wait_for(
            DiscordWebSocket.from_client(
                bot,
                gateway=yarl.URL(saved.resume_url),
                shard_id=saved.shard_id,
                session=saved.session_id,
                sequence=saved.sequence,
                resume=True,
            ),
            timeout=bot.shard_connect_timeout,
        )
    except Exception as exc:
        log.warning("shard %d: could not resume its saved session (%s); identifying", saved.shard_id, exc)
        return False
    queue: asyncio.Queue[Any] = bot._AutoShardedClient__queue  # type: ignore[attr-defined]  # pinned: 2.7
    _shards(bot)[saved.shard_id] = shard = Shard(ws, bot, queue.put_nowait)
    shard.launch()
    return True


class SessionKeeper:
    """Saves the shards' sessions while the bot runs and when it stops, and hands a start the fresh ones."""

    def __init__(self, bot: CitadelBot, store: Store, clock: Clock) -> None:
        self.bot = bot
        self.store = store
        self.clock = clock
        self.resumed: set[int] = set()  # shards this start RESUMEd (not necessarily successfully)
        self._last: list[GatewaySession] = []
        self._task: asyncio.Task[None] | None = None

    async def saved_session(self, shard_id: int) -> GatewaySession | None:
        """The fresh session saved for this shard (by this process's last run, or by the process that ran
        it until it stopped or died), or None."""
        fresh = await self.store.gateway_sessions.fresh(self.bot.shard_count or 1, self.clock(), FRESH_FOR)
        return fresh.get(shard_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway session saver")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY)
            try:
                if saved := await self.save():
                    log.debug("saved %d gateway sessions", saved)
            except Exception:
                log.exception("could not save the gateway sessions; trying again in %g s", SAVE_EVERY)

    async def save(self) -> int:
        """Save the sessions that changed since the last save; how many."""
        now = current_sessions(self.bot)
        changed = [s for s in now if s not in self._last]
        self._last = now
        return await self.store.gateway_sessions.save(changed)

    async def stop(self) -> int:
        """On a clean stop: close every shard's socket so that Discord keeps its session, then save the
        sessions as they were left; how many were saved."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for shard in _shards(self.bot).values():
            shard._cancel_task()  # its worker would take the close for a dropped connection and reconnect
            if shard.ws.open:
                await shard.ws.close(code=KEEP_SESSION_CLOSE)
        self._last = []  # every session, as the stop left it
        return await self.save()


# --- which shards this process runs: leases in the store ------------------------------------------

LEASE = timedelta(seconds=20)  # how long a lease lasts unrenewed: a dead process's shards move after this
RENEW_EVERY = 5.0  # seconds between renewals (and looks for shards another process let go)
# A process that could not renew for this long stops handling its shards' interactions and then closes
# them, before its leases can expire and another process takes them (renewals start before they reach
# the store, so the lease always outlives this).
FENCE = LEASE.total_seconds() - RENEW_EVERY


class ShardLeaser:
    """Holds the leases of the shards this process runs. At start it takes those of its candidates
    (SHARD_IDS, or every shard) that no live process holds; then, every RENEW_EVERY seconds, renews
    them, starts any candidate whose lease came free (a stopped or dead process's), and stops any it lost.
    `valid_until` (the loop's clock) is how long its shards are surely its own: past it, interactions are
    left unhandled (bot/client.py), so two processes never both answer for one shard."""

    def __init__(
        self, bot: CitadelBot, store: Store, owner: str, candidates: Callable[[], Iterable[int]]
    ) -> None:
        self.bot = bot
        self.store = store
        self.owner = owner
        self.candidates = candidates
        self.valid_until = 0.0
        self._task: asyncio.Task[None] | None = None

    def surely_ours(self) -> bool:
        return asyncio.get_running_loop().time() <= self.valid_until

    async def hold(self) -> set[int]:
        """Renew and take leases once; the shards held now. Store errors pass to the caller."""
        started = asyncio.get_running_loop().time()
        held = await self.store.shard_leases.hold(
            self.owner, self.candidates(), self.bot.shard_count or 1, LEASE
        )
        self.valid_until = started + FENCE
        return held

    def start(self, gateway: yarl.URL) -> None:
        self._task = asyncio.create_task(self._run(gateway), name="shard leases")

    async def _run(self, gateway: yarl.URL) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            running = set(self.bot.own_shard_ids())
            try:
                held = await self.hold()
            except Exception as exc:  # the store is unreachable: keep the shards only while surely ours
                if running and not self.surely_ours():
                    log.error(
                        "could not renew the shard leases for %g s (%s): stopping shards %s",
                        FENCE,
                        exc,
                        sorted(running),
                    )
                    for shard_id in sorted(running):
                        await stop_shard(self.bot, shard_id)
                else:
                    log.warning(
                        "could not renew the shard leases (%s); trying again in %g s", exc, RENEW_EVERY
                    )
                continue
            for shard_id in sorted(running - held):
                log.warning("shard %d: its lease went to another process; stopping it here", shard_id)
                await stop_shard(self.bot, shard_id)
            if held - running:  # its last owner stopped renewing: if it is gone, its posts are ours too
                with suppress(Exception):
                    await self.bot.presence.sweep()
            for shard_id in sorted(held - running):
                log.info("shard %d: its lease came free; starting it here", shard_id)
                await start_shard(self.bot, gateway, shard_id)

    async def stop(self) -> None:
        """Stop renewing and give the leases up, so a standby takes the shards at once."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.store.shard_leases.release(self.owner)


async def _stopped(*_: object) -> None:
    """What a stopped shard does when discord.py's queue asks it to reconnect: nothing."""


async def start_shard(bot: CitadelBot, gateway: yarl.URL, shard_id: int) -> None:
    """Start running one more shard (its lease just came to this process)."""
    bot.took_shard(shard_id)
    await bot.launch_shard(gateway, shard_id)
    bot.announcer.poke()  # its servers' posts are this process's to send now


async def stop_shard(bot: CitadelBot, shard_id: int) -> None:
    """Stop running a shard here: its session is saved as it stands and its socket closed with a code that
    keeps it, so the process that takes the shard RESUMEs it and misses nothing."""
    bot.dropped_shard(shard_id)
    shard = _shards(bot).pop(shard_id, None)
    bot.gateway.live.pop(shard_id, None)
    if shard is None:
        return
    # A reconnect its worker queued before this (discord.py's client runs them from a queue that still
    # holds the Shard) would otherwise RESUME the session again here, on a shard nobody reads.
    shard.reidentify = shard.reconnect = _stopped  # type: ignore[method-assign, assignment]
    shard._cancel_task()
    if shard.ws.open:
        await shard.ws.close(code=KEEP_SESSION_CLOSE)
    session = session_of(shard_id, shard.ws, bot.shard_count)
    if session is not None:
        with suppress(Exception):
            await bot.sessions.store.gateway_sessions.save([session])
