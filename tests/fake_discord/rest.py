"""The REST API under /api/v10: auth, rate limits, injected failures, validation and the routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiDictProxy

from . import openapi
from .interactions import ALLOWED_CALLBACKS, APPLICATION_COMMAND, InteractionRecord
from .payloads import (
    ATTACH_FILES,
    CREATE_EVENTS,
    EMBED_LINKS,
    EVENT_CANCELED,
    EVENT_COMPLETED,
    EVENT_EXTERNAL,
    EVENT_TRANSITIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MANAGE_EVENTS,
    MANAGE_ROLES,
    MENTION_EVERYONE,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    apply_message_edit,
    message_payload,
    scheduled_event_payload,
    user_payload,
)
from .ratelimits import BucketState, bucket_hash, global_limit_answer

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
FOLLOWUP_WINDOW = 15 * 60  # interaction tokens stay valid for follow-ups this long
NONCE_WINDOW = 5 * 60  # "the past few minutes" of Discord's enforce_nonce


class DiscordError(Exception):
    """Raised by a route to answer with Discord's error shape."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def unknown_role() -> DiscordError:
    return DiscordError(404, 10011, "Unknown Role")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


@dataclass(slots=True)
class RequestRecord:
    method: str
    path: str  # below /api/v10, e.g. "/channels/123/messages"
    status: int
    json: Any
    time: float  # time.time() when it arrived
    query: dict[str, str] = field(default_factory=dict)
    template: str | None = None


@dataclass(slots=True)
class InvalidRequest:
    method: str
    path: str
    body: Any
    messages: list[str]  # jsonschema's (and the extra limits') wording, one per problem
    problems: list[openapi.Problem]


@dataclass(slots=True)
class SyncEvent:
    scope: str | int  # "global" or the guild id
    body: list[dict[str, Any]]
    time: float


@dataclass(slots=True)
class FailureRule:
    """An injected failure: requests whose path matches one of ``globs`` get this answer instead, or,
    with a ``gate``, wait until it is set and are then answered as usual."""

    globs: tuple[str, ...]
    status: int
    body: dict[str, Any]
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # None: forever
    hits: int = 0
    gate: asyncio.Event | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return any(fnmatchcase(path, g) for g in self.globs)


@dataclass(slots=True)
class RestCall:
    method: str
    path: str
    template: str
    params: dict[str, str]
    query: MultiDictProxy[str]
    body: Any
    files: list[dict[str, Any]]
    received_at: float  # time.perf_counter()

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim and would treat
    # "application/json; charset=utf-8" as text.
    response = web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
    response.headers["Content-Type"] = "application/json"
    return response


def _ratelimit_headers(method: str, template: str) -> dict[str, str]:
    """Headers of a roomy bucket, for routes the emulated limits leave alone (or with limits off)."""
    bucket = bucket_hash(method, template)
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
    }


