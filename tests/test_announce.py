"""Countdowns and change updates through the fake Discord, with a clock the test moves.

Numbers of posts are asserted exactly: every milestone once at its time, nothing twice after a
restart, one post per entry per settling window."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import open_store
from bot.announcer import Announcer
from bot.canon import load_canon
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Fact
from bot.posts import Posts
from bot.services.announcements import Announcements
from bot.store import Store, put_fact
from bot.store.servers import GuildSettings
from tests.engines import new_database
from tests.fake_discord import FakeDiscord
from tests.harness import HOME, MANAGE_GUILD, OTHER, assert_ephemeral_line, bot_process, running_bot

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PREMIERE = "2026-12-24"  # 29.5 days after START
PREMIERE_AT = datetime(2026, 12, 24, tzinfo=UTC)
SOURCE = "https://example.org/season-2-date"
A_DAY_EARLY = START - timedelta(days=1)  # before the 30-day milestone (24 November, 09:00)


def milestone(days: int) -> datetime:
    """When PREMIERE's milestone falls due for a server with the default posting time: 09:00 UTC."""
    return PREMIERE_AT - timedelta(days=days) + timedelta(hours=9)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


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


async def subscribe_a_day_early(bot: CitadelBot, fake: FakeDiscord) -> None:
    """Pick the channel as /announce channel does, as if a day before START: every milestone from then
    on (the 30-day one of PREMIERE too) is this server's."""
    await subscribe(fake)
    since = A_DAY_EARLY.isoformat(timespec="seconds")
    await bot.announcements.change(HOME.id, countdown_since=since)


async def set_premiere(
    bot: CitadelBot, value: str, slug: str = "season-2", confidence: str = "confirmed"
) -> None:
    """A moderator's edit, through the store as /fact edit makes it."""
    fact = Fact("premiere", value, SOURCE, "2026-11-20", confidence=confidence)
    await bot.store.facts.edit(slug, "premiere", "", fact, "mod (1)")


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
    await subscribe_a_day_early(bot, fake)
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
    await subscribe_a_day_early(bot, fake)
    await set_premiere(bot, PREMIERE)
    # The 30-day milestone passed 3 hours ago (09:00 UTC) and is fresh: it posts now (24 November to 24
    # December: 30 days). The change posts after settling.
    assert await posts(bot, fake, 1) == ["Citadel season 2 premieres in 30 days"]
    await advance(bot, clock, START + timedelta(seconds=120))
    assert (await posts(bot, fake, 2))[1] == "Premiere date confirmed: Citadel season 2"

    expected = ["in 14 days", "in 7 days", "in 3 days", "tomorrow", "today"]
    for n, (days, words) in enumerate(zip((14, 7, 3, 1, 0), expected, strict=True), start=3):
        await advance(bot, clock, milestone(days) - timedelta(seconds=1))
        assert len(fake.messages[HOME.channel_id]) == n - 1  # not a second early
        await advance(bot, clock, milestone(days))
        assert (await posts(bot, fake, n))[-1] == f"Citadel season 2 premieres {words}"

    await advance(bot, clock, PREMIERE_AT + timedelta(days=40))
    assert len(await posts(bot, fake, 7)) == 7
    post = fake.messages[HOME.channel_id][2]
    stamp = int(PREMIERE_AT.timestamp())  # a date alone: shown as its date (the day's start in UTC)
    assert post["embeds"][0]["description"].startswith(f"Premiere: <t:{stamp}:D> (<t:{stamp}:R>)")
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
        await advance(bot, clock, milestone(14))
        assert (await posts(bot, fake, 3))[-1] == "Citadel season 2 premieres in 14 days"


