"""The bot's own metadata (bot/store/meta.py) and the canon's snapshots (bot/store/canon.py)."""

from __future__ import annotations

from bot.facts import Entry, Fact
from bot.store import Store, canon_fact_content
from tests.store_probe import count


async def test_meta_keeps_the_last_value_of_a_key(store: Store) -> None:
    assert await store.meta.get("digest") is None
    await store.meta.set("digest", "a")
    await store.meta.set("digest", "b")
    assert await store.meta.get("digest") == "b"
    assert count(store, "meta") == 1


async def test_a_canon_snapshot_is_what_the_file_said(store: Store) -> None:
    entry = Entry("zeta", "Zeta")
    facts = [Fact("episodes", "3", "https://example.org/z", "2026-01-01", note="a note", added_by="x")]
    assert await store.canon.digests() == {}
    async with store.transaction() as tx:
        assert await store.canon.snapshot(tx, "zeta.toml") == {}
        await store.canon.save_snapshot(tx, "zeta.toml", "d1", entry, facts)
        assert await store.canon.snapshot(tx, "zeta.toml") == {("episodes", ""): canon_fact_content(facts[0])}
        await store.canon.save_snapshot(tx, "zeta.toml", "d2", entry, [])  # a new snapshot replaces it
        assert await store.canon.snapshot(tx, "zeta.toml") == {}
    assert await store.canon.digests() == {"zeta.toml": "d2"}
    assert canon_fact_content(facts[0]) == {
        "value": "3", "note": "a note", "source": "https://example.org/z", "source_date": "2026-01-01",
        "confidence": "confirmed", "spoiler": False,
    }  # fmt: skip
