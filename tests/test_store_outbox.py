"""The announcement outbox (bot/store/outbox.py): batches of changes, deliveries planned once, their
outcome, and servers' scheduled events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.facts import Fact
from bot.store import Store
from bot.store.outbox import PAUSE_AFTER_FAILURES, nonce, summarize
from bot.store.servers import GuildSettings

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
HOME, OTHER = 1 << 22, 2 << 22


async def test_a_change_becomes_one_batch_with_one_delivery_per_subscribed_server(seeded: Store) -> None:
    await seeded.servers.save(GuildSettings(HOME, channel_id=10))
    await seeded.servers.save(GuildSettings(OTHER, channel_id=20, updates=False))
    assert await seeded.outbox.oldest_unbatched_change() is None  # the first load is not news
    for value in ("7", "8"):
        await seeded.facts.edit(
            "diana", "episodes", "", Fact("episodes", value, "https://e.org", "2026-11-20"), "m"
        )
    oldest = await seeded.outbox.oldest_unbatched_change()
    assert oldest is not None
    assert (
        await seeded.outbox.close_due_batches(oldest + timedelta(seconds=59), timedelta(minutes=1), None)
        == []
    )
    (batch_id,) = await seeded.outbox.close_due_batches(
        oldest + timedelta(minutes=1), timedelta(minutes=1), None
    )
    batch = await seeded.outbox.batch(batch_id)
    assert batch is not None and batch.entry_slug == "diana"
    assert [(c["field"], c["old"], c["new"]) for c in batch.changes] == [("episodes", "6", "8")]
    (delivery,) = await seeded.outbox.deliveries()
    assert (delivery.kind, delivery.guild_id, delivery.channel_id, delivery.batch_id) == (
        "update",
        HOME,
        10,
        batch_id,
    )
    assert await seeded.outbox.oldest_unbatched_change() is None


async def test_a_milestone_is_planned_once_per_server(seeded: Store) -> None:
    guilds = [(HOME, 10), (OTHER, 20)]
    assert await seeded.outbox.plan_milestone("diana", 7, "2026-12-01", NOW, guilds) == 2
    assert await seeded.outbox.plan_milestone("diana", 7, "2026-12-01", NOW, guilds) == 0
    assert await seeded.outbox.plan_milestone("nothing", 7, "2026-12-01", NOW, guilds) == 0
    assert await seeded.outbox.next_delivery_due(None) == NOW
    due = await seeded.outbox.due_deliveries(NOW, None)
    assert [(d.guild_id, d.entry_slug, d.milestone) for d in due] == [(HOME, "diana", 7), (OTHER, "diana", 7)]
    assert await seeded.outbox.due_deliveries(NOW - timedelta(seconds=1), None) == []


async def test_outcomes_of_deliveries_and_pausing_after_failures(seeded: Store) -> None:
    await seeded.servers.save(GuildSettings(HOME, channel_id=10))
    for days in range(PAUSE_AFTER_FAILURES + 2):
        await seeded.outbox.plan_milestone("diana", days, "2026-12-01", NOW, [(HOME, 10)])
    first, second, *failing = await seeded.outbox.deliveries(HOME)
    await seeded.outbox.mark_sent(first, 555)
    await seeded.outbox.skip(second, "the premiere moved")
    assert not await seeded.outbox.mark_failed(failing[0], "429", retry_at=NOW + timedelta(minutes=1))
    paused = [await seeded.outbox.mark_failed(d, "no access", retry_at=None) for d in failing]
    assert paused == [False] * (PAUSE_AFTER_FAILURES - 1) + [True]
    assert [(d.status, d.message_id) for d in await seeded.outbox.deliveries(HOME, "sent")] == [("sent", 555)]
    assert len(await seeded.outbox.deliveries(status="skipped")) == 1
    settings = await seeded.servers.get(HOME)
    assert (
        settings.failures == PAUSE_AFTER_FAILURES and settings.problem == "no access" and settings.paused_at
    )


async def test_scheduled_events_are_remembered_and_forgotten(seeded: Store) -> None:
    await seeded.outbox.save_guild_event(HOME, "diana", 99, "2026-12-01")
    await seeded.outbox.save_guild_event(HOME, "diana", 100, "2026-12-02")
    assert await seeded.outbox.guild_events(HOME) == {"diana": (100, "2026-12-02")}
    await seeded.outbox.save_guild_event(HOME, "diana", None)
    await seeded.outbox.save_guild_event(HOME, "nothing", None)  # nothing to forget
    assert await seeded.outbox.guild_events(HOME) == {}


# --- the outbox's pure rules: change summaries and delivery nonces ----


def revision(
    old: str | None, new: str | None, source: str = "https://a.example/x"
) -> tuple[str | None, str | None]:
    def content(value: str | None) -> str | None:
        return (
            json.dumps({"value": value, "source": source, "source_date": "2026-11-20", "note": ""})
            if value
            else None
        )

    return content(old), content(new)


def test_a_batch_keeps_the_first_old_and_the_last_new_value() -> None:
    changes = summarize([
        ("episodes", "", *revision("6", "7")),
        ("episodes", "", *revision("7", "8")),
        ("status", "", *revision("announced", "released")),
        ("network", "", *revision("Prime Video", "Netflix")),
        ("network", "", *revision("Netflix", "Prime Video")),  # changed and changed back: no news
        ("cast", "jane doe", *revision(None, "Jane Doe")),
    ])  # fmt: skip
    assert [(c["field"], c["old"], c["new"]) for c in changes] == [
        ("episodes", "6", "8"), ("status", "announced", "released"), ("cast", None, "Jane Doe")
    ]  # fmt: skip


def test_nonces_are_deterministic_and_fit_discord() -> None:
    assert nonce("update", 1, 123) == nonce("update", 1, 123) != nonce("update", 1, 124)
    assert len(nonce("milestone", 99999, 30, "2026-12-24", 1 << 62)) == 25


def test_a_change_of_confidence_alone_is_a_change_and_every_change_carries_its_confidences() -> None:
    def content(value: str, confidence: str | None = None) -> str:
        data = {"value": value, "source": "https://a.example/x", "source_date": "2026-11-20", "note": ""}
        return json.dumps(data | ({"confidence": confidence} if confidence else {}))

    changes = summarize([
        ("premiere", "", content("2026-05-06", "reported"), content("2026-05-06", "confirmed")),
        ("episodes", "", content("6"), content("8", "rumour")),  # a revision from before confidences: confirmed
        ("status", "", content("announced"), content("announced", "confirmed")),  # the same: no change
        ("cast", "jane doe", None, content("Jane Doe", "reported")),
        ("director", "x", content("X", "rumour"), None),
    ])  # fmt: skip
    assert [(c["field"], c["old"], c["new"], c["confidence"], c["old_confidence"]) for c in changes] == [
        ("premiere", "2026-05-06", "2026-05-06", "confirmed", "reported"),
        ("episodes", "6", "8", "rumour", "confirmed"),
        ("cast", None, "Jane Doe", "reported", None),
        ("director", "X", None, "rumour", "rumour"),
    ]


async def test_a_confidence_change_through_the_store_becomes_an_update(seeded: Store) -> None:
    await seeded.servers.save(GuildSettings(HOME, channel_id=10))
    settle = timedelta(minutes=1)
    batches = []
    for confidence in ("reported", "confirmed"):  # the same day, first reported, then confirmed
        fact = Fact("premiere", "2026-12-24", "https://e.org", "2026-11-20", confidence=confidence)
        await seeded.facts.edit("season-2", "premiere", "", fact, "m")
        oldest = await seeded.outbox.oldest_unbatched_change()
        assert oldest is not None
        (batch_id,) = await seeded.outbox.close_due_batches(oldest + settle, settle, None)
        batches.append(await seeded.outbox.batch(batch_id))
    confirmed = batches[1]
    assert confirmed is not None
    assert [(c["old"], c["new"], c["confidence"], c["old_confidence"]) for c in confirmed.changes] == [
        ("2026-12-24", "2026-12-24", "confirmed", "reported")
    ]
    assert [d.batch_id for d in await seeded.outbox.deliveries(HOME)] == [b.id for b in batches if b]
