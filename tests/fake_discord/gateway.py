"""The gateway websocket: transport compression, HELLO/IDENTIFY/RESUME, heartbeats, sessions and replay."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .payloads import GuildSpec, shard_for_guild

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

try:  # the same optional dependency discord.py uses to decide on zstd-stream
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE_STATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

INTENT_GUILDS = 1 << 0
# Close codes with which a client ends its session for good, as Discord treats them.
CLIENT_CLOSES_ENDING_SESSION = (1000, 1001)
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT

# Called with the write time just before a dispatch goes to the socket (the bot may answer before the
# write call returns), and with None if that write then failed.
OnWritten = Callable[[float | None], None]


class ZstdUnavailable(RuntimeError):
    """A client asked for zstd-stream but this Python has no ``zstandard`` to produce it."""


def make_compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """One streaming compressor per connection; each message comes out as a complete flushed block."""
    if kind is None:
        return None
    if kind == "zlib-stream":
        zctx = zlib.compressobj()

        def zlib_message(data: bytes) -> bytes:
            # Z_SYNC_FLUSH ends every message with 00 00 ff ff, the marker discord.py waits for.
            return zctx.compress(data) + zctx.flush(zlib.Z_SYNC_FLUSH)

        return zlib_message
    if kind == "zstd-stream":
        if zstandard is None:
            raise ZstdUnavailable(
                "client requested compress=zstd-stream but the 'zstandard' package is not importable "
                "in the fake's process; install it or make the client use zlib-stream"
            )
        cobj = zstandard.ZstdCompressor().compressobj()

        def zstd_message(data: bytes) -> bytes:
            return cobj.compress(data) + cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

        return zstd_message
    raise ValueError(f"unsupported gateway compression {kind!r}")


@dataclass(slots=True)
class LogEntry:
    """A dispatch kept for replay on RESUME. GUILD_CREATE keeps only its GuildSpec (rebuilt on replay)."""

    seq: int
    event: str
    data: dict[str, Any] | GuildSpec
    on_written: OnWritten | None = None


class Connection:
    """One websocket. Sends are serialized so compressed blocks reach the wire in compression order."""

    def __init__(
        self, fake: FakeDiscord, ws: web.WebSocketResponse, request: web.Request, compress: str | None
    ):
        self.fake = fake
        self.ws = ws
        self.request = request
        self.compress = compress
        self._compressor = make_compressor(compress)
        self._lock = asyncio.Lock()
        self.session: Session | None = None
        self.closed = False
        self.closed_by_fake = (
            False  # the fake closed or dropped it (a client's close code means nothing then)
        )

    async def send(self, payload: dict[str, Any], on_written: OnWritten | None = None) -> bool:
        """Send one gateway payload; False if the socket is gone."""
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        async with self._lock:
            if self.closed or self.ws.closed:
                return False
            frame = raw if self._compressor is None else self._compressor(raw)
            if on_written is not None:
                on_written(time.perf_counter())
            try:
                if self._compressor is None:
                    await self.ws.send_str(raw.decode())
                else:
                    await self.ws.send_bytes(frame)
            except (ConnectionResetError, RuntimeError) as exc:
                log.debug("gateway send failed: %s", exc)
                self.closed = True
                if on_written is not None:
                    on_written(None)
                return False
            return True

    async def close(self, code: int, message: str = "") -> None:
        self.closed_by_fake = True
        if self.session is not None:  # closed from now on: the resume window starts here
            self.session.detach(self)
        if not self.ws.closed:
            await self.ws.close(code=code, message=message.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        self.closed = True
        self.closed_by_fake = True
        if self.session is not None:
            self.session.detach(self)
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass(eq=False)
class Session:
    """A gateway session: survives its connection so the client can RESUME it and get what it missed."""

    id: str
    shard_id: int
    shard_count: int
    intents: int
    fake: FakeDiscord
    seq: int = 0
    connection: Connection | None = None
    log: deque[LogEntry] = field(default_factory=deque)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ready_at: float | None = None
    guilds_sent: bool = False
    invalidated: bool = False
    stream_task: asyncio.Task[None] | None = None
    # The seq of the last heartbeat: discord.py sends the seq of the last dispatch it has handled.
    read_seq: int = 0
    # When its socket closed (the fake's monotonic clock), None while connected: RESUME is refused once
    # this is more than fake.resume_window ago.
    closed_at: float | None = None

    def expired(self) -> bool:
        return self.closed_at is not None and self.fake.monotonic() - self.closed_at > self.fake.resume_window

    def owns_guild(self, guild_id: int) -> bool:
        return shard_for_guild(guild_id, self.shard_count) == self.shard_id

    def _render(self, entry: LogEntry) -> dict[str, Any]:
        data = entry.data
        if isinstance(data, GuildSpec):
            # Rendered now, not when logged: a replay after RESUME shows the guild as it stands.
            data = self.fake.render_guild(data)
        return {"op": OP_DISPATCH, "s": entry.seq, "t": entry.event, "d": data}

    async def dispatch(
        self, event: str, data: dict[str, Any] | GuildSpec, on_written: OnWritten | None = None
    ) -> int:
        """Number, log and (when connected) send one dispatch; a disconnected session keeps it for RESUME."""
        async with self.lock:
            self.seq += 1
            self.fake.dispatch_counts[event] += 1
            entry = LogEntry(self.seq, event, data, on_written)
            self.log.append(entry)
            if self.connection is not None:
                await self._write(self.connection, entry)
            return entry.seq

    async def _write(self, conn: Connection, entry: LogEntry) -> None:
        await conn.send(self._render(entry), entry.on_written)

    async def request_heartbeat(self) -> int | None:
        """Ask the client for a heartbeat now (op 1, as Discord may); returns the seq it must then report
        having read, or None if the session has no connection.

        discord.py handles gateway messages one at a time, in order, and parses a dispatch into its
        cache before reading the next message; it answers op 1 at once with the seq of the last dispatch
        it handled. So once a heartbeat reports this seq, the client has handled every dispatch before.
        """
        async with self.lock:  # no dispatch slips in between reading seq and asking
            conn = self.connection
            if conn is None or not await conn.send({"op": OP_HEARTBEAT, "s": None, "t": None, "d": None}):
                return None
            return self.seq

    def acknowledge(self, seq: int | None) -> None:
        """A heartbeat carries the last seq the client saw: it will never ask for those again."""
        if seq is None:
            return
        while self.log and self.log[0].seq <= seq:
            self.log.popleft()

    async def resume_on(self, conn: Connection, after_seq: int | None) -> None:
        async with self.lock:
            old = self.connection
            self.connection = conn
            self.closed_at = None
            conn.session = self
            if old is not None and old is not conn:
                old.session = None
                closing = asyncio.create_task(old.close(4009, "session resumed elsewhere"))
                self.fake.background_tasks.add(closing)
                closing.add_done_callback(self.fake.background_tasks.discard)
            self.acknowledge(after_seq)
            for entry in list(self.log):
                await self._write(conn, entry)
            self.seq += 1
            resumed = LogEntry(self.seq, "RESUMED", {"_trace": ["fake-discord-resume"]})
            self.log.append(resumed)
            await self._write(conn, resumed)

    def detach(self, conn: Connection) -> None:
        if self.connection is conn:
            self.connection = None
            self.closed_at = self.fake.monotonic()


def _ready_payload(fake: FakeDiscord, session: Session) -> dict[str, Any]:
    return {
        "v": 10,
        "user": fake.bot_user,
        "user_settings": {},
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["us-east"],
        "guilds": [
            {"id": str(spec.id), "unavailable": True}
            for spec in fake.guilds_for_shard(session.shard_id, session.shard_count)
        ],
        "session_id": session.id,
        "session_type": "normal",
        "resume_gateway_url": fake.gateway_url,
        "application": {"id": str(fake.application_id), "flags": 0},
        "shard": [session.shard_id, session.shard_count],
        "auth": {},
        "_trace": ["fake-discord"],
    }


async def _stream_guilds(fake: FakeDiscord, session: Session) -> None:
    """One GUILD_CREATE per guild of the shard, built one at a time so 10,000 guilds cost no memory."""
    try:
        for spec in fake.guilds_for_shard(session.shard_id, session.shard_count):
            if session.invalidated:
                return
            await session.dispatch("GUILD_CREATE", spec)
        session.guilds_sent = True
    finally:
        fake.changes.notify()


class GatewayHandler:
    """The aiohttp handler for the gateway URL, one call per websocket."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        compress = request.query.get("compress")
        encoding = request.query.get("encoding", "json")
        if encoding != "json":
            fake.record_error(f"gateway: unsupported encoding {encoding!r}")
            return web.Response(status=400, text="fake Discord speaks encoding=json only")
        if request.query.get("v") not in (None, "10"):
            fake.record_error(f"gateway: client asked for API version {request.query.get('v')!r}, not 10")
        try:
            make_compressor(compress)  # fail before the upgrade if it can never work
        except (ZstdUnavailable, ValueError) as exc:
            log.error("fake Discord gateway: %s", exc)
            fake.record_error(f"gateway: {exc}")
            return web.Response(status=500, text=str(exc))

        # compress=True accepts the client's permessage-deflate offer (aiohttp clients may send one).
        ws = web.WebSocketResponse(compress=True, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = Connection(fake, ws, request, compress)
        fake.connections.add(conn)
        fake.gateway_compressions.append(compress)
        try:
            await conn.send(
                {
                    "op": OP_HELLO,
                    "s": None,
                    "t": None,
                    "d": {"heartbeat_interval": fake.heartbeat_interval_ms, "_trace": ["fake-discord"]},
                }
            )
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    payload = json.loads(msg.data)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    fake.record_error(f"gateway: undecodable payload {msg.data!r:.200}")
                    await conn.close(CLOSE_DECODE_ERROR, "Decode error.")
                    break
                await self._handle(conn, op, payload.get("d"))
        finally:
            conn.closed = True
            fake.connections.discard(conn)
            if conn.session is not None:
                if ws.close_code in CLIENT_CLOSES_ENDING_SESSION and not conn.closed_by_fake:
                    # Discord: a client that closes with 1000 or 1001 ends its session (the bot shows
                    # offline); any other code keeps it resumable for the resume window.
                    conn.session.invalidated = True
                conn.session.detach(conn)
        return ws

    async def _handle(self, conn: Connection, op: int, data: Any) -> None:
        fake = self.fake
        if op == OP_HEARTBEAT:
            if conn.session is not None and isinstance(data, int):
                conn.session.acknowledge(data)
                conn.session.read_seq = max(conn.session.read_seq, data)
            fake.heartbeats += 1
            await conn.send({"op": OP_HEARTBEAT_ACK, "s": None, "t": None, "d": None})
            fake.changes.notify()
        elif op == OP_IDENTIFY:
            await self._identify(conn, data)
        elif op == OP_RESUME:
            await self._resume(conn, data)
        elif op in (OP_PRESENCE, OP_VOICE_STATE, OP_REQUEST_MEMBERS):
            fake.other_gateway_ops.append((op, data))
        else:
            fake.record_error(f"gateway: unknown opcode {op}")
            await conn.close(CLOSE_UNKNOWN_OPCODE, "Unknown opcode.")

    async def _identify(self, conn: Connection, data: Any) -> None:
        fake = self.fake
        if not isinstance(data, dict):
            await conn.close(CLOSE_DECODE_ERROR, "Decode error.")
            return
        fake.identifies.append(dict(data))
        if conn.session is not None:
            await conn.close(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if data.get("token") != fake.token:
            await conn.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await conn.close(CLOSE_INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~fake.privileged_intents:
            await conn.close(CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not (isinstance(shard_count, int) and shard_count >= 1 and 0 <= shard_id < shard_count):
            await conn.close(CLOSE_INVALID_SHARD, "Invalid shard.")
            return

        session = Session(uuid.uuid4().hex, shard_id, shard_count, intents, fake)
        previous = fake.shard_sessions.get(shard_id)
        if previous is not None and previous is not session:
            previous.invalidated = True  # a fresh IDENTIFY on the same shard replaces the old session
        fake.sessions[session.id] = session
        fake.shard_sessions[shard_id] = session
        session.connection = conn
        conn.session = session
        await session.dispatch("READY", _ready_payload(fake, session))
        session.ready_at = time.perf_counter()
        fake.connected.set()
        fake.changes.notify()
        if not intents & INTENT_GUILDS:
            # Without the GUILDS intent Discord sends no GUILD_CREATE: READY's list is all there is.
            session.guilds_sent = True
            return
        session.stream_task = asyncio.create_task(_stream_guilds(fake, session))
        fake.background_tasks.add(session.stream_task)
        session.stream_task.add_done_callback(fake.background_tasks.discard)

    async def _resume(self, conn: Connection, data: Any) -> None:
        fake = self.fake
        if not isinstance(data, dict):
            await conn.close(CLOSE_DECODE_ERROR, "Decode error.")
            return
        fake.resumes.append(dict(data))
        session = fake.sessions.get(data.get("session_id") or "")
        oldest_kept = session.log[0].seq if session is not None and session.log else None
        seq = data.get("seq")
        missed_too_much = oldest_kept is not None and isinstance(seq, int) and seq + 1 < oldest_kept
        expired = session is not None and session.expired()
        if (
            session is None
            or session.invalidated
            or data.get("token") != fake.token
            or missed_too_much
            or expired
        ):
            fake.invalid_sessions.append(str(data.get("session_id")))
            if expired and session is not None:
                session.invalidated = True
            # d=false: not resumable, the client must IDENTIFY afresh.
            await conn.send({"op": OP_INVALID_SESSION, "s": None, "t": None, "d": False})
            return
        await session.resume_on(conn, seq if isinstance(seq, int) else None)
        fake.changes.notify()
