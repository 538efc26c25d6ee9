"""Curation: the moderators' changes to facts and entries, and members' suggestions and their review.
Every write is one store transaction; what the moderators see afterwards is rendered as fans see it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from bot.clock import Clock
from bot.errors import FactNotFound, SameFact, SourceNeeded, StaleEdit, WhichItem
from bot.facts import CONFIRMED, Entry, Fact, fact_key
from bot.inputs import read_fact, read_value, require_field
from bot.render import Card
from bot.services.catalogue import Catalogue
from bot.store import ENTRY_FIELD, Revision, Store, Suggestion

SUGGESTIONS_PER_HOUR = 5
SUGGESTION_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class EntryChange:
    """What `/entry edit` was given; None keeps the current value."""

    title: str | None = None
    description: str | None = None
    aliases: tuple[str, ...] | None = None
    parent: Entry | None = None
    position: int | None = None


@dataclass(frozen=True)
class Reverted:
    revision: int  # the new revision
    target: Revision  # the one reverted
    entry_exists: bool  # False when the revert removed the entry again


class Curation:
    def __init__(self, store: Store, catalogue: Catalogue, clock: Clock) -> None:
        self.store = store
        self.catalogue = catalogue
        self.clock = clock

    def today(self) -> date:
        return self.clock().date()

    async def stored_card(self, slug: str, guild_id: int | None = None) -> Card:
        """An entry exactly as fans of the server `guild_id` (the moderators' own) will see it now."""
        entry = self.catalogue.entries.by_slug[slug]
        days = await self.catalogue.spoiler_days(guild_id)
        return await self.catalogue.entry_card(entry, self.clock(), spoiler_days=days)

    # --- facts -----------------------------------------------------------------------------------

    async def target(self, entry: Entry, field: str, item: str | None) -> Fact:
        """The stored fact a command means: the only one of a single-valued field, or the item picked
        (by the revision number autocomplete gives, or by name)."""
        spec = require_field(field)
        facts = [f for f in await self.store.facts.for_entry(entry.slug) if f.field == field]
        if not facts:
            raise FactNotFound(entry.title, field)
        if not item:
            if len(facts) > 1:
                raise WhichItem(field, len(facts))
            return facts[0]
        by_revision = [f for f in facts if str(f.revision_id) == item]
        if not by_revision and item.isdigit() and await self.store.history.get(int(item)) is not None:
            raise StaleEdit(None, field, picked=item)  # the item picked from the list changed since
        wanted = fact_key(field, read_value(field, item)) if spec.multi and not by_revision else None
        found = by_revision or [f for f in facts if f.key == wanted] or ([] if spec.multi else facts)
        if not found:
            raise FactNotFound(entry.title, field, item)
        return found[0]

    def read_fact(
        self,
        field: str,
        value: str,
        source: str,
        source_date: str | None,
        confidence: str | None = None,
        *,
        default_confidence: str = CONFIRMED,
        spoiler: bool = False,
    ) -> Fact:
        return read_fact(
            field,
            value,
            source,
            source_date,
            self.today(),
            confidence,
            default_confidence=default_confidence,
            spoiler=spoiler,
        )

    def revised(
        self,
        current: Fact,
        value: str | None,
        source: str | None,
        source_date: str | None,
        confidence: str | None,
        spoiler: bool | None = None,
    ) -> Fact:
        """The fact as an edit leaves it. A new value needs the source that says it (SourceNeeded);
        what the edit does not give is kept (the spoiler mark too), a new source's date defaulting to today."""
        new_value = read_value(current.field, value) if value is not None else current.value
        if new_value != current.value and source is None:
            raise SourceNeeded(current.field, new_value)
        same_source = source is None or source.strip() == current.source
        fact = self.read_fact(
            current.field,
            new_value,
            source or current.source,
            source_date or (current.source_date if same_source else None),
            confidence or current.confidence,
            spoiler=current.spoiler if spoiler is None else spoiler,
        )
        # A note belongs to the value it explains: kept while the value is.
        return replace(fact, note=current.note) if new_value == current.value else fact

    async def add_fact(self, entry: Entry, fact: Fact, who: str) -> int:
        return await self.store.facts.add(entry.slug, fact, who)

    async def edit_fact(self, entry: Entry, key: str, fact: Fact, who: str, seen: int | None) -> int:
        """Replace the fact at `key`; with `seen`, only if it is still the revision the editor saw."""
        return await self.store.facts.edit(entry.slug, fact.field, key, fact, who, expected_revision=seen)

    async def remove_fact(self, entry: Entry, fact: Fact, who: str, reason: str) -> int:
        return await self.store.facts.remove(entry.slug, fact.field, fact.key, who, reason)

    async def history(self, entry: Entry, field: str | None) -> list[Revision]:
        if field is not None:
            require_field(field)
        return await self.store.history.for_entry(entry.slug, field)

    async def revert(self, revision_id: int, who: str) -> Reverted:
        """Put back what was there before `revision_id`, as a new revision."""
        new = await self.store.history.revert(revision_id, who)
        target = await self.store.history.get(revision_id)
        assert target is not None  # revert found it
        if target.field == ENTRY_FIELD:
            await self.catalogue.refresh()
        return Reverted(new, target, target.entry_slug in self.catalogue.entries.by_slug)

    # --- entries ---------------------------------------------------------------------------------

    def next_position(self) -> int:
        return max((e.position for e in self.catalogue.entries), default=0) + 10

    async def add_entry(self, entry: Entry, who: str) -> int:
        revision = await self.store.entries.create(entry, who)
        await self.catalogue.refresh()
        return revision

    async def edit_entry(self, entry: Entry, change: EntryChange, who: str) -> int:
        new = replace(  # what the command does not change (the watcher's ids, say) stays
            entry,
            title=change.title or entry.title,
            description=change.description or entry.description,
            aliases=change.aliases or entry.aliases,
            parent=change.parent.slug if change.parent else entry.parent,
            position=entry.position if change.position is None else change.position,
        )
        revision = await self.store.entries.change(entry.slug, new, who)
        await self.catalogue.refresh()
        return revision

    async def fact_count(self, entry: Entry) -> int:
        return len(await self.store.facts.for_entry(entry.slug))

    async def remove_entry(self, slug: str, who: str, *, force: bool = False) -> int:
        revision = await self.store.entries.retire(slug, who, force=force)
        await self.catalogue.refresh()
        return revision

    # --- suggestions -----------------------------------------------------------------------------

    async def suggest(
        self,
        entry: Entry,
        fact: Fact,
        user_id: int,
        user_name: str,
        guild_id: int | None,
        locale: str | None = None,
    ) -> tuple[Suggestion, str | None]:
        """Record a member's suggestion (at most SUGGESTIONS_PER_HOUR an hour), made in Discord's
        `locale` (the decision is told them in it); with what is stored now."""
        current = await self.store.facts.get(entry.slug, fact.field, fact.key)
        if current is not None and current.value == fact.value:
            raise SameFact(fact.field, fact.value, suggested=True)
        suggestion = await self.store.suggestions.add(
            entry.slug,
            fact,
            user_id,
            user_name,
            guild_id,
            limit=SUGGESTIONS_PER_HOUR,
            window=SUGGESTION_WINDOW,
            locale=locale,
        )
        return suggestion, current.value if current else None

    async def unposted(self) -> list[Suggestion]:
        return await self.store.suggestions.unposted()

    async def posted_already(self, suggestion_id: int) -> bool:
        """Whether the suggestion's review post exists (or it was decided already)."""
        stored = await self.store.suggestions.get(suggestion_id)
        return stored is None or stored.review_message_id is not None or stored.status != "pending"

    async def stored_value(self, suggestion: Suggestion) -> str | None:
        """What the facts say now where `suggestion` would go."""
        current = await self.store.facts.get(
            suggestion.entry_slug, suggestion.fact.field, suggestion.fact.key
        )
        return current.value if current else None

    async def posted_for_review(self, suggestion: Suggestion, channel_id: int, message_id: int) -> None:
        await self.store.suggestions.set_review_message(suggestion.id, channel_id, message_id)

    async def decide(
        self, suggestion_id: int, *, approve: bool, by: str, reason: str = ""
    ) -> tuple[Suggestion, str | None]:
        """Approve (the fact becomes a revision crediting the suggester) or reject, exactly once; with
        what is stored now."""
        decided = await self.store.suggestions.decide(suggestion_id, approve, by, reason)
        return decided, await self.stored_value(decided)
