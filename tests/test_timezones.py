"""Each server's time zone and posting hour, through the fake Discord with a clock the test moves:
countdowns at 09:00 where each server is, daylight-saving changes included; the zone offered as an
admin types; bad input refused with nothing stored; status and preview in the server's own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.store.servers import GuildSettings
from tests.fake_discord import FakeDiscord, GuildSpec
from tests.harness import HOME, MANAGE_GUILD, OTHER, assert_ephemeral_line, running_bot
from tests.store_probe import count
from tests.test_announce import advance, posts, set_premiere, subscribe, titles

START = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def announce(fake: FakeDiscord, guild: GuildSpec, subcommand: str, **options: Any) -> dict[str, Any]:
    """A server manager's /announce <subcommand>, and the bot's answer."""
    record = await fake.invoke_command(
        "announce", subcommand=subcommand, options=options, guild_id=guild.id, permissions=MANAGE_GUILD
    )
    return await record.wait_response()


async def counting_down_in(fake: FakeDiscord, guild: GuildSpec, zone: str, days: str = "7") -> None:
    """A server that picks its channel now, its zone, these milestones, and no change updates (so
    its channel holds countdowns only)."""
    await subscribe(fake, guild.id, guild.channel_id)
    answer = await announce(fake, guild, "timezone", zone=zone)
    assert answer["data"]["content"] == f"Countdowns will be posted at 09:00 {zone}."
    await announce(fake, guild, "milestones", days=days)
    await announce(fake, guild, "updates", state="off")


def sent(fake: FakeDiscord, guild: GuildSpec) -> list[dict[str, Any]]:
    return fake.messages.get(guild.channel_id, [])


async def test_kolkata_and_mexico_city_each_get_the_7_day_post_at_their_own_9_am(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await counting_down_in(fake, HOME, "Asia/Kolkata")
    await counting_down_in(fake, OTHER, "America/Mexico_City")
    await set_premiere(bot, "2026-12-24")  # a date alone: 24 December where each server is
    kolkata = datetime(2026, 12, 17, 3, 30, tzinfo=UTC)  # 09:00 IST (+05:30)
    mexico = datetime(2026, 12, 17, 15, tzinfo=UTC)  # 09:00 CST (-06:00)

    await advance(bot, clock, kolkata - SECOND)
    assert sent(fake, HOME) == [] and sent(fake, OTHER) == []
    await advance(bot, clock, kolkata)
    assert await posts(bot, fake, 1, HOME.channel_id) == ["Citadel season 2 premieres in 7 days"]
    await advance(bot, clock, mexico - SECOND)
    assert sent(fake, OTHER) == []
    await advance(bot, clock, mexico)
    assert await posts(bot, fake, 1, OTHER.channel_id) == ["Citadel season 2 premieres in 7 days"]
    await advance(bot, clock, datetime(2026, 12, 26, tzinfo=UTC))  # past the premiere: nothing more
    assert len(sent(fake, HOME)) == 1 and len(sent(fake, OTHER)) == 1

    for guild, due, day_start in (
        (HOME, kolkata, datetime(2026, 12, 23, 18, 30, tzinfo=UTC)),  # 24 December, 00:00 in Kolkata
        (OTHER, mexico, datetime(2026, 12, 24, 6, tzinfo=UTC)),  # and in Mexico City
    ):
        (delivery,) = await bot.store.outbox.deliveries(guild.id)
        assert (delivery.milestone, delivery.status, delivery.due_at) == (7, "sent", due.isoformat())
        stamp = int(day_start.timestamp())
        description = sent(fake, guild)[0]["embeds"][0]["description"]
        assert description.startswith(f"Premiere: <t:{stamp}:D> (<t:{stamp}:R>)")


@pytest.mark.parametrize(
    ("start", "premiere", "due"),
    [
        # Summer time ends on 25 October 2026 (03:00 CEST -> 02:00 CET): the 7-day post is that very day.
        (datetime(2026, 10, 1, 12, tzinfo=UTC), "2026-11-01",
         {14: datetime(2026, 10, 18, 7, tzinfo=UTC), 7: datetime(2026, 10, 25, 8, tzinfo=UTC),
          0: datetime(2026, 11, 1, 8, tzinfo=UTC)}),
        # Summer time starts on 28 March 2027 (02:00 CET -> 03:00 CEST).
        (datetime(2027, 3, 1, 12, tzinfo=UTC), "2027-04-04",
         {14: datetime(2027, 3, 21, 8, tzinfo=UTC), 7: datetime(2027, 3, 28, 7, tzinfo=UTC),
          0: datetime(2027, 4, 4, 7, tzinfo=UTC)}),
    ],
)  # fmt: skip
async def test_rome_gets_its_milestones_at_9_am_across_a_change_of_summer_time(
    settings: Settings, fake: FakeDiscord, start: datetime, premiere: str, due: dict[int, datetime]
) -> None:
    clock = ManualClock(start)
    async with running_bot(settings, fake, clock) as bot:
        await counting_down_in(fake, HOME, "Europe/Rome", days="14,7,0")
        await set_premiere(bot, premiere)
        words = {14: "in 14 days", 7: "in 7 days", 0: "today"}
        for n, (days, at) in enumerate(due.items(), start=1):
            await advance(bot, clock, at - SECOND)
            assert len(sent(fake, HOME)) == n - 1  # not a second early
            await advance(bot, clock, at)
            assert (await posts(bot, fake, n))[-1] == f"Citadel season 2 premieres {words[days]}"
            assert at.astimezone(ROME).hour == 9  # the test's own instants are 09:00 in Rome
        sent_at = [(d.milestone, d.due_at) for d in await bot.store.outbox.deliveries(HOME.id)]
        assert sent_at == [(days, at.isoformat()) for days, at in due.items()]


async def test_autocomplete_offers_zones_matching_what_is_typed(bot: CitadelBot, fake: FakeDiscord) -> None:
    async def offered(typed: str) -> list[str]:
        choices = await fake.autocomplete(
            "announce", subcommand="timezone", option="zone", value=typed, guild_id=HOME.id,
            permissions=MANAGE_GUILD,
        )  # fmt: skip
        assert all(c["name"] == c["value"] for c in choices)
        return [c["value"] for c in choices]

    assert (await offered("kolkata")) == ["Asia/Kolkata"]
    assert (await offered("mexico city"))[0] == "America/Mexico_City"
    assert (await offered("Rome")) == ["Europe/Rome"]
    europe = await offered("europe/")
    assert len(europe) == 25 and all(z.startswith("Europe/") for z in europe)  # Discord's limit
    assert (await offered(""))[:3] == ["UTC", "Europe/Rome", "Asia/Kolkata"]
    assert await offered("Atlantis") == []


async def test_a_bad_zone_or_hour_is_refused_in_one_line_and_nothing_is_stored(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    for subcommand, options, says in (
        ("timezone", {"zone": "Mars/Olympus"}, "“Mars/Olympus” is not a time zone I know; pick one from the list"),
        ("timezone", {"zone": "Rom"}, "Did you mean Europe/Rome?"),
        ("time", {"hour": 24}, "24 is not an hour of the day; give a whole hour from 0 to 23"),
        ("time", {"hour": -1}, "-1 is not an hour of the day"),
    ):  # fmt: skip
        line = assert_ephemeral_line(await announce(fake, HOME, subcommand, **options), says)
        assert line.endswith("Nothing was changed.")
    assert count(bot.store, "guild_settings") == 0  # never set up, and still not

    await announce(fake, HOME, "timezone", zone="europe/rome")
    await announce(fake, HOME, "time", hour=20)
    before = await bot.store.servers.get(HOME.id)
    assert (before.timezone, before.post_hour) == ("Europe/Rome", 20)
    assert_ephemeral_line(await announce(fake, HOME, "timezone", zone="Nowhere/Else"), "Nothing was changed.")
    assert_ephemeral_line(await announce(fake, HOME, "time", hour=99), "Nothing was changed.")
    assert await bot.store.servers.get(HOME.id) == before
    assert (await bot.store.servers.get(OTHER.id)) == GuildSettings(OTHER.id)


async def test_status_and_preview_show_the_servers_own_time(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe(fake)
    answer = await announce(fake, HOME, "timezone", zone="Kolkata")  # a city only one zone has
    assert answer["data"]["content"] == "Countdowns will be posted at 09:00 Asia/Kolkata."
    answer = await announce(fake, HOME, "time", hour=20)
    assert answer["data"]["content"] == "Countdowns will be posted at 20:00 Asia/Kolkata."
    await set_premiere(bot, "2026-12-24")
    await bot.announcer.settled()

    status = (await announce(fake, HOME, "status"))["data"]["embeds"][0]["description"]
    assert "**Posting time:** 20:00 · **Time zone:** Asia/Kolkata" in status
    expected, stamps = [], []
    for days, local in ((14, "Thu 10 Dec"), (7, "Thu 17 Dec"), (3, "Mon 21 Dec")):
        at = datetime(2026, 12, 24 - days, 14, 30, tzinfo=UTC)  # 20:00 IST
        stamp = int(at.timestamp())
        stamps.append(stamp)
        expected.append(
            f"{local}, 20:00 Asia/Kolkata · <t:{stamp}:F> (<t:{stamp}:R>): Citadel season 2 premieres in {days} days"
        )
    assert status.split("**Next posts:**\n")[1].splitlines() == expected

    preview = (await announce(fake, HOME, "preview"))["data"]
    assert preview["content"].splitlines() == [
        "The next posts, in order:",
        f"1. Thu 10 Dec, 20:00 Asia/Kolkata (<t:{stamps[0]}:F>)",
        f"2. Thu 17 Dec, 20:00 Asia/Kolkata (<t:{stamps[1]}:F>)",
        f"3. Mon 21 Dec, 20:00 Asia/Kolkata (<t:{stamps[2]}:F>)",
    ]
    assert [e["title"] for e in preview["embeds"]] == [
        "Citadel season 2 premieres in 14 days", "Citadel season 2 premieres in 7 days",
        "Citadel season 2 premieres in 3 days",
    ]  # fmt: skip
    day = int(datetime(2026, 12, 23, 18, 30, tzinfo=UTC).timestamp())  # 24 December, 00:00 in Kolkata
    assert all(e["description"].startswith(f"Premiere: <t:{day}:D>") for e in preview["embeds"])
    assert titles(fake) == []  # nothing posted: the 30-day milestone was before the server subscribed
