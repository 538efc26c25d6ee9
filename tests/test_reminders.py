"""Members' DM reminders through the fake Discord: /citadel remind and /citadel reminders, the DMs at
their milestones (a clock the test moves), exactly once across a restart and a SIGKILL of a real
`python -m bot`, closed DMs that stop a member's reminders, and the Cancel button after a restart.

Requests to Discord are counted exactly: one DM channel opened per member, one message per DM."""

from __future__ import annotations

import asyncio
import itertools
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import open_store
from bot.announcer import DM_RATE
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Fact
from bot.reminders import CLOSED_NOTE, REMINDER_POSTING, dm_text
from bot.store.reminders import CLOSED
from tests.fake_discord import FakeDiscord
from tests.harness import HOME, assert_ephemeral_line, bot_process, running_bot
from tests.test_announce import PREMIERE, PREMIERE_AT, SOURCE, START, advance, milestone, set_premiere
from tests.test_backup import rows

MOVED_AT = datetime(2027, 1, 20, tzinfo=UTC)


def moved(days: int) -> datetime:
    """When the moved premiere's milestone is due: 09:00 UTC, as members' DMs go out."""
    return MOVED_AT - timedelta(days=days) + timedelta(hours=9)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def stamp(moment: datetime, style: str = "F") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


async def remind(fake: FakeDiscord, entry: str, days: str | None = None, **where: Any) -> dict[str, Any]:
    """/citadel remind as the tester types it (in the home server unless `where` says otherwise)."""
    options = {"entry": entry} | ({"days": days} if days is not None else {})
    record = await fake.invoke_command("citadel", subcommand="remind", options=options, **where)
    return await record.wait_response()


def dm_channel(fake: FakeDiscord, user: dict[str, Any] | None = None) -> int:
    return int(fake.dm_channel_for(user or fake.tester)["id"])


def dm_titles(fake: FakeDiscord, user: dict[str, Any] | None = None) -> list[str]:
    return [m["embeds"][0]["title"] for m in fake.messages.get(dm_channel(fake, user), [])]


def requests(fake: FakeDiscord, method: str, path: str) -> list[Any]:
    return [r for r in fake.requests if r.method == method and r.path == path]


def dm_sends(fake: FakeDiscord, user: dict[str, Any] | None = None) -> list[Any]:
    return requests(fake, "POST", f"/channels/{dm_channel(fake, user)}/messages")


async def test_a_members_reminders_arrive_once_each_at_their_milestones(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock) as bot:
        await set_premiere(bot, "Q4 2026")  # not known to the day: the reminder waits for a date
        line = assert_ephemeral_line(await remind(fake, "season 2"))
        assert line == (
            "Citadel season 2 has no premiere date to the day yet (Q4 2026): I'll DM you 7 days before, "
            "1 day before and on the day once it has one."
        )
        await set_premiere(bot, PREMIERE)
        await advance(bot, clock, milestone(7) - timedelta(seconds=1))
        assert dm_titles(fake) == []  # not a second early
        await advance(bot, clock, milestone(7))
        assert dm_titles(fake) == ["Citadel season 2 premieres in 7 days"]
        (dm,) = fake.messages[dm_channel(fake)]
        assert dm["content"] == dm_text("Citadel season 2")
        assert dm["embeds"][0]["description"].startswith(f"Premiere: {stamp(PREMIERE_AT, 'D')} (")

        await set_premiere(bot, MOVED_AT.date().isoformat())  # moved: the old date's 1-day DM never comes
        await advance(bot, clock, milestone(1) + timedelta(hours=1))
        assert len(dm_titles(fake)) == 1
    # Down across the new date's 7-day milestone; back a day after it, when 6 days are left.
    clock.set(MOVED_AT - timedelta(days=6))
    async with running_bot(settings, fake, clock) as bot:
        await bot.announcer.settled()
        assert dm_titles(fake)[1:] == ["Citadel season 2 premieres in 6 days"]
        await advance(bot, clock, moved(1))
        await advance(bot, clock, moved(0))
        await advance(bot, clock, MOVED_AT + timedelta(days=40))
        assert dm_titles(fake)[2:] == [
            "Citadel season 2 premieres tomorrow",
            "Citadel season 2 premieres today",
        ]
        sent = await bot.store.reminders.deliveries(int(fake.tester["id"]))
        assert [(d.milestone, d.premiere, d.status) for d in sent] == [
            (7, PREMIERE, "sent"), (7, "2027-01-20", "sent"), (1, "2027-01-20", "sent"), (0, "2027-01-20", "sent"),
        ]  # fmt: skip
    bodies = [r.json for r in dm_sends(fake)]
    assert (
        len(bodies) == 4
        and len({b["nonce"] for b in bodies}) == 4
        and all(b["enforce_nonce"] for b in bodies)
    )
    assert all(b["allowed_mentions"] == {"parse": []} for b in bodies)
    assert len(requests(fake, "POST", "/users/@me/channels")) == 1  # opened once, kept across the restart
    assert fake.messages.get(HOME.channel_id, []) == []  # nothing in any server: the server never subscribed


