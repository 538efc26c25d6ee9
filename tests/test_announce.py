"""Countdowns and change updates through the fake Discord, with a clock the test moves.

Numbers of posts are asserted exactly: every milestone once at its time, nothing twice after a
restart, one post per entry per settling window."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.__main__ import open_store
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Fact
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord
from tests.harness import HOME, MANAGE_GUILD, OTHER, assert_ephemeral_line, bot_process, running_bot

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PREMIERE = "2026-12-24"  # 29.5 days after START
PREMIERE_AT = datetime(2026, 12, 24, tzinfo=UTC)
SOURCE = "https://example.org/season-2-date"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def bot(settings: Settings, fake: FakeDiscord, clock: ManualClock) -> AsyncIterator[CitadelBot]:
    async with running_bot(settings, fake, clock) as running:
        yield running


async def subscribe(
    fake: FakeDiscord, guild_id: int = HOME.id, channel_id: int = HOME.channel_id
) -> dict[str, Any]:
    record = await fake.invoke_command(
        "announce",
        subcommand="channel",
        options={"channel": channel_id},
        guild_id=guild_id,
        permissions=MANAGE_GUILD,
    )
    return await record.wait_response()


async def set_premiere(bot: CitadelBot, value: str, slug: str = "season-2") -> None:
    """A moderator's edit, through the store as /fact edit makes it."""
    await bot.store.facts.edit(slug, "premiere", "", Fact("premiere", value, SOURCE, "2026-11-20"), "mod (1)")


def posted_bodies(fake: FakeDiscord, channel_id: int = HOME.channel_id) -> list[dict[str, Any]]:
    """The bodies the bot sent to create messages in the channel (what Discord was asked to do)."""
    path = f"/channels/{channel_id}/messages"
    return [r.json for r in fake.requests if r.method == "POST" and r.path.endswith(path) and r.status == 200]


def titles(fake: FakeDiscord, channel_id: int = HOME.channel_id) -> list[str]:
    return [m["embeds"][0]["title"] for m in fake.messages.get(channel_id, [])]


async def posts(
    bot: CitadelBot, fake: FakeDiscord, count: int, channel_id: int = HOME.channel_id
) -> list[str]:
    """Wait for `count` posts in the channel, then for the scheduler to have done everything due: no more
    will come, and there are exactly `count`."""
    await fake.wait_for_message(channel_id, count=count, timeout=10)
    await bot.announcer.settled()
    assert len(fake.messages[channel_id]) == count, titles(fake, channel_id)
    return titles(fake, channel_id)


async def first_two_posts(bot: CitadelBot, fake: FakeDiscord, clock: ManualClock) -> None:
    """Subscribe, date the premiere, and let the 30-day countdown and the change update post."""
    await subscribe(fake)
    await set_premiere(bot, PREMIERE)
    await advance(bot, clock, START + timedelta(seconds=150))
    await posts(bot, fake, 2)


async def advance(bot: CitadelBot, clock: ManualClock, to: datetime) -> None:
    """Move the clock, and let the running bot's scheduler do everything due by then."""
    clock.set(to)
    await bot.announcer.settled()


