"""Premiere events within Discord's cap of 100 uncompleted scheduled events per server, whoever made them:
the bot never asks for a 101st, keeps the soonest premieres, deletes its events once they have ended, and
says in /announce status what the cap holds back. Requests to Discord are counted exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.announcer import EVENT_LENGTH
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.facts import Fact
from bot.store import put_fact
from tests.fake_discord import FakeDiscord
from tests.fake_discord.rest import RequestRecord
from tests.harness import HOME, MANAGE_GUILD
from tests.test_announce import advance, subscribe

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SEASON_2_AT = datetime(2026, 12, 24, tzinfo=UTC)  # the soonest
PREMIERES = {"season-2": "2026-12-24", "spain": "2027-01-15", "mexico": "2027-02-01"}
EVENTS_PATH = f"/guilds/{HOME.id}/scheduled-events"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def event_requests(fake: FakeDiscord, method: str) -> list[RequestRecord]:
    """The bot's requests to HOME's scheduled events with `method` (a create, the list, or a delete)."""
    return [r for r in fake.requests if r.method == method and r.path.startswith(EVENTS_PATH)]


def bots_events(fake: FakeDiscord) -> list[str]:
    """The names of the uncompleted events the bot made in HOME."""
    return [
        e["name"]
        for e in fake.scheduled_events[HOME.id].values()
        if e["creator_id"] == str(fake.bot_user_id) and e["status"] in (1, 2)
    ]


async def events_by_others(fake: FakeDiscord, count: int) -> None:
    """`count` watch parties a member scheduled in HOME, after every premiere here."""
    organiser = fake.make_user(4242, "organiser")
    for n in range(count):
        await fake.add_scheduled_event(HOME.id, organiser, f"Watch party {n}", START + timedelta(days=90))


async def status(fake: FakeDiscord) -> str:
    record = await fake.invoke_command(
        "announce", subcommand="status", guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    return str((await record.wait_response())["data"]["embeds"][0]["description"])


async def test_a_server_with_99_events_gets_the_soonest_premiere_and_the_room_an_ended_one_frees(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await events_by_others(fake, 99)
    async with bot.store.transaction() as tx:  # three premieres known to the day, in one change
        for slug, value in PREMIERES.items():
            await put_fact(
                tx, slug, Fact("premiere", value, "https://example.org/dates", "2026-11-20"), "mod (1)"
            )
    await subscribe(fake)
    record = await fake.invoke_command(
        "announce", subcommand="events", options={"state": "on"}, guild_id=HOME.id, permissions=MANAGE_GUILD
    )
    await record.wait_response()
    await bot.announcer.settled()

    assert bots_events(fake) == ["Citadel season 2 premieres"]
    assert fake.uncompleted_events(HOME.id) == 100
    created = event_requests(fake, "POST")
    assert [r.status for r in created] == [200]  # one create, and no 101st was ever asked for
    assert len(event_requests(fake, "GET")) == 1  # the server's events were listed once
    assert (
        "**Held back:** 2 premieres have no event because this server has 100 scheduled events, Discord's "
        "limit; delete or end some events to free room, and the soonest premieres get theirs first."
    ) in (await status(fake)).split("\n")

    # More steps (a change, the clock moving) ask Discord nothing more while the count is fresh.
    await advance(bot, clock, START + timedelta(minutes=30))
    assert len(event_requests(fake, "GET")) == 1 and len(event_requests(fake, "POST")) == 1

    # The season 2 event ends: the bot deletes it, and the next premiere gets the room it frees.
    (season_2,) = [
        e for e in fake.scheduled_events[HOME.id].values() if e["creator_id"] == str(fake.bot_user_id)
    ]
    await advance(bot, clock, SEASON_2_AT + EVENT_LENGTH - timedelta(seconds=1))
    assert event_requests(fake, "DELETE") == []
    await advance(bot, clock, SEASON_2_AT + EVENT_LENGTH)
    deleted = event_requests(fake, "DELETE")
    assert [(r.path, r.status) for r in deleted] == [(f"{EVENTS_PATH}/{season_2['id']}", 204)]
    assert bots_events(fake) == ["Spanish Citadel spin-off premieres"]
    assert [r.status for r in event_requests(fake, "POST")] == [200, 200]
    assert fake.uncompleted_events(HOME.id) == 100
    assert "**Held back:** 1 premiere has no event" in await status(fake)
    assert await bot.store.outbox.guild_events(HOME.id) == {
        "spain": (int(bots_events_ids(fake)[0]), "2027-01-15")
    }


def bots_events_ids(fake: FakeDiscord) -> list[str]:
    return [
        e["id"] for e in fake.scheduled_events[HOME.id].values() if e["creator_id"] == str(fake.bot_user_id)
    ]


async def test_a_sooner_premiere_takes_the_room_of_a_later_one(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await events_by_others(fake, 99)
    await bot.store.facts.add(
        "spain", Fact("premiere", PREMIERES["spain"], "https://example.org/dates", "2026-11-20"), "mod (1)"
    )
    await subscribe(fake)
    await bot.announcements.change(HOME.id, events=True)
    await bot.announcer.settled()
    assert bots_events(fake) == ["Spanish Citadel spin-off premieres"]
    fact = Fact("premiere", PREMIERES["season-2"], "https://example.org/dates", "2026-11-20")
    await bot.store.facts.edit("season-2", "premiere", "", fact, "mod (1)")
    await bot.announcer.settled()
    assert bots_events(fake) == ["Citadel season 2 premieres"]  # the later one was cancelled for it
    assert [r.status for r in event_requests(fake, "POST")] == [200, 200]
    assert fake.uncompleted_events(HOME.id) == 100
    assert "**Held back:** 1 premiere has no event" in await status(fake)