async def test_downtime_across_three_milestones_posts_only_the_latest(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await first_two_posts(bot, fake, clock)
    # Down while the 14-, 7- and 3-day milestones pass; back 1 day after the 3-day one, which posts
    # with the days actually left.
    clock.set(milestone(3) + timedelta(days=1))
    async with running_bot(settings, fake, clock) as bot:
        assert (await posts(bot, fake, 3))[-1] == "Citadel season 2 premieres in 2 days"
    # Down again across the 1-day milestone and the premiere day, back 2 days after the 1-day one:
    # both are older than their own length, so nothing posts.
    clock.set(milestone(1) + timedelta(days=2))
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
    # The old date's 14-day milestone (10 December, 09:00) no longer posts; the new date's 30-day one does.
    await advance(bot, clock, milestone(14) + timedelta(hours=1))
    assert len(fake.messages[HOME.channel_id]) == 3
    await advance(bot, clock, datetime(2026, 12, 21, 9, tzinfo=UTC))
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
    await subscribe_a_day_early(bot, fake)
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
    await subscribe_a_day_early(bot, fake)
    await set_premiere(bot, PREMIERE)
    await posts(bot, fake, 1)  # posted and marked sent: no longer among the next posts
    record = await fake.invoke_command(
        "announce", subcommand="status", guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    status = (await record.wait_response())["data"]["embeds"][0]["description"]
    assert (
        f"**Channel:** <#{HOME.channel_id}>" in status and "**Milestones:** 30, 14, 7, 3, 1, 0 days" in status
    )
    assert "**Posting time:** 09:00 · **Time zone:** UTC" in status
    lines = status.split("**Next posts:**\n")[1].splitlines()
    expected = []
    for days, local in ((14, "Thu 10 Dec"), (7, "Thu 17 Dec"), (3, "Mon 21 Dec")):
        stamp = int(milestone(days).timestamp())
        expected.append(
            f"{local}, 09:00 UTC · <t:{stamp}:F> (<t:{stamp}:R>): Citadel season 2 premieres in {days} days"
        )
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
    async with bot.store.transaction() as tx:  # whatever the canon says now: a season not yet out
        await put_fact(tx, "season-2", Fact("status", "in production", SOURCE, "2026-11-20"), "mod (1)")
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
    await subscribe_a_day_early(bot, fake)
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
    # A milestone is due now, saying "in 7 days": the 7-day one after 09:00 UTC, else the 14-day one.
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
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


# --- posts that are true when they are sent ------------------------------------------------------


def description(fake: FakeDiscord, n: int, channel_id: int = HOME.channel_id) -> str:
    return fake.messages[channel_id][n]["embeds"][0]["description"]


async def test_a_countdown_sent_late_counts_the_days_actually_left(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await first_two_posts(bot, fake, clock)
        await advance(bot, clock, milestone(14))
        assert (await posts(bot, fake, 3))[-1] == "Citadel season 2 premieres in 14 days"
    # Down when the 7-day milestone passes (17 December); back 2 days later, when 5 days are left.
    clock.set(milestone(7) + timedelta(days=2))
    async with running_bot(settings, fake, clock) as bot:
        assert (await posts(bot, fake, 4))[-1] == "Citadel season 2 premieres in 5 days"
        (late,) = [d for d in await bot.store.outbox.deliveries(HOME.id) if d.milestone == 7]
        assert late.status == "sent"  # the 7-day milestone's post, with the count of its sending


async def test_a_day_before_milestone_sent_on_the_premiere_day_says_today(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await subscribe(fake)  # at START, after the 30-day milestone (24 November, 09:00): not this server's
        await set_premiere(bot, "2026-12-24 20:00 +00:00")  # 20:00 UTC on 24 December
        await advance(bot, clock, START + timedelta(seconds=150))
        assert await posts(bot, fake, 1) == ["Premiere date confirmed: Citadel season 2"]
    # Down until 06:00 on the premiere day, 21 hours after the 1-day milestone (23 December, 09:00):
    # only that one posts, and the premiere is today, not tomorrow.
    clock.set(datetime(2026, 12, 24, 6, tzinfo=UTC))
    async with running_bot(settings, fake, clock) as bot:
        assert (await posts(bot, fake, 2))[-1] == "Citadel season 2 premieres today"
        (delivery,) = [d for d in await bot.store.outbox.deliveries(HOME.id) if d.kind == "milestone"]
        assert delivery.milestone == 1


async def test_a_countdown_whose_premiere_passed_before_it_was_sent_is_skipped(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await first_two_posts(bot, fake, clock)
    # The 1-day milestone was planned and then the bot crashed before sending it; it comes back after
    # the premiere day.
    clock.set(PREMIERE_AT - timedelta(days=1))
    store = await open_store(settings, clock)
    assert await store.outbox.plan_milestone("season-2", 1, PREMIERE, clock(), [(HOME.id, HOME.channel_id)])
    await store.close()
    clock.set(milestone(0) + timedelta(days=1, hours=1))  # the premiere day's own post is stale by then
    async with running_bot(settings, fake, clock) as bot:
        await bot.announcer.settled()
        assert len(fake.messages[HOME.channel_id]) == 2  # nothing more
        (skipped,) = await bot.store.outbox.deliveries(HOME.id, status="skipped")
        assert (skipped.milestone, skipped.error) == (1, "the premiere has passed")


async def test_a_server_that_picks_its_channel_after_a_milestone_gets_the_next_one(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await set_premiere(bot, PREMIERE)
    await advance(bot, clock, START + timedelta(seconds=150))  # the change is announced to nobody yet
    # Two days after the 7-day milestone (still fresh by its own length), the server picks its channel.
    await advance(bot, clock, milestone(7) + timedelta(days=2))
    await subscribe(fake)
    await bot.announcer.settled()
    assert fake.messages.get(HOME.channel_id, []) == []
    assert await bot.store.outbox.deliveries(HOME.id) == []

    record = await fake.invoke_command(
        "announce", subcommand="preview", guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    preview = (await record.wait_response())["data"]
    assert [e["title"] for e in preview["embeds"]] == [
        "Citadel season 2 premieres in 3 days", "Citadel season 2 premieres tomorrow",
        "Citadel season 2 premieres today",
    ]  # fmt: skip
    stamp = int(milestone(3).timestamp())
    assert preview["content"].startswith(
        f"The next posts, in order:\n1. Mon 21 Dec, 09:00 UTC (<t:{stamp}:F>)\n"
    )
    record = await fake.invoke_command(
        "announce", subcommand="status", guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    status = (await record.wait_response())["data"]["embeds"][0]["description"]
    next_line = status.split("**Next posts:**\n")[1].splitlines()[0]
    assert (
        next_line
        == f"Mon 21 Dec, 09:00 UTC · <t:{stamp}:F> (<t:{stamp}:R>): Citadel season 2 premieres in 3 days"
    )

    await advance(bot, clock, milestone(3))
    assert await posts(bot, fake, 1) == ["Citadel season 2 premieres in 3 days"]


async def test_a_reported_date_is_counted_down_as_reported_until_it_is_confirmed(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe_a_day_early(bot, fake)
    await set_premiere(bot, PREMIERE, confidence="reported")
    assert await posts(bot, fake, 1) == ["Citadel season 2 premieres in 30 days (reported, not confirmed)"]
    await advance(bot, clock, START + timedelta(seconds=150))
    assert (await posts(bot, fake, 2))[-1] == "Premiere date reported: Citadel season 2"
    stamp = int(PREMIERE_AT.timestamp())
    day = f"<t:{stamp}:D> (<t:{stamp}:R>)"
    assert description(fake, 1).startswith(
        f"**Premiere**: expected Q2 2026, not confirmed → {day} _(reported, not confirmed)_ "
        "(example.org, 2026-11-20)\n"
    )

    # Amazon confirms the same day: the confidence alone changed, and that is news.
    await set_premiere(bot, PREMIERE, confidence="confirmed")
    await advance(bot, clock, START + timedelta(seconds=300))
    assert (await posts(bot, fake, 3))[-1] == "Premiere date confirmed: Citadel season 2"
    assert description(fake, 2).startswith(
        f"**Premiere**: {day} — now confirmed (was reported) (example.org, 2026-11-20)\n"
    )
    await advance(bot, clock, milestone(14))
    assert (await posts(bot, fake, 4))[-1] == "Citadel season 2 premieres in 14 days"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


async def never_asked(guild_id: int) -> str | None:
    raise AssertionError("a server's language is not asked of Discord here")


async def test_a_servers_countdown_starts_when_it_picks_its_channel(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = await Store.open(new_database(tmp_path), clock)
    try:
        announcements = Announcements(store, Posts(store, time(0, tzinfo=UTC)), lambda: None, never_asked)
        assert (await announcements.post_in(HOME.id, 10)).countdown_since == iso(START)
        clock.advance(timedelta(days=1))
        # Moving a running countdown to another channel, or changing anything else, keeps its start.
        assert (await announcements.post_in(HOME.id, 11)).countdown_since == iso(START)
        assert (await announcements.change(HOME.id, role_id=5)).countdown_since == iso(START)
        await announcements.change(HOME.id, channel_id=None)  # /announce off
        clock.advance(timedelta(days=1))
        assert (await announcements.post_in(HOME.id, 11)).countdown_since == iso(START + timedelta(days=2))
        await store.servers.save(replace(await store.servers.get(HOME.id), paused_at=iso(clock())))
        clock.advance(timedelta(days=1))  # paused after failures; picking a channel resumes, from now
        assert (await announcements.post_in(HOME.id, 11)).countdown_since == iso(START + timedelta(days=3))
    finally:
        await store.close()


class NoSender:
    """plan_milestones sends nothing."""


async def test_each_server_is_planned_only_the_milestones_after_its_countdown_started(
    tmp_path: Path, canon_dir: Path
) -> None:
    """One scheduler step over servers of two milestone settings and different starts: the 7-day
    milestone (passed 2 days ago) is planned only for servers subscribed by then."""
    seven = milestone(7)
    clock = ManualClock(seven + timedelta(days=2))
    store = await Store.open(new_database(tmp_path), clock)
    try:
        await load_canon(store, canon_dir)
        await store.facts.edit(
            "season-2", "premiere", "", Fact("premiere", PREMIERE, SOURCE, "2026-11-20"), "m"
        )
        servers = [
            GuildSettings(1 << 22, channel_id=1),  # no start recorded: every milestone counts
            GuildSettings(2 << 22, channel_id=2, countdown_since=iso(seven - timedelta(days=1))),
            GuildSettings(3 << 22, channel_id=3, countdown_since=iso(seven)),  # the same second counts
            GuildSettings(4 << 22, channel_id=4, countdown_since=iso(seven + timedelta(seconds=1))),
            GuildSettings(5 << 22, channel_id=5, milestones=(7, 0), countdown_since=iso(seven)),
            GuildSettings(6 << 22, channel_id=6, milestones=(7, 0), countdown_since=iso(clock())),
        ]
        for server in reversed(servers):  # saved in any order
            await store.servers.save(server)
        posts = Posts(store, time(0, tzinfo=UTC))
        announcer = Announcer(store, clock, NoSender(), posts, settle=timedelta(minutes=2), rate=1.0,
                              shards=lambda: None, ready=asyncio.sleep)  # fmt: skip
        subscribed = await store.servers.subscribed(None)
        next_due = await announcer.plan_milestones(clock(), subscribed, await store.facts.premieres())
        planned = sorted((d.guild_id >> 22, d.milestone) for d in await store.outbox.deliveries())
        assert planned == [(1, 7), (2, 7), (3, 7), (5, 7)]
        assert next_due == milestone(3)  # the default setting's next; (7, 0)'s is later
        # Server 4's preview begins with its first milestone, the 3-day one.
        (when, card), *_ = await posts.upcoming(await store.servers.get(4 << 22), clock())
        assert (when, card.title) == (milestone(3), "Citadel season 2 premieres in 3 days")
    finally:
        await store.close()