async def test_every_milestone_posts_once_at_its_time(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe(fake)
    await set_premiere(bot, PREMIERE)
    # The 30-day milestone passed 12 hours ago and is fresh: it posts now. The change posts after settling.
    assert await posts(bot, fake, 1) == ["Citadel season 2 premieres in 30 days"]
    await advance(bot, clock, START + timedelta(seconds=120))
    assert (await posts(bot, fake, 2))[1] == "Premiere date confirmed: Citadel season 2"

    expected = ["in 14 days", "in 7 days", "in 3 days", "tomorrow", "today"]
    for n, (days, words) in enumerate(zip((14, 7, 3, 1, 0), expected, strict=True), start=3):
        await advance(bot, clock, PREMIERE_AT - timedelta(days=days) - timedelta(seconds=1))
        assert len(fake.messages[HOME.channel_id]) == n - 1  # not a second early
        await advance(bot, clock, PREMIERE_AT - timedelta(days=days))
        assert (await posts(bot, fake, n))[-1] == f"Citadel season 2 premieres {words}"

    await advance(bot, clock, PREMIERE_AT + timedelta(days=40))
    assert len(await posts(bot, fake, 7)) == 7
    post = fake.messages[HOME.channel_id][2]
    stamp = int(PREMIERE_AT.timestamp())
    assert post["embeds"][0]["description"].startswith(f"Premiere: <t:{stamp}:F> (<t:{stamp}:R>)")
    assert post["content"] == ""
    sent = posted_bodies(fake)
    assert len(sent) == 7 and all(b["allowed_mentions"] == {"parse": []} for b in sent)
    assert len({b["nonce"] for b in sent}) == 7 and all(b["enforce_nonce"] for b in sent)


async def test_a_restart_between_milestones_posts_nothing_twice(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await first_two_posts(bot, fake, clock)
    clock.set(START + timedelta(days=3))  # while the bot is down
    async with running_bot(settings, fake, clock) as bot:
        await bot.announcer.settled()
        assert len(fake.messages[HOME.channel_id]) == 2
        await advance(bot, clock, PREMIERE_AT - timedelta(days=14))
        assert (await posts(bot, fake, 3))[-1] == "Citadel season 2 premieres in 14 days"


async def test_downtime_across_three_milestones_posts_only_the_latest(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await first_two_posts(bot, fake, clock)
    # Down while the 14-, 7- and 3-day milestones pass; back 1 day after the 3-day one.
    clock.set(PREMIERE_AT - timedelta(days=2))
    async with running_bot(settings, fake, clock) as bot:
        assert (await posts(bot, fake, 3))[-1] == "Citadel season 2 premieres in 3 days"
    # Down again across the 1-day milestone and the premiere day, back 2 days after the 1-day one:
    # both are older than their own length, so nothing posts.
    clock.set(PREMIERE_AT + timedelta(days=1, hours=1))
    async with running_bot(settings, fake, clock) as bot:
        await bot.announcer.settled()
        assert len(fake.messages[HOME.channel_id]) == 3


async def test_a_date_change_re_arms_the_milestones(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await first_two_posts(bot, fake, clock)
    await set_premiere(bot, "2027-01-20")
    await advance(bot, clock, START + timedelta(seconds=300))
    moved = await posts(bot, fake, 3)
    assert moved[-1] == "Premiere moved: Citadel season 2"
    change = fake.messages[HOME.channel_id][-1]["embeds"][0]["description"]
    old, new = int(PREMIERE_AT.timestamp()), int(datetime(2027, 1, 20, tzinfo=UTC).timestamp())
    assert (
        f"**Premiere**: <t:{old}:D> (<t:{old}:R>) → <t:{new}:D> (<t:{new}:R>) (example.org, 2026-11-20)"
        in change
    )
    # The old date's 14-day milestone (10 December) no longer posts; the new date's 30-day one does.
    await advance(bot, clock, datetime(2026, 12, 10, 1, tzinfo=UTC))
    assert len(fake.messages[HOME.channel_id]) == 3
    await advance(bot, clock, datetime(2026, 12, 21, tzinfo=UTC))
    assert (await posts(bot, fake, 4))[-1] == "Citadel season 2 premieres in 30 days"


async def test_five_edits_in_the_window_post_one_update(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe(fake)
    edits = [("episodes", "7"), ("showrunner", "Gina Gardini"), ("network", "Prime Video (worldwide)"),
             ("status", "renewed"), ("episodes", "8")]  # fmt: skip
    for n, (field, value) in enumerate(edits):
        current = next(f for f in await bot.store.facts.for_entry("diana") if f.field == field)
        fact = Fact(field, value, SOURCE, "2026-11-20", key=current.key)
        await bot.store.facts.edit("diana", field, current.key, fact, "mod (1)")
        await advance(bot, clock, START + timedelta(seconds=20 * (n + 1)))
    assert fake.messages.get(HOME.channel_id, []) == []  # still settling
    await advance(bot, clock, START + timedelta(seconds=121))
    (title,) = await posts(bot, fake, 1)
    assert title == "Citadel: Diana: what changed"
    text = fake.messages[HOME.channel_id][0]["embeds"][0]["description"]
    assert "**Episodes**: 6 → 8" in text  # two edits of one fact: first old, last new
    assert (
        "**Status**: cancelled → renewed" in text
        and "**Network**: Prime Video → Prime Video (worldwide)" in text
    )
    assert "Showrunner" in text and "Everything known: </citadel diana:" in text
    assert text.count("**") == 2 * 4  # four facts changed


async def test_role_pings_only_that_role_and_updates_can_be_turned_off(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe(fake)
    role_id = HOME.bot_role_id
    record = await fake.invoke_command("announce", subcommand="role", options={"role": role_id}, guild_id=HOME.id,
                                       permissions=MANAGE_GUILD)  # fmt: skip
    assert "Posts will ping" in (await record.wait_response())["data"]["content"]
    await set_premiere(bot, PREMIERE)
    (post,) = await fake.wait_for_message(HOME.channel_id, count=1)
    assert post["content"] == f"<@&{role_id}>"
    (body,) = posted_bodies(fake)
    assert body["allowed_mentions"]["parse"] == [] and body["allowed_mentions"]["roles"] == [role_id]
    record = await fake.invoke_command("announce", subcommand="updates", options={"state": "off"}, guild_id=HOME.id,
                                       permissions=MANAGE_GUILD)  # fmt: skip
    await record.wait_response()
    await advance(bot, clock, START + timedelta(seconds=200))
    assert titles(fake) == ["Citadel season 2 premieres in 30 days"]  # the change update was not posted


async def test_status_and_preview_show_the_next_three_posts(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe(fake)
    await set_premiere(bot, PREMIERE)
    await fake.wait_for_message(HOME.channel_id, count=1)
    record = await fake.invoke_command(
        "announce", subcommand="status", guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    status = (await record.wait_response())["data"]["embeds"][0]["description"]
    assert (
        f"**Channel:** <#{HOME.channel_id}>" in status and "**Milestones:** 30, 14, 7, 3, 1, 0 days" in status
    )
    lines = status.split("**Next posts:**\n")[1].splitlines()
    expected = []
    for days in (14, 7, 3):
        stamp = int((PREMIERE_AT - timedelta(days=days)).timestamp())
        expected.append(f"<t:{stamp}:F> (<t:{stamp}:R>): Citadel season 2 premieres in {days} days")
    assert lines == expected

    record = await fake.invoke_command(
        "announce", subcommand="preview", guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    preview = (await record.wait_response())["data"]
    assert [e["title"] for e in preview["embeds"]] == [
        "Citadel season 2 premieres in 14 days", "Citadel season 2 premieres in 7 days",
        "Citadel season 2 premieres in 3 days",
    ]  # fmt: skip
    assert preview["flags"] & 64


async def test_only_server_managers_change_announcements(
    bot: CitadelBot, fake: FakeDiscord, settings: Settings
) -> None:
    for sub, options in (
        ("channel", {"channel": HOME.channel_id}),
        ("off", {}),
        ("milestones", {"days": "1"}),
    ):
        record = await fake.invoke_command(
            "announce", subcommand=sub, options=options, guild_id=HOME.id, permissions=0
        )
        assert_ephemeral_line(await record.wait_response(), "Only members with the Manage Server permission")
    assert (await bot.store.servers.get(HOME.id)) == GuildSettings(HOME.id)
    record = await fake.invoke_command("announce", subcommand="milestones", options={"days": "7, x"},
                                       guild_id=HOME.id, permissions=MANAGE_GUILD)  # fmt: skip
    assert_ephemeral_line(await record.wait_response(), "whole numbers of days", "Nothing was changed")


async def test_countdown_on_demand(bot: CitadelBot, fake: FakeDiscord) -> None:
    record = await fake.invoke_command("citadel", subcommand="countdown", options={"entry": "season 2"})
    embed = (await record.wait_response())["data"]["embeds"][0]
    assert embed["title"] == "Citadel season 2"
    assert embed["description"].startswith("Premiere: expected Q2 2026, not confirmed [1]")
    await set_premiere(bot, PREMIERE)
    record = await fake.invoke_command("citadel", subcommand="countdown")
    embed = (await record.wait_response())["data"]["embeds"][0]
    stamp = int(PREMIERE_AT.timestamp())
    assert embed["title"] == "Upcoming premieres"
    assert embed["fields"] == [
        {"name": "Citadel season 2", "value": f"premieres <t:{stamp}:F> (<t:{stamp}:R>)", "inline": False}
    ]


async def test_a_thousand_servers_get_exactly_one_post_each(
    settings: Settings, canon_dir: Any, tmp_path: Any, clock: ManualClock
) -> None:
    from dataclasses import replace

    from tests.harness import make_settings

    async with FakeDiscord(guilds=1000, token=settings.discord_token or "") as big:
        with big.point_discord_py_here():
            big_settings = replace(
                make_settings(tmp_path, canon_dir, big), home_guild_ids=(), announce_rate=45.0
            )
            async with running_bot(big_settings, big, clock) as bot:
                outbox = bot.store.outbox
                for guild_id in big.guild_ids:
                    await bot.store.servers.save(
                        GuildSettings(guild_id, channel_id=big.guild(guild_id).channel_id)
                    )
                started = asyncio.get_running_loop().time()
                await set_premiere(bot, PREMIERE)
                # Meanwhile (90 posts out, 2 seconds' worth at 45 a second) fans keep asking: every
                # answer arrives inside Discord's 3-second window.
                await big.wait_for_requests("POST", "/channels/*/messages", count=90, timeout=30)
                for _ in range(10):
                    record = await big.invoke_command(
                        "citadel", subcommand="diana", guild_id=big.guild_ids[-1]
                    )
                    assert (await record.wait_response())["data"]["embeds"][0]["title"] == "Citadel: Diana"
                    assert record.latency is not None and not record.rejected
                for guild_id in big.guild_ids:
                    await big.wait_for_message(big.guild(guild_id).channel_id, count=1, timeout=120)
                took = asyncio.get_running_loop().time() - started
                await bot.announcer.settled()
                # Posts only: the fans' slash-command answers in the last server's channel are not posts.
                counts = [
                    sum(1 for m in big.messages[big.guild(g).channel_id] if m["type"] == 0)
                    for g in big.guild_ids
                ]
                assert counts == [1] * 1000
                assert len(await outbox.deliveries(status="sent")) == 1000
                print(f"\n1,000 servers: one milestone post each in {took:.1f} s")
            assert big.invalid_requests == [] and big.errors == []


async def test_a_deleted_channel_and_a_429_storm_do_not_stop_the_others(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    outbox = bot.store.outbox
    for guild in (HOME, OTHER):
        await bot.store.servers.save(GuildSettings(guild.id, channel_id=guild.channel_id))
    await fake.delete_channel(OTHER.channel_id)  # deleted under the bot
    fake.inject_rate_limit(
        f"/channels/{HOME.channel_id}/messages", retry_after=0.2, times=2
    )  # a storm of 429s
    fake.inject_rate_limit("/channels/*/messages", retry_after=0.1, is_global=True, times=1)

    for n in range(1, 5):  # four update batches, an hour apart
        current = next(f for f in await bot.store.facts.for_entry("diana") if f.field == "episodes")
        await bot.store.facts.edit(
            "diana", "episodes", "", Fact("episodes", str(10 + n), SOURCE, "2026-11-20"), "m (1)"
        )
        await advance(bot, clock, START + timedelta(hours=n))
        assert len(await posts(bot, fake, n)) == n
        assert current.value != str(10 + n)

    deliveries = await outbox.deliveries(OTHER.id)
    assert [d.status for d in deliveries] == ["failed"] * 3  # the fourth batch found it paused
    other = await bot.store.servers.get(OTHER.id)
    assert other.paused_at is not None and other.failures == 3
    assert other.problem == f"The channel <#{OTHER.channel_id}> no longer exists (Discord 10003)."
    assert OTHER.channel_id not in fake.messages
    assert (
        sum(1 for r in fake.requests if r.status == 429) == 3
    )  # every 429 was waited out, none dropped a post

    record = await fake.invoke_command(
        "announce", subcommand="status", guild_id=OTHER.id, permissions=MANAGE_GUILD
    )
    status = (await record.wait_response())["data"]["embeds"][0]["description"]
    assert "**Paused** after repeated failures: The channel" in status


async def test_nothing_due_means_the_scheduler_sleeps(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await bot.announcer.settled()
    steps = bot.announcer.steps
    # Nothing is planned: the clock moves a day and the scheduler sleeps on. (The round trip through
    # the bot's event loop lets a wake-up that the move would have caused run first.)
    clock.advance(timedelta(days=1))
    await fake.wait_for_dispatches_read()
    await bot.announcer.settled()
    assert bot.announcer.steps == steps
    await set_premiere(bot, PREMIERE)  # a change wakes it at once, for one step
    await bot.announcer.settled()
    assert bot.announcer.steps == steps + 1
    # The change's update is next due once it has settled (120 s): a minute on, nothing is due yet.
    clock.advance(timedelta(seconds=60))
    await fake.wait_for_dispatches_read()
    await bot.announcer.settled()
    assert bot.announcer.steps == steps + 1
    clock.advance(timedelta(seconds=60))
    await bot.announcer.settled()
    assert bot.announcer.steps == steps + 2


SEND_MESSAGES, EMBED_LINKS = 1 << 11, 1 << 14


async def test_a_channel_the_bot_cannot_post_in_is_refused_with_what_is_missing(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    channel = await fake.add_text_channel(HOME.id, "no-embeds", deny_bot=SEND_MESSAGES | EMBED_LINKS)
    await fake.wait_for_dispatches_read()  # CHANNEL_CREATE is in the bot's cache
    line = assert_ephemeral_line(await subscribe(fake, channel_id=int(channel["id"])), "I can't post in")
    assert "I'm missing Send Messages and Embed Links there" in line and line.endswith("Nothing was changed.")
    assert (await bot.store.servers.get(HOME.id)).channel_id is None
    answer = await subscribe(fake)  # the ordinary channel is fine
    assert answer["data"]["content"] == f"Countdowns and updates will be posted in <#{HOME.channel_id}>."


async def test_premiere_events_are_created_moved_and_cancelled(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe(fake)
    record = await fake.invoke_command("announce", subcommand="events", options={"state": "on"}, guild_id=HOME.id,
                                       permissions=MANAGE_GUILD)  # fmt: skip
    assert (await record.wait_response())["data"]["content"] == "Premiere events are on."
    await set_premiere(bot, PREMIERE)
    await fake.wait_for_message(HOME.channel_id, count=1)
    await bot.announcer.settled()  # events are synced after the posts, in the same step
    (event,) = fake.scheduled_events[HOME.id].values()
    assert event["name"] == "Citadel season 2 premieres" and event["entity_type"] == 3
    assert event["entity_metadata"] == {"location": "Prime Video"}
    assert event["scheduled_start_time"].startswith("2026-12-24T00:00:00")

    await set_premiere(bot, "2027-01-20")
    await bot.announcer.settled()
    (moved,) = fake.scheduled_events[HOME.id].values()
    assert moved["id"] == event["id"] and moved["scheduled_start_time"].startswith("2027-01-20T00:00:00")

    await set_premiere(bot, "Q1 2027")  # no longer known to the day
    await bot.announcer.settled()
    (cancelled,) = fake.scheduled_events[HOME.id].values()
    assert cancelled["status"] == 4


async def test_a_sigkill_after_the_send_and_before_its_mark_posts_nothing_twice(
    settings: Settings, fake: FakeDiscord, tmp_path: Any
) -> None:
    """The bot runs as `python -m bot` (real clock) and is killed while Discord has posted its message
    but not yet answered; the restarted bot sends the same nonce and Discord hands back the first."""
    store = await open_store(settings)
    await store.servers.save(GuildSettings(HOME.id, channel_id=HOME.channel_id))
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()  # the 7-day milestone is due now
    await store.facts.edit(
        "season-2", "premiere", "", Fact("premiere", in_a_week, SOURCE, "2026-11-20"), "mod (1)"
    )
    await store.close()
    fake.hold_replies(HOME.channel_id)

    process = bot_process(settings, settings.discord_token or "", tmp_path, UPDATE_SETTLE_SECONDS="86400")
    try:
        (posted,) = await fake.wait_for_message(HOME.channel_id, count=1, timeout=30)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
    store = await open_store(settings)
    (pending,) = await store.outbox.deliveries(HOME.id)
    assert pending.status == "pending" and pending.message_id is None  # killed between send and mark
    await store.close()

    fake.release_replies(HOME.channel_id)
    async with running_bot(settings, fake) as bot:
        await bot.announcer.settled()  # the restarted scheduler sent it again, and marked it
        (delivery,) = await bot.store.outbox.deliveries(HOME.id)
        assert delivery.status == "sent" and delivery.message_id == int(posted["id"])
    assert [m["id"] for m in fake.messages[HOME.channel_id]] == [posted["id"]]
    assert titles(fake) == ["Citadel season 2 premieres in 7 days"]
    sends = posted_bodies(fake)
    assert len(sends) == 2 and sends[0]["nonce"] == sends[1]["nonce"]  # the retry carried the same nonce
