"""What the bot answers, as Cards: shared by the slash commands and the offline `python -m bot ask`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.facts import Entry, as_index, find_entry, ranked_entries
from bot.render import Card, Style, about_card, cut, entry_card, search_card
from bot.store import Store

SEARCH_RESULTS = 10


class AnswerError(Exception):
    """The question cannot be answered; the message is one helpful line for the user."""


def resolve_entry(query: str, entries: Sequence[Entry]) -> Entry:
    """The entry a fan meant by `query` (slug, title or alias), or AnswerError naming the closest ones."""
    index = as_index(entries)
    exact = index.by_slug.get(query)
    if exact is not None:
        return exact
    found = find_entry(query, index)
    if found is not None:
        return found
    if not query.strip():
        raise AnswerError("Name an entry: a title, a country or a lead actor, for example Diana or India.")
    closest = [entry for score, entry in ranked_entries(query, index, limit=3) if score >= 20]
    shown = cut(" ".join(query.split()), 60) or "that"
    if closest:
        names = ", ".join(e.title for e in closest)
        raise AnswerError(
            f"I don't know an entry called “{shown}”. Closest: {names}. Pick one from the list as you type."
        )
    raise AnswerError(
        f"I don't know an entry called “{shown}”. Start typing a title, a country or a lead actor and pick from the list."
    )


async def entry_answer(
    store: Store, query: str, entries: Sequence[Entry], now: datetime, style: Style = Style.DISCORD
) -> Card:
    entry = resolve_entry(query, entries)
    return entry_card(entry, await store.facts_for(entry.slug), now, style)


async def search_answer(store: Store, query: str, style: Style = Style.DISCORD) -> Card:
    words = " ".join(query.split())
    if not words:
        raise AnswerError("Type a word or a name to search for, for example “Milan” or “De Angelis”.")
    hits = await store.search(words, SEARCH_RESULTS)
    if not hits:
        raise AnswerError(
            f"No fact mentions “{cut(words, 60)}”. Try fewer or different words, or `/citadel show` to browse an entry."
        )
    return search_card(cut(words, 100), hits, style)


async def about_answer(store: Store, entries: Sequence[Entry]) -> Card:
    return about_card(entries, await store.count("facts"))
