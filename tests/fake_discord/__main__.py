"""Runs the fake as its own process for benchmarks: prints one JSON line with its URLs, then serves."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from .server import FakeDiscord


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_discord", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--guilds", type=int, default=1)
    parser.add_argument("--token", default="fake-bot-token")
    parser.add_argument("--application-id", type=int, default=None)
    parser.add_argument("--shards", type=int, default=1, help="what GET /gateway/bot recommends")
    parser.add_argument("--heartbeat-ms", type=int, default=41250)
    parser.add_argument("--interaction-window", type=float, default=3.0)
    parser.add_argument("--no-validate", action="store_true", help="skip OpenAPI validation (faster)")
    parser.add_argument(
        "--rate-limits", action="store_true", help="emulate Discord's global and per-route rate limits"
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    fake = FakeDiscord(
        args.guilds,
        token=args.token,
        application_id=args.application_id,
        host=args.host,
        port=args.port,
        heartbeat_interval_ms=args.heartbeat_ms,
        interaction_window=args.interaction_window,
        recommended_shards=args.shards,
        validate=not args.no_validate,
        rate_limits=args.rate_limits,
    )
    async with fake:
        info = {
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
            "control_base": f"{fake.base_url}/_control",
            "port": fake.port,
            "token": fake.token,
            "application_id": str(fake.application_id),
            "bot_user_id": str(fake.bot_user_id),
            "guilds": fake.guild_count,
        }
        # One line, flushed at once: the parent process reads it to learn where to connect.
        print(json.dumps(info), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