async def test_bad_days_and_a_past_premiere_are_refused_with_nothing_stored(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    tester = int(fake.tester["id"])
    for days, says in (
        ("7, x", "Milestones are whole numbers of days separated by commas"),
        ("400", "A milestone can be at most 365 days before the premiere."),
        (",", "Give the days before a premiere"),
    ):
        line = assert_ephemeral_line(await remind(fake, "season 2", days), says)
        assert line.endswith("Nothing was stored.")
    diana = stamp(datetime(2024, 10, 10, tzinfo=UTC), "D")
    line = assert_ephemeral_line(await remind(fake, "diana"))
    assert line == (
        f"Citadel: Diana has premiered ({diana} ({stamp(datetime(2024, 10, 10, tzinfo=UTC), 'R')})): there is "
        "no premiere ahead to remind you of. Nothing was stored."
    )
    assert await bot.store.reminders.of_member(tester) == []

    # In the bot's DM too; asking again replaces the days.
    await set_premiere(bot, PREMIERE)
    assert_ephemeral_line(await remind(fake, "season 2", "7,1,0", guild_id=None), "I'll DM you about")
    line = assert_ephemeral_line(await remind(fake, "season 2", "3", guild_id=None))
    assert line == f"I'll DM you about Citadel season 2 3 days before ({stamp(milestone(3))})."
    (reminder,) = await bot.store.reminders.of_member(tester)
    assert (reminder.entry_slug, reminder.milestones) == ("season-2", (3,))


async def test_closed_dms_are_refused_once_and_stop_the_members_reminders(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    tester = int(fake.tester["id"])
    fake.closed_dms.add(tester)
    await set_premiere(bot, PREMIERE)
    await bot.store.facts.add("spain", Fact("premiere", PREMIERE, SOURCE, "2026-11-20"), "mod (1)")
    for slug in ("season-2", "spain"):  # two reminders due at the same moment
        assert_ephemeral_line(await remind(fake, slug), "I'll DM you about")
    await advance(bot, clock, milestone(7))
    (refused,) = dm_sends(fake)
    assert refused.status == 403 and fake.messages.get(dm_channel(fake), []) == []
    await advance(bot, clock, milestone(1))
    await advance(bot, clock, PREMIERE_AT + timedelta(days=1))
    # One refusal, then no more attempts: not the other reminder's, not the later milestones'.
    assert len(dm_sends(fake)) == 1 and len(requests(fake, "POST", "/users/@me/channels")) == 1
    recipient = await bot.store.reminders.recipient(tester)
    assert recipient.closed_at is not None
    assert recipient.problem == "Discord refused the DM: Cannot send messages to this user (Discord 50007)."
    assert sorted((d.entry_slug, d.status, d.error) for d in await bot.store.reminders.deliveries(tester)) == [
        ("season-2", "failed", recipient.problem), ("spain", "skipped", CLOSED),
    ]  # fmt: skip
    record = await fake.invoke_command("citadel", subcommand="following")
    listing = (await record.wait_response())["data"]["content"]
    assert listing.endswith(
        "so these are stopped: open your DMs to me and run `/citadel remind` again to restart them."
    )

    # They open their DMs and ask again: told why they had stopped, and the reminders resume.
    fake.closed_dms.clear()
    clock.set(START + timedelta(days=60))
    await set_premiere(bot, "2027-03-01")
    line = assert_ephemeral_line(await remind(fake, "season 2", "0"))
    assert (
        line
        == f"{CLOSED_NOTE} I'll DM you about Citadel season 2 on the day ({stamp(datetime(2027, 3, 1, 9, tzinfo=UTC))})."
    )
    assert (await bot.store.reminders.recipient(tester)).closed_at is None
    await advance(bot, clock, datetime(2027, 3, 1, 9, tzinfo=UTC))
    assert dm_titles(fake) == ["Citadel season 2 premieres today"]


async def test_the_list_and_its_cancel_button_work_after_a_restart(
    settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    tester = int(fake.tester["id"])
    async with running_bot(settings, fake, clock) as bot:
        await set_premiere(bot, PREMIERE)
        assert_ephemeral_line(await remind(fake, "season 2"))
        assert_ephemeral_line(await remind(fake, "spain", "1"))  # no premiere yet
        record = await fake.invoke_command("citadel", subcommand="following", guild_id=None)
        answer = (await record.wait_response())["data"]
    seven = milestone(7)
    assert answer["flags"] & 64 and answer["allowed_mentions"] == {"parse": []}
    assert answer["content"] == (
        "Your DM reminders:\n"
        f"• **Citadel season 2**: 7 days before, 1 day before and on the day; next DM {stamp(seven)} ({stamp(seven, 'R')}).\n"
        "• **Spanish Citadel spin-off**: 1 day before; waiting for a date."
    )
    buttons = [c for row in answer["components"] for c in row["components"]]
    assert [(b["label"], b["custom_id"]) for b in buttons] == [
        ("Cancel Citadel season 2", "citadel:remind-cancel:season-2"),
        ("Cancel Spanish Citadel spin-off", "citadel:remind-cancel:spain"),
    ]

    async with running_bot(settings, fake, clock) as bot:  # a new process: the buttons still work
        click = await fake.click_button(record.original or {}, "citadel:remind-cancel:season-2")
        edited = await click.wait_response()
        assert edited["type"] == 7
        assert edited["data"]["content"] == (
            "Cancelled your reminder for Citadel season 2: no more DMs about it.\n\n"
            "Your DM reminders:\n• **Spanish Citadel spin-off**: 1 day before; waiting for a date."
        )
        assert [c["custom_id"] for row in edited["data"]["components"] for c in row["components"]] == [
            "citadel:remind-cancel:spain"
        ]
        assert [r.entry_slug for r in await bot.store.reminders.of_member(tester)] == ["spain"]
        await advance(bot, clock, seven)
        assert dm_sends(fake) == []  # the cancelled reminder sends nothing
        again = await fake.click_button(record.original or {}, "citadel:remind-cancel:spain")
        assert (await again.wait_response())["data"]["content"] == (
            "Cancelled your reminder for Spanish Citadel spin-off: no more DMs about it.\n\n"
            "You have no reminders. `/citadel remind entry:` asks for a DM before a premiere."
        )
    assert rows(settings.database, "SELECT count(*) FROM reminders") == [(0,)]
    assert rows(settings.database, "SELECT count(*) FROM reminder_deliveries") == [(0,)]


async def test_dms_to_many_members_are_paced_under_the_dm_ceiling(
    bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    members = [fake.make_user(username=f"fan{n}") for n in range(5)]
    await set_premiere(bot, PREMIERE)
    for member in members:
        assert_ephemeral_line(await remind(fake, "season 2", "7", user=member), "I'll DM you about")
    await advance(bot, clock, milestone(7))
    assert [len(dm_sends(fake, m)) for m in members] == [1] * 5
    times = sorted(r.time for r in fake.requests if r.method == "POST" and r.path.endswith("/messages"))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 1 / DM_RATE apart as sent; half of it as they arrive, for delays on the way.
    assert len(times) == 5 and min(gaps) >= 0.5 / DM_RATE, gaps


async def test_a_sigkill_while_dms_are_claimed_sends_each_dm_once(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    """The bot runs as `python -m bot` (real clock) and is killed holding the claims of three members'
    DMs, the first of them posted by Discord but not yet answered; the next start sends each once."""
    members = [fake.make_user(username=f"fan{n}") for n in range(3)]
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    store = await open_store(settings, lambda: yesterday)  # they asked yesterday
    in_a_week = (now + timedelta(days=7)).date().isoformat()
    # A milestone due now, at any hour: DMs go out at 09:00 UTC on the milestone's day, so before 09:00
    # it is the 8-day one (yesterday's, after they asked), after it the 7-day one. Either says 7 days.
    due = 7 if now.hour >= REMINDER_POSTING.hour else 8
    await store.facts.edit(
        "season-2", "premiere", "", Fact("premiere", in_a_week, SOURCE, "2026-11-20"), "m (1)"
    )
    for member in members:
        await store.reminders.set(int(member["id"]), "season-2", (due, 1, 0))
    await store.close()
    for member in members:
        fake.hold_replies(dm_channel(fake, member))

    process = bot_process(settings, settings.discord_token or "", tmp_path, UPDATE_SETTLE_SECONDS="86400")
    try:
        (posted,) = await fake.wait_for_message(dm_channel(fake, members[0]), timeout=30)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
    store = await open_store(settings)
    held = await store.reminders.deliveries()
    assert [(d.status, d.message_id) for d in held] == [("pending", None)] * 3
    await store.close()
    claimed = "SELECT count(*) FROM reminder_deliveries WHERE claimed_by IS NOT NULL"
    assert rows(settings.database, claimed) == [(3,)]  # it died holding all three

    for member in members:
        fake.release_replies(dm_channel(fake, member))
    async with running_bot(settings, fake) as bot:
        await bot.announcer.settled()  # at once: the killed process's claims were freed at start
        sent = await bot.store.reminders.deliveries()
        assert [d.status for d in sent] == ["sent"] * 3
    assert [m["id"] for m in fake.messages[dm_channel(fake, members[0])]] == [posted["id"]]
    assert [len(fake.messages[dm_channel(fake, m)]) for m in members] == [1, 1, 1]
    first = dm_sends(fake, members[0])
    assert len(first) == 2 and first[0].json["nonce"] == first[1].json["nonce"]  # the retry: the same nonce
    assert [len(dm_sends(fake, m)) for m in members[1:]] == [1, 1]
    assert dm_titles(fake, members[0]) == ["Citadel season 2 premieres in 7 days"]
