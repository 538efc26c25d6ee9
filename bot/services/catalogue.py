"""The catalogue of entries fans ask about: the entry index, the answers kept until the facts change,
answers being made, and noticing what other processes sharing the database changed."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from bot import spoilers
from bot.announcements import countdown_entry, countdown_overview
from bot.clock import Clock
from bot.errors import EmptySearch, NoSearchResults, UnknownEntry
from bot.facts import SPOILER_DAYS, Entry, EntryIndex, find_entry, match_entries, ranked_entries
from bot.i18n import reader
from bot.render import Card, Style, WebLinks, about_card, cut, entry_card, search_card, with_web
from bot.store import SearchHit, Store

T = TypeVar("T")

ANSWERS_KEPT = 1024
SEARCH_RESULTS = 10
CHOICES = 25  # Discord shows at most 25 autocomplete choices
# How often the database is asked whether another process committed: its changes show within this time.
CHECK_EVERY = timedelta(seconds=0.5)


class Catalogue:
    """Entries and kept answers, shared by the fans' commands, the moderators' and the offline CLI.

    Kept answers are dropped after every commit of this process that changed a fact or an entry (the
    store calls `forget`), and within CHECK_EVERY of another process's commit (`notice_changes`)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        check_every: timedelta = CHECK_EVERY,
        default_time: time = time(0, tzinfo=UTC),
        public_url: str | None = None,
    ) -> None:
        self.store = store
        self.public_url = public_url  # PUBLIC_URL: answers then give the public page's links
        self.clock = clock
        self.check_every = check_every
        self.default_time = default_time  # of a premiere known to the day only (DEFAULT_PREMIERE_TIME)
        self.entries = EntryIndex(())
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        # Answers being made: the same question asked meanwhile waits for this one rather than running
        # the same queries again (50 fans searching "Milan" at once make one search).
        self._making: dict[Hashable, asyncio.Future[Any]] = {}
        self._generation = 0  # moves on every forget(): an answer made from older facts is not kept
        self._choices: OrderedDict[str, tuple[Entry, ...]] = OrderedDict()
        self._version = -1  # the store's data_version when last looked
        self._revision = -1  # the newest revision when the entries were last read
        self._checked_at: datetime | None = None

    async def open(self) -> None:
        """Read the entries and start listening to this process's commits."""
        self._version = await self.store.data_version()
        await self.refresh()
        self.store.on_change.append(self.forget)
        self.store.on_news.append(self.news)

    def close(self) -> None:
        if self.forget in self.store.on_change:
            self.store.on_change.remove(self.forget)
        if self.news in self.store.on_news:
            self.store.on_news.remove(self.news)

    def news(self) -> None:
        """The store says another process committed: the next `notice_changes` looks at once, however
        lately it last looked."""
        self._checked_at = None

    def forget(self) -> None:
        self._answers.clear()
        self._generation += 1

    async def refresh(self) -> None:
        """Re-read the entries after they changed: autocomplete and answers know a new one at once."""
        self._revision = await self.store.history.latest()
        self.entries = EntryIndex(await self.store.entries.all())
        self._choices.clear()
        self.forget()

    async def notice_changes(self) -> None:
        """Drop kept answers if a process sharing the database committed since we last looked, and
        re-read the entries if that commit made a revision. Looked at most every `check_every` of the
        injected clock, and at once after the store brought news; this process's own changes show at once."""
        now = self.clock()
        if self._checked_at is not None and now - self._checked_at < self.check_every:
            return
        self._checked_at = now
        version = await self.store.data_version()
        if version == self._version:
            return
        self._version = version
        if await self.store.history.latest() != self._revision:
            await self.refresh()
        else:
            self.forget()

    # --- entries ---------------------------------------------------------------------------------

    def resolve(self, query: str) -> Entry:
        """The entry meant by `query` (slug, title or alias), or UnknownEntry with the closest titles."""
        exact = self.entries.by_slug.get(query)
        if exact is not None:
            return exact
        found = find_entry(query, self.entries)
        if found is not None:
            return found
        closest = tuple(e.title for score, e in ranked_entries(query, self.entries, limit=3) if score >= 20)
        raise UnknownEntry(cut(" ".join(query.split()), 60), closest if query.strip() else ())

    async def choices(self, current: str) -> tuple[Entry, ...]:
        """Entries matching what is being typed, best first. Served from memory (autocomplete must be
        fast); many members type the same first letters, so recent results are kept."""
        await self.notice_changes()
        found = self._choices.get(current)
        if found is None:
            found = tuple(match_entries(current, self.entries, CHOICES))
            self._choices[current] = found
            if len(self._choices) > ANSWERS_KEPT:
                self._choices.popitem(last=False)
        return found

    # --- answers, as Cards (the slash commands and `python -m bot ask` render them) -----------------

    async def entry_card(
        self, entry: Entry, now: datetime, style: Style = Style.DISCORD, *, spoiler_days: int = SPOILER_DAYS
    ) -> Card:
        """The entry as a server that hides spoilers `spoiler_days` after a premiere sees it at `now`."""
        hide = await self.spoilers_hidden(entry, now, spoiler_days)
        card = entry_card(entry, await self.store.facts.for_entry(entry.slug), now, style, hide_spoilers=hide)
        return card if self.public_url is None else with_web(card, WebLinks.at(self.public_url, entry.slug))

    async def spoiler_days(self, guild_id: int | None) -> int:
        """How long spoilers stay hidden in this server's answers (outside a server: the default)."""
        return SPOILER_DAYS if guild_id is None else await self.store.servers.spoiler_days(guild_id)

    async def spoilers_hidden(self, entry: Entry, now: datetime, days: int) -> bool:
        """Whether `entry`'s spoilers are hidden at `now` where they stay hidden `days` after its premiere.
        Its premiere is kept like an answer, until the facts change: a kept answer is keyed by this."""

        async def premiere() -> str | None:
            fact = await self.store.facts.get(entry.slug, "premiere", "")
            return fact.value if fact else None

        return spoilers.hidden(
            await self.kept(("premiere", entry.slug), premiere), days, now, self.default_time
        )

    async def search(self, query: str) -> tuple[str, list[SearchHit]]:
        """The query as shown (its words, cut to 100 characters) and its hits, best first: EmptySearch
        for no words, NoSearchResults for no hit."""
        words = " ".join(query.split())
        if not words:
            raise EmptySearch()
        hits = await self.store.facts.search(words, SEARCH_RESULTS)
        if not hits:
            raise NoSearchResults(cut(words, 60))
        return cut(words, 100), hits

    async def search_card(self, query: str, style: Style = Style.DISCORD) -> Card:
        return search_card(*await self.search(query), style)

    async def about_card(self) -> Card:
        web = None if self.public_url is None else WebLinks.at(self.public_url)
        return about_card(self.entries, await self.store.facts.count(), web)

    async def countdown_card(self, entry: Entry | None, now: datetime, default_time: time) -> Card:
        """Every premiere still ahead, or one entry's."""
        if entry is None:
            return countdown_overview(await self.store.facts.premieres(), self.entries, now, default_time)
        return countdown_entry(entry, await self.store.facts.for_entry(entry.slug), now, default_time)

    # --- kept answers ----------------------------------------------------------------------------

    async def kept(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """The answer kept for `key`, the one being made for it, or a new one (kept if the facts did
        not change while it was made). An error reaches every question that waited, too. Answers are
        kept per language: the reader's is part of the key."""
        key = (reader(), key)
        if key in self._answers:
            self._answers.move_to_end(key)
            kept: T = self._answers[key]
            return kept
        pending = self._making.get(key)
        if pending is not None:
            shared: T = await asyncio.shield(pending)
            return shared
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        generation = self._generation
        try:
            answer = await make()
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # nobody may be waiting: no "exception never retrieved" warning
            else:
                future.cancel()
            raise
        finally:
            del self._making[key]
        future.set_result(answer)
        if generation == self._generation:
            self._answers[key] = answer
            if len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return answer
