"""Servers' settings (bot/store/servers.py): defaults until saved, and who is subscribed in which shards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.store import Store, migrations, sql_statements
from bot.store.database import SqliteDatabase
from bot.store.servers import DEFAULT_MILESTONES, GuildSettings, Shards
from tests.engines import sqlite_only

# Guild ids whose shard (of 2) is 0 and 1.
EVEN, ODD = 0 << 22, 1 << 22


async def test_a_server_never_set_up_has_the_defaults(store: Store) -> None:
    settings = await store.servers.get(EVEN)
    assert settings == GuildSettings(EVEN) and settings.milestones == DEFAULT_MILESTONES
    assert not settings.active


async def test_saved_settings_read_back(store: Store) -> None:
    saved = GuildSettings(EVEN, channel_id=5, milestones=(7, 0), role_id=9, updates=False, events=True)
    assert await store.servers.save(saved) == saved
    assert await store.servers.get(EVEN) == saved
    assert (await store.servers.get(EVEN)).active
    emptied = GuildSettings(EVEN, channel_id=5, milestones=())
    await store.servers.save(emptied)
    assert (await store.servers.get(EVEN)).milestones == ()


async def test_subscribed_servers_by_shard_and_by_updates(store: Store) -> None:
    await store.servers.save(GuildSettings(EVEN, channel_id=1))
    await store.servers.save(GuildSettings(ODD, channel_id=2, updates=False))
    await store.servers.save(GuildSettings(ODD + 2, channel_id=None))  # announcements off
    await store.servers.save(GuildSettings(EVEN + 2, channel_id=3, paused_at="2026-11-24T12:00:00+00:00"))
    assert [s.guild_id for s in await store.servers.subscribed(None)] == [EVEN, ODD]
    assert [s.guild_id for s in await store.servers.subscribed(None, updates_only=True)] == [EVEN]
    assert [s.guild_id for s in await store.servers.subscribed(Shards(2, (1,)))] == [ODD]
    assert Shards(2, (1,)).owns(ODD) and not Shards(2, (1,)).owns(EVEN)


def test_each_guild_belongs_to_exactly_one_shard() -> None:
    guilds = [(1_000_000_000 + i) << 22 for i in range(100)]
    owners = [[s for s in range(4) if Shards(4, (s,)).owns(g)] for g in guilds]
    assert all(len(o) == 1 for o in owners)
    assert Shards(4, (0, 2)).sql() == "((guild_id >> 22) % 4) IN (0, 2)"


async def test_when_a_servers_countdown_started_is_kept(store: Store) -> None:
    since = "2026-11-24T12:00:00+00:00"
    await store.servers.save(GuildSettings(EVEN, channel_id=5, countdown_since=since))
    await store.servers.save(GuildSettings(ODD, channel_id=6))  # saved without picking a channel
    even, odd = await store.servers.get(EVEN), await store.servers.get(ODD)
    assert even.countdown_since == since and even.since == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert odd.countdown_since is None and odd.since is None  # every milestone counts


@sqlite_only  # a SQLite data migration (PostgreSQL starts at schema 14)
async def test_servers_subscribed_before_the_upgrade_count_down_from_their_settings_last_save(
    tmp_path: Path,
) -> None:
    """Migration 0006: a subscribed server's countdown starts when its settings row was last saved (no
    earlier than it picked its channel, no later than the upgrade); a server with no channel has none."""
    path = tmp_path / "before-0006.sqlite3"
    db = await SqliteDatabase.connect(path)
    for number, file in migrations():
        if number < 6:
            for statement in sql_statements(file.read_text(encoding="utf-8")):
                await db.connection.execute(statement)
    await db.connection.execute("PRAGMA user_version = 5")
    await db.connection.executemany(
        "INSERT INTO guild_settings (guild_id, channel_id, updated_at) VALUES (?, ?, ?)",
        [(EVEN, 5, "2026-11-01T10:00:00+00:00"), (ODD, None, "2026-11-02T10:00:00+00:00")],
    )
    await db.close()
    store = await Store.open(path)
    try:
        assert (await store.servers.get(EVEN)).countdown_since == "2026-11-01T10:00:00+00:00"
        assert (await store.servers.get(ODD)).countdown_since is None
    finally:
        await store.close()


async def test_spoiler_days_are_kept_until_forgotten(store: Store) -> None:
    """Every answer reads its server's spoiler days: all kept after the first read, changed by this
    process's own saves (back to the default, too); what another process saved shows once this one
    forgets what it kept (as it does when it takes a shard from that process)."""
    other = await Store.open(store.where)
    try:
        assert await store.servers.spoiler_days(EVEN) == GuildSettings(EVEN).spoiler_days
        await store.servers.save(GuildSettings(ODD, spoiler_days=3))
        assert await store.servers.spoiler_days(ODD) == 3
        await other.servers.save(GuildSettings(EVEN, spoiler_days=0))
        await other.servers.save(GuildSettings(ODD, spoiler_days=30))
        assert (await store.servers.spoiler_days(EVEN), await store.servers.spoiler_days(ODD)) == (
            GuildSettings(EVEN).spoiler_days,
            3,
        )
        store.servers.forget_kept()
        assert (await store.servers.spoiler_days(EVEN), await store.servers.spoiler_days(ODD)) == (0, 30)
        await store.servers.save(GuildSettings(EVEN))  # the default again
        assert await store.servers.spoiler_days(EVEN) == GuildSettings(EVEN).spoiler_days
    finally:
        await other.close()
