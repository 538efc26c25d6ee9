"""Suggestions (bot/store/suggestions.py): rate-limited, decided exactly once, approval a revision
crediting the member."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.canon import load_canon
from bot.clock import ManualClock
from bot.errors import AlreadyDecided, AlreadyStored, EntryNotFound, RateLimited, SuggestionNotFound
from bot.facts import Fact
from bot.store import Store
from tests.engines import new_database
from tests.store_probe import count

START = datetime(2026, 11, 24, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
EPISODES = Fact("episodes", "8", "https://example.org/episodes", "2026-11-20")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def clocked(tmp_path: Path, canon_dir: Path, clock: ManualClock) -> AsyncIterator[Store]:
    store = await Store.open(new_database(tmp_path), clock)
    await load_canon(store, canon_dir)
    yield store
    await store.close()


async def suggest(store: Store, fact: Fact = EPISODES, user_id: int = 42) -> int:
    suggestion = await store.suggestions.add("diana", fact, user_id, "fan", 1, limit=3, window=HOUR)
    return suggestion.id


async def test_a_suggestion_is_stored_pending_with_its_review_message(clocked: Store) -> None:
    suggestion = await clocked.suggestions.add("diana", EPISODES, 42, "fan", 1, limit=3, window=HOUR)
    assert (suggestion.entry_slug, suggestion.entry_title, suggestion.status) == (
        "diana",
        "Citadel: Diana",
        "pending",
    )
    assert suggestion.fact.value == "8" and suggestion.created_at == START.isoformat(timespec="seconds")
    await clocked.suggestions.set_review_message(suggestion.id, 100, 200)
    stored = await clocked.suggestions.get(suggestion.id)
    assert stored is not None and (stored.review_channel_id, stored.review_message_id) == (100, 200)
    assert await clocked.suggestions.get(suggestion.id + 1) is None
    with pytest.raises(EntryNotFound):
        await clocked.suggestions.add("nothing", EPISODES, 42, "fan", 1, limit=3, window=HOUR)


async def test_suggestions_are_rate_limited_with_the_moment_of_the_next(
    clocked: Store, clock: ManualClock
) -> None:
    await suggest(clocked)
    clock.advance(timedelta(minutes=10))
    await suggest(clocked)
    await suggest(clocked)
    await suggest(clocked, user_id=7)  # someone else is not limited by them
    with pytest.raises(RateLimited) as limited:
        await suggest(clocked)
    assert (limited.value.limit, limited.value.window) == (3, HOUR)
    assert limited.value.retry_at == START + HOUR
    assert count(clocked, "suggestions") == 4
    clock.set(START + HOUR)
    await suggest(clocked)  # the first one is an hour old now


async def test_approval_stores_the_fact_crediting_the_member(clocked: Store) -> None:
    suggestion_id = await suggest(clocked)
    decided = await clocked.suggestions.decide(suggestion_id, True, "mod")
    assert decided.status == "approved" and decided.decided_by == "mod" and decided.revision_id
    stored = await clocked.facts.get("diana", "episodes", "")
    assert stored is not None and stored.value == "8" and stored.revision_id == decided.revision_id
    assert stored.added_by == f"fan (42), suggestion #{suggestion_id} approved by mod"
    with pytest.raises(AlreadyDecided) as again:
        await clocked.suggestions.decide(suggestion_id, False, "other mod")
    assert (again.value.suggestion_id, again.value.status) == (suggestion_id, "approved")


async def test_rejection_stores_nothing(clocked: Store) -> None:
    revisions = count(clocked, "revisions")
    decided = await clocked.suggestions.decide(await suggest(clocked), False, "mod", "no source")
    assert (decided.status, decided.reason, decided.revision_id) == ("rejected", "no source", None)
    assert count(clocked, "revisions") == revisions


async def test_approving_what_is_already_stored_is_refused(clocked: Store) -> None:
    stored = await clocked.facts.get("diana", "episodes", "")
    assert stored is not None
    suggestion_id = await suggest(clocked, stored)
    with pytest.raises(AlreadyStored) as refused:
        await clocked.suggestions.decide(suggestion_id, True, "mod")
    assert refused.value.suggestion_id == suggestion_id
    pending = await clocked.suggestions.get(suggestion_id)
    assert pending is not None and pending.status == "pending"  # rolled back: still to decide


async def test_a_missing_suggestion_is_refused_with_its_id(clocked: Store) -> None:
    with pytest.raises(SuggestionNotFound) as missing:
        await clocked.suggestions.decide(404, True, "mod")
    assert missing.value.suggestion_id == 404
