"""The pacer of announcement posts (bot/pacing.py): its window arithmetic against a tiny aiohttp server
that enforces a global limit in fixed windows exactly as the fake Discord does, seen through a real
aiohttp trace; then the whole bot fanning a milestone out to hundreds of servers through the fake
Discord with Discord's rate limits on, while fans keep asking."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.clock import ManualClock
from bot.facts import Fact
from bot.pacing import EPSILON, MIN_BUDGET, Pacer, bucket_key, is_exempt, rest_path
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.ratelimits import RateLimiter, RateLimits, global_limit_answer
from tests.harness import TOKEN, make_settings, running_bot
from tests.test_announce import START

LIMIT, WINDOW = 5, 0.2  # the tiny server's global limit: 5 requests per fixed 0.2 s window
FULL_CHANNEL = "7"
LATE = 0.05


@dataclass
class TinyDiscord:
    """Answers /api/v10 requests, counting the non-exempt ones against a global limit in fixed windows
    that open with the first request after the last one ended (the fake Discord's RateLimiter)."""

    base: str = ""
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(RateLimits(LIMIT, WINDOW)))
    answered: int = 0
    global_429s: int = 0
    exempt_seen: int = 0
    late: Callable[[int], bool] | None = None  # which posts arrive LATE seconds after they were sent

    async def limited(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel_id"]
        if self.late is not None and self.late(int(channel)):
            # Held up on its way (a busy event loop, a slow hop): it arrives, and counts, this much later.
            await asyncio.sleep(LATE)
        retry_after = self.limiter.check_global("Bot token", time.monotonic())
        if retry_after is not None:
            self.global_429s += 1
            body, headers = global_limit_answer(retry_after)
            return web.json_response(body, status=429, headers=headers)
        self.answered += 1
        headers = {}
        if channel == FULL_CHANNEL:  # this channel's bucket is used up
            headers = {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": "30.000",
            }
        return web.json_response({"id": "1"}, headers=headers)

    async def exempt(self, request: web.Request) -> web.Response:
        self.exempt_seen += 1
        return web.Response(status=204)

    async def global_in_body_only(self, request: web.Request) -> web.Response:
        body = {"message": "You are being rate limited.", "retry_after": 0.25, "global": True}
        return web.json_response(body, status=429, headers={"Retry-After": "1"})


@pytest.fixture
async def tiny() -> AsyncIterator[TinyDiscord]:
    server = TinyDiscord()
    app = web.Application()
    app.router.add_post("/api/v10/channels/{channel_id}/messages", server.limited)
    app.router.add_post("/api/v10/interactions/{id}/{token}/callback", server.exempt)
    app.router.add_post("/api/v10/webhooks/{application_id}/{token}", server.exempt)
    app.router.add_get("/api/v10/guilds/{guild_id}", server.global_in_body_only)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base = f"http://127.0.0.1:{port}/api/v10"
    try:
        yield server
    finally:
        await runner.cleanup()


def test_what_counts_against_the_global_limit() -> None:
    assert rest_path("https://discord.com/api/v10/channels/1/messages?x=1") == "/channels/1/messages"
    assert rest_path("wss://gateway.discord.gg/?v=10&encoding=json") is None  # the gateway: not REST
    assert is_exempt("/interactions/123/aW50ZXJhY3Rpb24abc/callback")
    assert is_exempt("/webhooks/456/aW50ZXJhY3Rpb24abc/messages/@original")  # a follow-up
    assert not is_exempt("/webhooks/456")  # a bot-authorised webhook route counts
    assert not is_exempt("/channels/1/messages")
    assert bucket_key("POST", "/channels/1/messages") == ("POST", "/channels/{id}/messages", "1")


async def test_a_slot_counts_once_from_its_grant_to_a_window_after_its_answer(tiny: TinyDiscord) -> None:
    window = 30.0  # long enough that nothing stops counting while the test runs
    pacer = Pacer(limit=1000, window=window, headroom=0)  # slots 30 ms apart
    async with aiohttp.ClientSession(trace_configs=[pacer.trace]) as session:
        await pacer.slot()
        assert pacer.occupied() == 1  # handed out, not sent yet
        async with session.post(f"{tiny.base}/channels/1/messages") as response:
            assert response.status == 200
        answered_at = asyncio.get_running_loop().time()
        assert pacer.occupied() == 1  # the same slot: sent and answered, it counts for a window more
        for path in ("/interactions/9/tok/callback", "/webhooks/8/tok"):
            async with session.post(f"{tiny.base}{path}") as response:
                assert response.status == 204
        assert (pacer.counted, pacer.exempt, pacer.occupied()) == (1, 2, 1)  # exempt: not counted
        async with session.post(f"{tiny.base}/channels/2/messages") as response:  # not the announcer's
            assert response.status == 200
        assert (pacer.counted, pacer.occupied()) == (2, 2)  # other traffic takes its share too
        # A window after the first answer, that request no longer counts (the second still does).
        assert pacer.occupied(answered_at + window + EPSILON) == 1

    async def unused() -> int:
        await pacer.slot()  # and the task ends without sending
        return pacer.occupied()

    assert await asyncio.create_task(unused()) == 3
    await asyncio.sleep(0)  # one turn of the loop: a finished task's done callbacks run
    assert pacer.occupied() == 2  # given back when its task ended


async def test_many_posts_fill_every_window_and_none_is_refused(tiny: TinyDiscord) -> None:
    """60 posts from 20 workers, with interaction callbacks sent all the while, against fixed windows of
    5 requests that open whenever the first request after the last window arrives, while every other
    window's worth of posts arrives late: not one 429. (Counting only send times in a sliding window,
    the pacer lets the prompt posts after a late window's into that window, and gets 429s.)"""
    tiny.late = lambda number: (number // LIMIT) % 2 == 0
    pacer = Pacer(limit=LIMIT, window=WINDOW, headroom=0)
    posts = iter(range(60))
    async with aiohttp.ClientSession(trace_configs=[pacer.trace]) as session:

        async def worker() -> None:
            for number in posts:
                await pacer.slot()
                async with session.post(f"{tiny.base}/channels/{number}/messages") as response:
                    assert response.status == 200, await response.text()
                # A callback between posts: exempt, so it never waits and never takes a post's place.
                async with session.post(f"{tiny.base}/interactions/{number}/tok/callback") as response:
                    assert response.status == 204

        await asyncio.gather(*(worker() for _ in range(20)))
    assert (tiny.answered, tiny.global_429s, tiny.exempt_seen) == (60, 0, 60)
    assert (pacer.counted, pacer.exempt, pacer.global_429s, pacer.budget) == (60, 60, 0, LIMIT)


async def test_a_global_429_stops_every_slot_for_its_retry_after_and_lowers_the_budget(
    tiny: TinyDiscord,
) -> None:
    window = 2.0  # long enough that the posts below all fall in the server's first window
    tiny.limiter = RateLimiter(RateLimits(LIMIT, window))
    pacer = Pacer(limit=LIMIT + 3, window=window, headroom=0)  # believes in more than the server allows
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(trace_configs=[pacer.trace]) as session:
        statuses = []
        for number in range(LIMIT + 2):
            await pacer.slot()
            sent_at = loop.time()
            async with session.post(f"{tiny.base}/channels/{number}/messages") as response:
                statuses.append(response.status)
                if response.status == 429:
                    retry_after, answered_at = (await response.json())["retry_after"], loop.time()
                    # Every slot now waits out the Retry-After, as long as the server said.
                    assert sent_at + retry_after <= pacer.blocked_until <= answered_at + retry_after
        # One 429 only: the post after it waited for the server's window to end, and was accepted.
        assert statuses == [200] * LIMIT + [429, 200]
        assert tiny.global_429s == pacer.global_429s == 1
        assert pacer.budget == LIMIT + 2  # lowered by one (a tenth, at least one)
        # A 429 that says "global" only in its body is one too; the body's precise retry_after is used
        # (not the header's whole second).
        before = loop.time()
        async with session.get(f"{tiny.base}/guilds/1") as response:
            assert response.status == 429
            assert (await response.json())["global"] is True  # discord.py still reads the body after us
        assert before + 0.25 <= pacer.blocked_until <= loop.time() + 0.25
        assert (pacer.global_429s, pacer.budget) == (2, max(MIN_BUDGET, LIMIT + 1))


async def test_a_full_channel_bucket_holds_up_that_channel_only(tiny: TinyDiscord) -> None:
    pacer = Pacer(limit=LIMIT, window=WINDOW, headroom=0)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(trace_configs=[pacer.trace]) as session:
        before = loop.time()
        async with session.post(f"{tiny.base}/channels/{FULL_CHANNEL}/messages") as response:
            assert response.status == 200  # X-RateLimit-Remaining 0, Reset-After 30
        assert before + 30 <= pacer.bucket_free_at(int(FULL_CHANNEL)) <= loop.time() + 30
        assert pacer.bucket_free_at(8) == 0.0
        waiting = asyncio.create_task(pacer.slot(channel_id=int(FULL_CHANNEL)))
        await pacer.slot(channel_id=8)  # not held up behind the full channel
        assert not waiting.done()
        waiting.cancel()


# --- the whole bot --------------------------------------------------------------------------------

SERVERS = 300
ASK_EVERY = 25  # posts between the slash commands sent during the fan-out


async def test_a_fan_out_under_discords_limits_gets_no_429_and_fans_are_answered_meanwhile(
    canon_dir: Path, tmp_path: Path
) -> None:
    async with FakeDiscord(guilds=SERVERS, token=TOKEN, rate_limits=True) as fake:
        with fake.point_discord_py_here():
            big = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=())
            async with running_bot(big, fake, ManualClock(START)) as bot:
                for guild_id in fake.guild_ids:
                    await bot.store.servers.save(
                        GuildSettings(guild_id, channel_id=fake.guild(guild_id).channel_id)
                    )
                fact = Fact("premiere", "2026-12-24", "https://example.org/date", "2026-11-20")
                await bot.store.facts.edit("season-2", "premiere", "", fact, "mod (1)")  # 30 days: due now
                asks = itertools.cycle(
                    [
                        lambda g: fake.invoke_command("citadel", subcommand="diana", guild_id=g),
                        lambda g: fake.invoke_command(
                            "citadel", subcommand="search", options={"query": "Milan"}, guild_id=g
                        ),
                        lambda g: fake.invoke_command("citadel", subcommand="countdown", guild_id=g),
                        lambda g: fake.send_autocomplete(
                            "citadel", subcommand="show", option="entry", value="ital", guild_id=g
                        ),
                    ]
                )
                records: list[InteractionRecord] = []
                posted_when_answered: list[int] = []
                for count in range(ASK_EVERY, SERVERS - 2 * ASK_EVERY, ASK_EVERY):
                    await fake.wait_for_requests("POST", "/channels/*/messages", count=count, timeout=30)
                    record = await next(asks)(fake.guild_ids[count])
                    await record.wait_response()
                    records.append(record)
                    posted_when_answered.append(_posts(fake))
                for guild_id in fake.guild_ids:
                    await fake.wait_for_message(fake.guild(guild_id).channel_id, count=1, timeout=30)
                await bot.announcer.settled()

                counts = [
                    sum(1 for m in fake.messages[fake.guild(g).channel_id] if m["type"] == 0)
                    for g in fake.guild_ids
                ]
                assert counts == [1] * SERVERS  # every server exactly one post
                assert len(await bot.store.outbox.deliveries(status="sent")) == SERVERS
                assert fake.rate_limited == []  # not one 429, global or per channel
                assert (bot.pacer.global_429s, bot.pacer.route_429s, bot.pacer.budget) == (0, 0, 50)
                # Every request the bot made was counted, but for the answers: those go out through
                # a session of their own, which the pacer does not see (they are exempt).
                assert bot.pacer.counted == sum(1 for r in fake.requests if not _exempt(r.path))
                assert bot.pacer.exempt == 0
                assert sum(1 for r in fake.requests if r.path.startswith("/interactions/")) == len(records)
                # The fans asked while posts were still going out, and each answer came inside
                # Discord's 3-second window.
                assert len(records) == 9 and max(posted_when_answered) < SERVERS
                for record in records:
                    assert not record.rejected and record.latency is not None
                    assert record.latency <= fake.interaction_window
            assert fake.invalid_requests == [] and fake.errors == []


def _posts(fake: FakeDiscord) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("/messages"))


def _exempt(path: str) -> bool:
    return path.startswith(("/interactions/", "/webhooks/"))
