"""Servers' settings (bot/store/servers.py): defaults until saved, and who is subscribed in which shards."""

from __future__ import annotations

from bot.store import Store
from bot.store.servers import DEFAULT_MILESTONES, GuildSettings, Shards

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
