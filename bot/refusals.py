"""The one place that says each domain error to a user, as one line (the CommandTree's on_error asks it)."""

from __future__ import annotations

from datetime import timedelta

import discord

from bot.errors import (
    AlreadyDecided,
    AlreadyStored,
    CitadelError,
    EmptySearch,
    EntryExists,
    EntryNotFound,
    FactExists,
    FactNotFound,
    HasChildren,
    HasFacts,
    InputError,
    ItemExists,
    NoSearchResults,
    NothingToRemind,
    NothingToRevert,
    OwnParent,
    RateLimited,
    RevisionNotFound,
    SameEdit,
    SameEntry,
    SameFact,
    SourceNeeded,
    StaleEdit,
    SuggestionNotFound,
    UnknownEntry,
    WhichItem,
)
from bot.facts import field_label, one_line
from bot.render import cut

NOTHING_CHANGED = "Nothing was changed."
NOTHING_STORED = "Nothing was stored."


def _window(window: timedelta) -> str:
    """'an hour', '10 minutes', 'a day'… for a rate limit's window."""
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            article = "an" if unit == "hour" else "a"
            return f"{article} {unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


# A stale edit was refused whatever the command: the editor has to look again, so the line says how.
STALE_ENDING = "Nothing was changed; run the command again to edit the new value."


def refusal(error: CitadelError, note: str | None = None) -> str:
    """What the user reads for `error`: one line, saying what to do, ending with `note` (what a refused
    write did not do: NOTHING_CHANGED, NOTHING_STORED) where there is one."""
    line = _said(error)
    if isinstance(error, StaleEdit):
        return f"{line} {STALE_ENDING}"
    return f"{line} {note}" if note else line


def _said(error: CitadelError) -> str:
    match error:
        case InputError():
            return error.reason
        case UnknownEntry(query="", closest=()):
            return "Name an entry: a title, a country or a lead actor, for example Diana or India."
        case UnknownEntry(query=query, closest=()):
            return (
                f"I don't know an entry called “{query}”. Start typing a title, a country or a lead actor "
                "and pick from the list."
            )
        case UnknownEntry(query=query, closest=closest):
            return (
                f"I don't know an entry called “{query}”. Closest: {', '.join(closest)}. "
                "Pick one from the list as you type."
            )
        case EmptySearch():
            return "Type a word or a name to search for, for example “Milan” or “De Angelis”."
        case NoSearchResults(words=words):
            return f"No fact mentions “{words}”. Try fewer or different words, or `/citadel show` to browse an entry."
        case EntryNotFound(slug=slug):
            return f"There is no entry “{slug}”."
        case FactNotFound(entry=entry, field=field, item=None):
            return f"{entry} has no {field_label(field)} fact; use /fact add."
        case FactNotFound(entry=entry, field=field, item=item):
            return (
                f"{entry} has no {field_label(field)} item “{one_line(item or '')}”; pick one from the list."
            )
        case WhichItem(field=field, count=count):
            return f"{field_label(field)} has {count} items; say which one in item:."
        case RevisionNotFound(revision_id=revision_id):
            return f"There is no revision #{revision_id}."
        case SuggestionNotFound(suggestion_id=suggestion_id):
            return f"There is no suggestion #{suggestion_id}."
        case FactExists(field=field, stored=stored):
            return f"{field_label(field)} already has “{stored}”; use /fact edit to change it."
        case ItemExists(field=field, value=value):
            return f"{field_label(field)} already lists “{value}”."
        case EntryExists(slug=slug):
            return f"There is already an entry “{slug}”."
        case SameFact(field=field, value=value, suggested=True):
            return f"{field_label(field)} already says “{cut(value, 200)}”; thanks all the same."
        case SameFact(field=field, value=value):
            return f"{field_label(field)} already says “{value}”."
        case SourceNeeded(field=field, value=value):
            return (
                f"Which source says {field_label(field)} is “{cut(value, 100)}”? Give it in source: "
                "(a link or the publication) and, if it is not from today, source_date:."
            )
        case SameEdit(field=field):
            return f"{field_label(field)} already says exactly that, from the same source."
        case SameEntry(title=title):
            return f"{title} already looks exactly like that."
        case NothingToRevert(revision_id=revision_id):
            return f"Nothing to revert: the fact is already as it was before #{revision_id}."
        case AlreadyStored():
            return "That fact is already stored exactly like this; reject the suggestion instead."
        case StaleEdit(picked=str() as picked, field=field):
            return f"Someone changed that {field_label(field)} item after you picked it (#{picked}); pick it again."
        case StaleEdit(current=None):
            return "Someone changed this fact after you opened it."
        case StaleEdit(current=current) if current is not None:
            return (
                f"Someone changed this fact after you opened it (revision #{current.revision_id} by {current.added_by}). "
                f"It now says “{cut(current.value, 300)}”."
            )
        case OwnParent():
            return "An entry cannot be its own parent."
        case HasChildren(title=title, children=children):
            return f"{title} has entries under it ({', '.join(children)}); move or remove them first."
        case HasFacts(title=title, count=count):
            return f"{title} still has {count} facts."
        case AlreadyDecided(suggestion_id=suggestion_id, status=status):
            return f"Suggestion #{suggestion_id} was already {status}."
        case NothingToRemind(title=title, premiere=premiere):
            return f"{title} has premiered ({premiere}): there is no premiere ahead to remind you of."
        case RateLimited(limit=limit, window=window, retry_at=retry_at, action=action):
            return (
                f"You can make {limit} {action} {_window(window)}. "
                f"You can suggest again {discord.utils.format_dt(retry_at, 'R')}."
            )
    return "That can't be done."