Handler = Callable[["RestAPI", RestCall], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    literals: int
    handler: Handler
    token_auth: bool  # authorised by the token in the path, not the Authorization header


_ROUTES: list[Route] = []
# Paths exempt from the global rate limit (interaction callbacks and webhooks), known routes or not.
_TOKEN_PATHS = ("/interactions/", "/webhooks/")


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        parts, literals = [], 0
        for segment in template.strip("/").split("/"):
            if segment.startswith("{"):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
                literals += 1
        regex = re.compile("^/" + "/".join(parts) + "/?$")
        token_auth = template.startswith(("/interactions/", "/webhooks/{webhook_id}/{webhook_token}"))
        _ROUTES.append(Route(method, template, regex, literals, handler, token_auth))
        _ROUTES.sort(key=lambda r: -r.literals)
        return handler

    return register


class RestAPI:
    """Turns HTTP requests into calls on the fake's in-memory state."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self._operations: dict[tuple[str, str, tuple[str, ...]], openapi.Operation | None] = {}

    # --- plumbing -------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        received_at = time.perf_counter()
        path = "/" + request.match_info["tail"]
        method = request.method
        record = RequestRecord(method, path, 0, None, time.time(), dict(request.query))
        fake.requests.append(record)
        try:
            return await self._handle(request, record, method, path, received_at)
        finally:
            fake.changes.notify()  # wait_for_requests: this one is answered (or failed)

    async def _handle(
        self, request: web.Request, record: RequestRecord, method: str, path: str, received_at: float
    ) -> web.StreamResponse:
        fake = self.fake
        try:
            body, files = await self._read_body(request)
        except DiscordError as exc:
            record.status = exc.status
            return json_response(exc.body(), exc.status)
        record.json = body

        matched = self._match(method, path)
        template = matched[0].template if matched else path
        record.template = matched[0].template if matched else None
        fake.request_times[f"{method} {template}"].append(record.time)
        response = await self._respond(request, method, path, body, files, matched, received_at)
        if "X-RateLimit-Scope" not in response.headers:
            # A 429 carries only its own headers (a global one has no bucket); others get a roomy bucket
            # unless the emulated limits already set the real one.
            for key, value in _ratelimit_headers(method, template).items():
                response.headers.setdefault(key, value)
        record.status = response.status
        return response

    async def _respond(
        self,
        request: web.Request,
        method: str,
        path: str,
        body: Any,
        files: list[dict[str, Any]],
        matched: tuple[Route, dict[str, str]] | None,
        received_at: float,
    ) -> web.StreamResponse:
        fake = self.fake
        if matched is None or not matched[0].token_auth:
            authorization = request.headers.get("Authorization")
            if authorization != f"Bot {fake.token}":
                return json_response({"message": "401: Unauthorized", "code": 0}, 401)
            limiter = fake.rate_limiter
            # Interaction callbacks and webhook routes are exempt from the global limit, as on Discord.
            if limiter is not None and not path.startswith(_TOKEN_PATHS):
                retry_after = limiter.check_global(authorization, time.monotonic())
                if retry_after is not None:
                    fake.rate_limited.append((method, path, "global", time.time()))
                    body_429, headers_429 = global_limit_answer(retry_after)
                    return json_response(body_429, 429, headers_429)
        if matched is None:
            fake.unknown_routes.append((method, path))
            log.warning("fake Discord: unknown route %s %s", method, path)
            return json_response({"message": "404: Not Found", "code": 0}, 404)
        route_, params = matched
        for name, value in params.items():
            # "@original" shares the {message_id} route; every other id must be a number.
            if name.endswith("_id") and not value.isdigit() and value != "@original":
                problem = openapi.Problem((name,), "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
                return json_response(
                    {"code": 50035, "message": "Invalid Form Body", "errors": openapi.error_tree([problem])},
                    400,
                )

        bucket: BucketState | None = None
        if fake.rate_limiter is not None:
            bucket = fake.rate_limiter.take(method, route_.template, params, time.monotonic())
            if bucket is not None and bucket.limited:
                fake.rate_limited.append((method, path, "user", time.time()))
                return json_response(bucket.body(), 429, bucket.headers())
        response = await self._answer(method, path, body, files, route_, params, request, received_at)
        if bucket is not None:
            # Every answer of a limited route tells the client where its bucket stands, errors included.
            response.headers.update(bucket.headers())
        return response

    async def _answer(
        self,
        method: str,
        path: str,
        body: Any,
        files: list[dict[str, Any]],
        route_: Route,
        params: dict[str, str],
        request: web.Request,
        received_at: float,
    ) -> web.StreamResponse:
        """Injected failures, body validation, then the route's handler."""
        fake = self.fake
        for rule in fake.failure_rules:
            if rule.matches(method, path):
                rule.hits += 1
                if rule.gate is None:
                    return json_response(rule.body, rule.status, dict(rule.headers))
                await rule.gate.wait()
                break

        if body is not None:
            problems = self._validate(method, path, route_.template, body)
            if problems:
                fake.invalid_requests.append(
                    InvalidRequest(method, path, body, [p.detail or p.message for p in problems], problems)
                )
                log.warning("fake Discord: invalid body for %s %s: %s", method, path, problems)
                error = {
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": openapi.error_tree(problems),
                }
                rec = (
                    fake.interactions.get(int(params["interaction_id"]))
                    if "interaction_id" in params
                    else None
                )
                if rec is not None:
                    rec.rejected.append((400, error))
                    rec.changes.notify()
                return json_response(error, 400)

        call = RestCall(method, path, route_.template, params, request.query, body, files, received_at)
        try:
            return await route_.handler(self, call)
        except DiscordError as exc:
            return json_response(exc.body(), exc.status)
        except Exception as exc:
            # A bug in the fake. Not a 5xx: discord.py would retry those for seconds; a 4xx fails fast
            # and the message says whose fault it is.
            log.exception("fake Discord crashed on %s %s", method, path)
            fake.record_error(f"REST {method} {path}: {exc!r}")
            return json_response(
                {"message": f"fake Discord internal error (a bug in the fake): {exc!r}", "code": 0}, 400
            )

    @staticmethod
    def _match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in _ROUTES:
            if candidate.method == method:
                m = candidate.regex.match(path)
                if m:
                    return candidate, m.groupdict()
        return None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        if not request.body_exists:
            return None, []
        if request.content_type == "multipart/form-data":
            payload: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]  # multipart parts may nest readers; Discord sends flat ones
                if part.name == "payload_json":  # type: ignore[union-attr]  # as above
                    payload = self._decode(data)
                else:
                    files.append(
                        {"name": part.name, "filename": part.filename, "size": len(data)}  # type: ignore[union-attr]  # as above
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        return self._decode(raw), []

    @staticmethod
    def _decode(raw: bytes | bytearray) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    def _validate(self, method: str, path: str, template: str, body: Any) -> list[openapi.Problem]:
        problems: list[openapi.Problem] = []
        spec = self.fake.spec
        if spec is not None:
            op = self._operation(spec, method, path, template)
            if op is not None:
                problems += spec.check(op, body)
        problems += openapi.discord_limits(method, template, body)
        return openapi.dedupe(problems)

    def _operation(
        self, spec: openapi.OpenAPISpec, method: str, path: str, template: str
    ) -> openapi.Operation | None:
        """The spec's operation for a request, looked up once per route instead of per request.

        A route template matches one spec operation, except where a literal segment ("@original")
        shares a route with an id: those paths are keyed by their non-numeric segments too.
        """
        literals = tuple(seg for seg in path.split("/") if seg.startswith("@"))
        key = (method, template, literals)
        try:
            return self._operations[key]
        except KeyError:
            op = self._operations[key] = spec.find(method, path)
            return op


# --- users, application, gateway ---------------------------------------------------------------------


@route("GET", "/users/@me")
async def get_me(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(api.fake.bot_user)


@route("GET", "/users/{user_id}")
async def get_user(api: RestAPI, call: RestCall) -> web.StreamResponse:
    user_id = int(call.params["user_id"])
    return json_response(api.fake.user(user_id) or user_payload(user_id))


@route("GET", "/oauth2/applications/@me")
async def get_application(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(api.fake.application)


@route("GET", "/applications/@me")
async def get_application_alt(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(api.fake.application)


@route("GET", "/gateway")
async def get_gateway(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response({"url": api.fake.gateway_url})


@route("GET", "/gateway/bot")
async def get_gateway_bot(api: RestAPI, call: RestCall) -> web.StreamResponse:
    fake = api.fake
    return json_response(
        {
            "url": fake.gateway_url,
            "shards": fake.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": max(0, 1000 - len(fake.identifies)),
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }
    )


# --- application commands ---------------------------------------------------------------------------


def _command_scope(api: RestAPI, call: RestCall) -> str | int:
    if int(call.params["application_id"]) != api.fake.application_id:
        raise missing_access()
    guild = call.params.get("guild_id")
    if guild is None:
        return "global"
    if api.fake.guild(int(guild)) is None:
        raise missing_access()
    return int(guild)


@route("GET", "/applications/{application_id}/commands")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(api.fake.commands(_command_scope(api, call)))


@route("PUT", "/applications/{application_id}/commands")
@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def put_commands(api: RestAPI, call: RestCall) -> web.StreamResponse:
    scope = _command_scope(api, call)
    body = call.body if isinstance(call.body, list) else []
    commands = api.fake.replace_commands(scope, body)
    api.fake.syncs.append(SyncEvent(scope, body, time.time()))
    api.fake.changes.notify()
    return json_response(commands)


@route("POST", "/applications/{application_id}/commands")
@route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def upsert_command(api: RestAPI, call: RestCall) -> web.StreamResponse:
    scope = _command_scope(api, call)
    current = [c for c in api.fake.commands(scope)]
    kind = call.body.get("type") or 1
    existed = any(c["name"] == call.body["name"] and c.get("type", 1) == kind for c in current)
    others = [c for c in current if not (c["name"] == call.body["name"] and c.get("type", 1) == kind)]
    commands = api.fake.replace_commands(scope, [*others, call.body])
    created = next(c for c in commands if c["name"] == call.body["name"] and c.get("type", 1) == kind)
    return json_response(created, 200 if existed else 201)


def _find_command(api: RestAPI, scope: str | int, command_id: str) -> dict[str, Any]:
    for command in api.fake.commands(scope):
        if command["id"] == command_id:
            return command
    raise DiscordError(404, 10063, "Unknown application command")


@route("GET", "/applications/{application_id}/commands/{command_id}")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(_find_command(api, _command_scope(api, call), call.params["command_id"]))


@route("DELETE", "/applications/{application_id}/commands/{command_id}")
@route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(api: RestAPI, call: RestCall) -> web.StreamResponse:
    scope = _command_scope(api, call)
    target = _find_command(api, scope, call.params["command_id"])
    api.fake.replace_commands(scope, [c for c in api.fake.commands(scope) if c["id"] != target["id"]])
    return web.Response(status=204)


# --- interactions -------------------------------------------------------------------------------------


@route("POST", "/interactions/{interaction_id}/{interaction_token}/callback")
async def interaction_callback(api: RestAPI, call: RestCall) -> web.StreamResponse:
    fake = api.fake
    rec = fake.interactions.get(int(call.params["interaction_id"]))
    if rec is None or rec.token != call.params["interaction_token"]:
        raise unknown_interaction()
    body = call.body if isinstance(call.body, dict) else {}
    if fake.held_callbacks is not None:  # on its way: taken when the test releases it
        rec.callbacks_held += 1
        rec.changes.notify()
        await fake.held_callbacks.wait()
    try:
        if rec.callback is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if rec.dispatched_at is None or call.received_at - rec.dispatched_at > fake.interaction_window:
            raise unknown_interaction()
        kind = body.get("type")
        if kind not in ALLOWED_CALLBACKS.get(rec.type, frozenset()):
            problem = openapi.Problem(
                ("type",),
                "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Callback type {kind} is not valid for interaction type {rec.type}",
            )
            fake.invalid_requests.append(
                InvalidRequest(call.method, call.path, body, [problem.message], [problem])
            )
            raise DiscordError(400, 50035, "Invalid Form Body", openapi.error_tree([problem]))
    except DiscordError as exc:
        rec.rejected.append((exc.status, exc.body()))
        rec.changes.notify()
        raise

    rec.callback = body
    rec.callback_at = call.received_at
    data = body.get("data") or {}
    resource: dict[str, Any] = {"type": kind}
    if kind in (4, 5):
        extra = FLAG_LOADING if kind == 5 else 0
        message_type = 20 if rec.type == APPLICATION_COMMAND else 0
        message = fake.create_interaction_message(rec, data, message_type=message_type, extra_flags=extra)
        rec.original = message
        resource["message"] = message
    elif kind in (6, 7):
        target = fake.message_by_id(int(rec.payload["message"]["id"])) if "message" in rec.payload else None
        if target is None and "message" in rec.payload:
            target = dict(rec.payload["message"])
        if target is not None:
            if kind == 7:
                apply_message_edit(target, data)
            rec.original = target
            resource["message"] = target
    rec.changes.notify()
    fake.changes.notify()

    if not call.flag("with_response"):
        return web.Response(status=204)
    original = rec.original if kind in (4, 5, 6, 7) else None
    return json_response(
        {
            "interaction": {
                "id": str(rec.id),
                "type": rec.type,
                "activity_instance_id": None,
                "response_message_id": original["id"] if original else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(original and original["flags"] & FLAG_EPHEMERAL),
            },
            "resource": resource,
        }
    )


def _webhook_interaction(api: RestAPI, call: RestCall) -> InteractionRecord:
    fake = api.fake
    rec = fake.interactions_by_token.get(call.params["webhook_token"])
    if rec is None or int(call.params["webhook_id"]) != fake.application_id:
        raise unknown_webhook()
    if rec.age() > FOLLOWUP_WINDOW:
        raise DiscordError(401, 50027, "Invalid Webhook Token")
    if rec.callback is None:
        # Discord knows no webhook for an interaction that was never acknowledged.
        raise unknown_webhook()
    return rec


def _interaction_message(rec: InteractionRecord, message_id: str) -> dict[str, Any]:
    if message_id == "@original" or (rec.original is not None and rec.original["id"] == message_id):
        if rec.original is None or rec.original_deleted:
            raise unknown_message()
        return rec.original
    for message in rec.followups:
        if message["id"] == message_id:
            return message
    raise unknown_message()


@route("POST", "/webhooks/{webhook_id}/{webhook_token}")
async def create_followup(api: RestAPI, call: RestCall) -> web.StreamResponse:
    rec = _webhook_interaction(api, call)
    body = call.body or {}
    original = rec.original
    if original is not None and original["flags"] & FLAG_LOADING and not rec.original_edits:
        # After a deferral the first follow-up replaces the "thinking..." message (Discord's behaviour).
        message = apply_message_edit(original, body)
        message["edited_timestamp"] = None
    else:
        message = api.fake.create_interaction_message(rec, body, message_type=0)
    rec.followups.append(message)
    rec.changes.notify()
    api.fake.changes.notify()
    if call.flag("wait"):
        return json_response(message)
    return web.Response(status=204)


@route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def get_webhook_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    rec = _webhook_interaction(api, call)
    return json_response(_interaction_message(rec, call.params["message_id"]))


@route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def edit_webhook_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    rec = _webhook_interaction(api, call)
    message = _interaction_message(rec, call.params["message_id"])
    apply_message_edit(message, call.body or {})
    if message is rec.original:
        rec.original_edits.append(call.body or {})
    rec.changes.notify()
    api.fake.changes.notify()
    return json_response(message)


@route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def delete_webhook_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    rec = _webhook_interaction(api, call)
    message = _interaction_message(rec, call.params["message_id"])
    if message is rec.original:
        rec.original_deleted = True
    api.fake.delete_message(int(message["channel_id"]), int(message["id"]))
    rec.changes.notify()
    return web.Response(status=204)


# --- channels and messages ----------------------------------------------------------------------------


def _channel(api: RestAPI, call: RestCall) -> dict[str, Any]:
    channel = api.fake.channel(int(call.params["channel_id"]))
    if channel is None:
        raise unknown_channel()
    return channel


@route("GET", "/channels/{channel_id}")
async def get_channel(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(_channel(api, call))


@route("POST", "/channels/{channel_id}/messages")
async def create_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    fake = api.fake
    channel = _channel(api, call)
    body = call.body or {}
    _check_can_send(fake, channel, body, call.files)  # access comes before looking at the message
    if not (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or call.files
        or body.get("sticker_ids")
        or body.get("poll")
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message")
    nonce = body.get("nonce")
    key = (fake.bot_user_id, str(nonce)) if nonce is not None else None
    if key is not None and body.get("enforce_nonce") and fake.dedupe_nonces:
        seen = fake.nonces.get(key)
        if seen is not None and time.time() - seen[0] <= NONCE_WINDOW:
            return json_response(seen[1])
    attachments = [
        {
            "id": str(fake.snowflake()),
            "filename": f["filename"] or "file",
            "size": f["size"],
            "url": f"https://cdn.discordapp.com/attachments/{channel['id']}/0/{f['filename']}",
            "proxy_url": f"https://media.discordapp.net/attachments/{channel['id']}/0/{f['filename']}",
        }
        for f in call.files
    ]
    message = message_payload(
        message_id=fake.snowflake(),
        channel_id=int(channel["id"]),
        author=fake.bot_user_public,
        body=body,
        attachments=attachments,
        message_type=19 if body.get("message_reference") else 0,
    )
    message["mention_roles"] = _mentioned_roles(fake, channel, body)
    fake.store_message(message, guild_id=int(channel["guild_id"]) if "guild_id" in channel else None)
    if key is not None:
        _remember_nonce(fake, key, message)
    await fake.dispatch_message_create(message, channel)
    gate = fake.held_replies.get(int(channel["id"]))
    if gate is not None:  # posted, but the sender has not heard so yet
        await gate.wait()
    return json_response(message)


def cannot_dm() -> DiscordError:
    return DiscordError(403, 50007, "Cannot send messages to this user")


def _check_can_send(
    fake: FakeDiscord, channel: dict[str, Any], body: dict[str, Any], files: list[dict[str, Any]]
) -> None:
    """Refuse a message the bot's permissions in ``channel`` do not allow, with Discord's errors.

    Missing Embed Links with embeds, or Attach Files with files, is answered 403 50013 like missing
    Send Messages. (Discord's answer there has varied; a refusal is the strict reading, and a bot that
    checks its permissions first never meets it.)
    """
    perms = fake.permissions_of(channel)
    if perms is None:  # a DM: no permissions to compute, but the member may have closed their DMs
        if any(int(r["id"]) in fake.closed_dms for r in channel.get("recipients", ())):
            raise cannot_dm()
        return
    if not perms & VIEW_CHANNEL:
        raise missing_access()
    if not perms & SEND_MESSAGES:
        raise missing_permissions()
    if body.get("embeds") and not perms & EMBED_LINKS:
        raise missing_permissions()
    if files and not perms & ATTACH_FILES:
        raise missing_permissions()


_ROLE_MENTION = re.compile(r"<@&([0-9]+)>")


def _mentioned_roles(fake: FakeDiscord, channel: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """The roles a message notifies, as Discord decides: named in its content, allowed by its
    ``allowed_mentions`` (all of them when it has none), and either mentionable by anyone or the
    sender has Mention @everyone, @here and All Roles in the channel."""
    if "guild_id" not in channel:
        return []
    guild_id = int(channel["guild_id"])
    allowed = body.get("allowed_mentions")
    if allowed is None:
        permitted: set[str] | None = None
    elif "roles" in (allowed.get("parse") or []):
        permitted = None
    else:
        permitted = {str(r) for r in allowed.get("roles") or []}
    may_mention_all = bool((fake.permissions_of(channel) or 0) & MENTION_EVERYONE)
    found = []
    for role_id in dict.fromkeys(_ROLE_MENTION.findall(body.get("content") or "")):
        role = fake.find_role(guild_id, int(role_id))
        if role is None or (permitted is not None and role_id not in permitted):
            continue
        if role["mentionable"] or may_mention_all:
            found.append(role_id)
    return found


def _remember_nonce(fake: FakeDiscord, key: tuple[int, str], message: dict[str, Any]) -> None:
    """Store a nonce for enforce_nonce and forget expired ones, O(1) amortised.

    Re-inserting moves the key to the end, so the dict stays ordered by time and expired entries are
    always at the front: 10,000 messages with nonces never make this scan.
    """
    now = time.time()
    nonces = fake.nonces
    nonces.pop(key, None)
    oldest = next(iter(nonces), None)
    if oldest is not None and now - nonces[oldest][0] > NONCE_WINDOW:
        del nonces[oldest]  # one per insert keeps up: the dict never outgrows the window by more than one
    nonces[key] = (now, message)


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(api: RestAPI, call: RestCall) -> web.StreamResponse:
    channel = _channel(api, call)
    limit = max(1, min(100, int(call.query.get("limit", "50"))))
    stored = api.fake.messages.get(int(channel["id"]), [])
    return json_response(list(reversed(stored))[:limit])


def _channel_message(api: RestAPI, call: RestCall) -> dict[str, Any]:
    channel = _channel(api, call)
    message = api.fake.message_by_id(int(call.params["message_id"]))
    if message is None or message["channel_id"] != channel["id"]:
        raise unknown_message()
    return message


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(_channel_message(api, call))


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    message = _channel_message(api, call)
    if message["author"]["id"] != str(api.fake.bot_user_id):
        raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
    apply_message_edit(message, call.body or {})
    api.fake.changes.notify()
    return json_response(message)


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(api: RestAPI, call: RestCall) -> web.StreamResponse:
    message = _channel_message(api, call)
    api.fake.delete_message(int(message["channel_id"]), int(message["id"]))
    return web.Response(status=204)


@route("POST", "/users/@me/channels")
async def create_dm(api: RestAPI, call: RestCall) -> web.StreamResponse:
    body = call.body or {}
    recipient = body.get("recipient_id")
    if recipient is None:
        raise DiscordError(
            400,
            50035,
            "Invalid Form Body",
            {
                "recipient_id": {
                    "_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]
                }
            },
        )
    user = api.fake.user(int(recipient)) or user_payload(int(recipient))
    return json_response(api.fake.dm_channel_for(user))


@route("GET", "/guilds/{guild_id}")
async def get_guild(api: RestAPI, call: RestCall) -> web.StreamResponse:
    payload = api.fake.guild_payload(int(call.params["guild_id"]))
    if payload is None:
        raise DiscordError(404, 10004, "Unknown Guild")
    for key in (
        "channels",
        "members",
        "threads",
        "presences",
        "voice_states",
        "stage_instances",
        "guild_scheduled_events",
        "soundboard_sounds",
        "joined_at",
        "large",
        "member_count",
    ):
        payload.pop(key, None)
    return json_response(payload)


@route("GET", "/guilds/{guild_id}/channels")
async def get_guild_channels(api: RestAPI, call: RestCall) -> web.StreamResponse:
    payload = api.fake.guild_payload(int(call.params["guild_id"]))
    if payload is None:
        raise DiscordError(404, 10004, "Unknown Guild")
    return json_response(payload["channels"])


# --- members ------------------------------------------------------------------------------------------


def _guild_id(api: RestAPI, call: RestCall) -> int:
    guild_id = int(call.params["guild_id"])
    if api.fake.guild(guild_id) is None:
        raise DiscordError(404, 10004, "Unknown Guild")
    return guild_id


@route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(api: RestAPI, call: RestCall) -> web.StreamResponse:
    member = api.fake.member(_guild_id(api, call), int(call.params["user_id"]))
    if member is None:
        raise DiscordError(404, 10007, "Unknown Member")
    return json_response(member)


# --- roles --------------------------------------------------------------------------------------------


def _manageable_role(api: RestAPI, guild_id: int, role_id: int) -> dict[str, Any]:
    """A role the bot may give, take or delete, with Discord's answers otherwise: 404 10011 for a role
    the guild does not have, 403 50013 without Manage Roles or for a role at or above the bot's
    highest role (and for @everyone and the roles integrations manage)."""
    fake = api.fake
    role = fake.find_role(guild_id, role_id)
    if role is None:
        raise unknown_role()
    if not fake.guild_permissions(guild_id) & MANAGE_ROLES:
        raise missing_permissions()
    if role["managed"] or role_id == guild_id or role["position"] >= fake.top_role_position(guild_id):
        raise missing_permissions()
    return role


def _known_member(api: RestAPI, call: RestCall, guild_id: int) -> int:
    user_id = int(call.params["user_id"])
    if api.fake.member(guild_id, user_id) is None:
        raise DiscordError(404, 10007, "Unknown Member")
    return user_id


@route("GET", "/guilds/{guild_id}/roles")
async def list_roles(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(api.fake.roles(_guild_id(api, call)))


@route("POST", "/guilds/{guild_id}/roles")
async def create_role(api: RestAPI, call: RestCall) -> web.StreamResponse:
    """Manage Roles, and no permission the bot has not got itself (Discord refuses both with 403
    50013); at most 250 roles."""
    fake = api.fake
    guild_id = _guild_id(api, call)
    body = call.body or {}
    held = fake.guild_permissions(guild_id)
    if not held & MANAGE_ROLES or int(body.get("permissions") or 0) & ~held:
        raise missing_permissions()
    if len(fake.roles(guild_id)) >= 250:
        raise DiscordError(400, 30005, "Maximum number of guild roles reached (250)")
    return json_response(await fake.create_role(guild_id, body))


@route("DELETE", "/guilds/{guild_id}/roles/{role_id}")
async def delete_role(api: RestAPI, call: RestCall) -> web.StreamResponse:
    guild_id = _guild_id(api, call)
    role_id = int(call.params["role_id"])
    _manageable_role(api, guild_id, role_id)
    await api.fake.delete_role(guild_id, role_id)
    return web.Response(status=204)


def _member_roles(api: RestAPI, call: RestCall) -> tuple[list[int], int]:
    """The roles of the member named in the path (kept by the fake) and the role to give or take, once
    Discord's checks pass (see _manageable_role; 404 10007 for a member the guild does not have)."""
    guild_id = _guild_id(api, call)
    user_id = _known_member(api, call, guild_id)
    role_id = int(call.params["role_id"])
    _manageable_role(api, guild_id, role_id)
    api.fake.changes.notify()
    return api.fake.member_roles[guild_id].setdefault(user_id, []), role_id


@route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_member_role(api: RestAPI, call: RestCall) -> web.StreamResponse:
    held, role_id = _member_roles(api, call)
    if role_id not in held:
        held.append(role_id)
    return web.Response(status=204)


@route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_member_role(api: RestAPI, call: RestCall) -> web.StreamResponse:
    held, role_id = _member_roles(api, call)
    held[:] = [r for r in held if r != role_id]
    return web.Response(status=204)


# --- guild scheduled events -----------------------------------------------------------------------------


def _invalid(api: RestAPI, call: RestCall, problems: list[openapi.Problem]) -> DiscordError:
    """A 400 50035 for problems found by a handler, recorded like those found before it."""
    body = call.body
    api.fake.invalid_requests.append(
        InvalidRequest(call.method, call.path, body, [p.detail or p.message for p in problems], problems)
    )
    return DiscordError(400, 50035, "Invalid Form Body", openapi.error_tree(problems))


def _normalise_times(event: dict[str, Any]) -> None:
    """Discord answers with its own rendering of the times it was sent: UTC, ``+00:00``."""
    for key in ("scheduled_start_time", "scheduled_end_time"):
        value = event.get(key)
        if isinstance(value, str):
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            event[key] = moment.astimezone(dt.UTC).isoformat()


def _event_or_404(api: RestAPI, call: RestCall, guild_id: int) -> dict[str, Any]:
    event = api.fake.scheduled_events.get(guild_id, {}).get(int(call.params["guild_scheduled_event_id"]))
    if event is None:
        raise DiscordError(404, 10070, "Unknown Guild Scheduled Event")
    return event


def _may_manage_event(api: RestAPI, guild_id: int, event: dict[str, Any] | None) -> None:
    """Manage Events, or Create Events for the bot's own events (and to create one), as Discord has it."""
    perms = api.fake.guild_permissions(guild_id)
    if perms & MANAGE_EVENTS:
        return
    own = event is None or event.get("creator_id") == str(api.fake.bot_user_id)
    if own and perms & CREATE_EVENTS:
        return
    raise missing_permissions()


@route("GET", "/guilds/{guild_id}/scheduled-events")
async def list_scheduled_events(api: RestAPI, call: RestCall) -> web.StreamResponse:
    guild_id = _guild_id(api, call)
    return json_response(list(api.fake.scheduled_events.get(guild_id, {}).values()))


# Discord's cap on a server's uncompleted (scheduled or active) events, whoever made them.
MAX_UNCOMPLETED_EVENTS = 100


@route("POST", "/guilds/{guild_id}/scheduled-events")
async def create_scheduled_event(api: RestAPI, call: RestCall) -> web.StreamResponse:
    fake = api.fake
    guild_id = _guild_id(api, call)
    _may_manage_event(api, guild_id, None)
    if fake.uncompleted_events(guild_id) >= MAX_UNCOMPLETED_EVENTS:
        raise DiscordError(
            400,
            30038,
            f"Maximum number of uncompleted guild scheduled events reached ({MAX_UNCOMPLETED_EVENTS})",
        )
    event = scheduled_event_payload(
        event_id=fake.snowflake(), guild_id=guild_id, creator=fake.bot_user_public, body=call.body
    )
    _normalise_times(event)
    fake.scheduled_events[guild_id][int(event["id"])] = event
    await fake.dispatch_scheduled_event("GUILD_SCHEDULED_EVENT_CREATE", event)
    fake.changes.notify()
    return json_response(event)


@route("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def get_scheduled_event(api: RestAPI, call: RestCall) -> web.StreamResponse:
    return json_response(_event_or_404(api, call, _guild_id(api, call)))


_EVENT_FIELDS = (
    "name",
    "description",
    "scheduled_start_time",
    "scheduled_end_time",
    "privacy_level",
    "status",
    "entity_type",
    "channel_id",
    "entity_metadata",
    "recurrence_rule",
)


@route("PATCH", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def edit_scheduled_event(api: RestAPI, call: RestCall) -> web.StreamResponse:
    fake = api.fake
    guild_id = _guild_id(api, call)
    event = _event_or_404(api, call, guild_id)
    _may_manage_event(api, guild_id, event)
    if event["status"] in (EVENT_COMPLETED, EVENT_CANCELED):
        raise DiscordError(400, 180000, "Cannot update a finished event")
    body = call.body or {}
    merged = dict(event)
    for key in _EVENT_FIELDS:
        if key in body and not (key in ("status", "entity_type") and body[key] is None):
            merged[key] = body[key]
    problems = openapi.scheduled_event_problems(merged)
    status = merged["status"]
    if status != event["status"] and status not in EVENT_TRANSITIONS.get(event["status"], ()):
        allowed = sorted(EVENT_TRANSITIONS.get(event["status"], ()))
        problems.append(
            openapi.Problem(
                ("status",),
                "BASE_TYPE_CHOICES",
                f"Value must be one of {allowed}.",
                f"status {event['status']} cannot change to {status}",
            )
        )
    if problems:
        raise _invalid(api, call, problems)
    if merged["entity_type"] == EVENT_EXTERNAL:
        merged["channel_id"] = None
    merged["channel_id"] = None if merged["channel_id"] is None else str(merged["channel_id"])
    _normalise_times(merged)
    event.update(merged)
    await fake.dispatch_scheduled_event("GUILD_SCHEDULED_EVENT_UPDATE", event)
    fake.changes.notify()
    return json_response(event)


@route("DELETE", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def delete_scheduled_event(api: RestAPI, call: RestCall) -> web.StreamResponse:
    fake = api.fake
    guild_id = _guild_id(api, call)
    event = _event_or_404(api, call, guild_id)
    _may_manage_event(api, guild_id, event)
    del fake.scheduled_events[guild_id][int(event["id"])]
    await fake.dispatch_scheduled_event("GUILD_SCHEDULED_EVENT_DELETE", event)
    fake.changes.notify()
    return web.Response(status=204)
