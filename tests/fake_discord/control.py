"""A small loopback HTTP control API (/_control/...) so another process can drive and inspect the fake."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .interactions import FIRST_GUILD

if TYPE_CHECKING:
    from .interactions import InteractionRecord
    from .server import FakeDiscord


def _summary(rec: InteractionRecord) -> dict[str, Any]:
    return {
        "interaction_id": str(rec.id),
        "type": rec.type,
        "latency": rec.latency,
        "response": rec.callback,
        "original": rec.original,
        "original_edits": len(rec.original_edits),
        "followups": rec.followups,
        "rejected": [{"status": s, "body": b} for s, b in rec.rejected],
    }


def add_control_routes(app: web.Application, fake: FakeDiscord) -> None:
    async def body_of(request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return data

    def guild_arg(body: dict[str, Any]) -> Any:
        if "guild_id" not in body:
            return FIRST_GUILD
        return None if body["guild_id"] is None else int(body["guild_id"])

    async def invoke(request: web.Request) -> web.Response:
        body = await body_of(request)
        try:
            rec = await fake.invoke_command(
                body["name"],
                subcommand=body.get("subcommand"),
                options=body.get("options") or {},
                guild_id=guild_arg(body),
                channel_id=int(body["channel_id"]) if body.get("channel_id") else None,
                user=int(body["user_id"]) if body.get("user_id") else None,
                permissions=body.get("permissions"),
                locale=body.get("locale", "en-US"),
                command_id=int(body["command_id"]) if body.get("command_id") else None,
            )
        except (LookupError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if body.get("wait", True):
            timeout = float(body.get("timeout", 5.0))
            try:
                await rec.wait_response(timeout)
                if body.get("wait_answer"):
                    await rec.wait_answer(timeout)
            except TimeoutError as exc:
                return web.json_response({"error": str(exc), **_summary(rec)}, status=504)
        return web.json_response(_summary(rec))

    async def autocomplete(request: web.Request) -> web.Response:
        body = await body_of(request)
        try:
            rec = await fake.send_autocomplete(
                body["name"],
                option=body["option"],
                value=body.get("value", ""),
                subcommand=body.get("subcommand"),
                options=body.get("options") or {},
                guild_id=guild_arg(body),
            )
            response = await rec.wait_response(float(body.get("timeout", 5.0)))
        except (LookupError, ValueError, TimeoutError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"choices": (response.get("data") or {}).get("choices"), **_summary(rec)})

    async def interaction(request: web.Request) -> web.Response:
        rec = fake.interactions.get(int(request.match_info["id"]))
        if rec is None:
            return web.json_response({"error": "unknown interaction"}, status=404)
        return web.json_response(_summary(rec))

    async def messages(request: web.Request) -> web.Response:
        channel = request.query.get("channel")
        if channel is None:
            return web.json_response({str(k): v for k, v in fake.messages.items()})
        return web.json_response(fake.messages.get(int(channel), []))

    async def commands(request: web.Request) -> web.Response:
        scope = request.query.get("scope", "global")
        return web.json_response(fake.commands(scope if scope == "global" else int(scope)))

    async def state(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "guilds": fake.guild_count,
                "connections": len(fake.connections),
                "identifies": [{k: v for k, v in i.items() if k != "token"} for i in fake.identifies],
                "resumes": [{k: v for k, v in r.items() if k != "token"} for r in fake.resumes],
                "syncs": [
                    {"scope": str(s.scope), "commands": len(s.body), "time": s.time} for s in fake.syncs
                ],
                "requests": len(fake.requests),
                "invalid_requests": [
                    {"method": i.method, "path": i.path, "messages": i.messages}
                    for i in fake.invalid_requests
                ],
                "unknown_routes": fake.unknown_routes,
                "interactions": len(fake.interactions),
                "rate_limited": [
                    {"method": m, "path": path, "scope": scope, "time": t}
                    for m, path, scope, t in fake.rate_limited
                ],
                "errors": fake.errors,
                "ready_shards": sorted(s.shard_id for s in fake.shard_sessions.values() if s.guilds_sent),
            }
        )

    async def ready(request: web.Request) -> web.Response:
        shard = int(request.query.get("shard", "0"))
        timeout = float(request.query.get("timeout", "30"))
        try:
            session = await fake.wait_for_ready(shard, timeout)
        except TimeoutError as exc:
            return web.json_response({"error": str(exc)}, status=504)
        return web.json_response({"shard": shard, "session_id": session.id})

    async def dispatches_read(request: web.Request) -> web.Response:
        shard = request.query.get("shard")
        timeout = float(request.query.get("timeout", "30"))
        try:
            await fake.wait_for_dispatches_read(None if shard is None else int(shard), timeout)
        except LookupError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        except TimeoutError as exc:
            return web.json_response({"error": str(exc)}, status=504)
        return web.json_response({"read": True})

    async def drop(request: web.Request) -> web.Response:
        await fake.drop_connections()
        return web.json_response({"dropped": True})

    async def reconnect(request: web.Request) -> web.Response:
        await fake.send_reconnect()
        return web.json_response({"sent": True})

    async def requests(request: web.Request) -> web.Response:
        return web.json_response([dataclasses.asdict(r) for r in fake.requests])

    app.router.add_post("/_control/invoke", invoke)
    app.router.add_post("/_control/autocomplete", autocomplete)
    app.router.add_get("/_control/interactions/{id}", interaction)
    app.router.add_get("/_control/messages", messages)
    app.router.add_get("/_control/commands", commands)
    app.router.add_get("/_control/state", state)
    app.router.add_get("/_control/ready", ready)
    app.router.add_get("/_control/dispatches_read", dispatches_read)
    app.router.add_get("/_control/requests", requests)
    app.router.add_post("/_control/drop", drop)
    app.router.add_post("/_control/reconnect", reconnect)
