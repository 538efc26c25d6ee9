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
    FollowNeedsServer,
    FollowRolesOff,
    HasChildren,
    HasFacts,
    InputError,
    ItemExists,
    NeedsManageRoles,
    NoSearchResults,
    NothingToRemind,
    NothingToRevert,
    OwnParent,
    RateLimited,
    RevisionNotFound,
    RoleAboveMine,
    RoleRefused,
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
from bot.i18n import N_, tr, trn
from bot.render import cut

# A suggestion's status as a refusal says it (the store keeps the English word).
SUGGESTION_STATUSES = {"approved": N_("approved"), "rejected": N_("rejected")}

# What a refused write did not do, said at the end of its line (in the reader's language, by `refusal`).
NOTHING_CHANGED = N_("Nothing was changed.")
NOTHING_STORED = N_("Nothing was stored.")


def _window(window: timedelta) -> str:
    """'an hour', '10 minutes', 'a day'… for a rate limit's window."""
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return trn("a day", "{count} days", seconds // 86400)
    if seconds % 3600 == 0 and seconds:
        return trn("an hour", "{count} hours", seconds // 3600)
    if seconds % 60 == 0 and seconds:
        return trn("a minute", "{count} minutes", seconds // 60)
    return trn("a second", "{count} seconds", seconds)


def refusal(error: CitadelError, note: str | None = None) -> str:
    """What the user reads for `error`: one line, saying what to do, ending with `note` (what a refused
    write did not do: NOTHING_CHANGED, NOTHING_STORED) where there is one."""
    line = _said(error)
    if isinstance(error, StaleEdit):
        # Refused whatever the command: the editor has to look again, so the line says how.
        ending = tr("Nothing was changed; run the command again to edit the new value.")
        return f"{line} {ending}"
    return f"{line} {tr(note)}" if note else line


def _said(error: CitadelError) -> str:
    match error:
        case InputError():
            return error.reason
        case UnknownEntry(query="", closest=()):
            return tr("Name an entry: a title, a country or a lead actor, for example Diana or India.")
        case UnknownEntry(query=query, closest=()):
            return tr(
                "I don't know an entry called “{query}”. Start typing a title, a country or a lead actor "
                "and pick from the list.",
                query=query,
            )
        case UnknownEntry(query=query, closest=closest):
            return tr(
                "I don't know an entry called “{query}”. Closest: {closest}. Pick one from the list as you type.",
                query=query,
                closest=", ".join(closest),
            )
        case EmptySearch():
            return tr("Type a word or a name to search for, for example “Milan” or “De Angelis”.")
        case NoSearchResults(words=words):
            return tr(
                "No fact mentions “{words}”. Try fewer or different words, or `/citadel show` to browse an entry.",
                words=words,
            )
        case EntryNotFound(slug=slug):
            return tr("There is no entry “{slug}”.", slug=slug)
        case FactNotFound(entry=entry, field=field, item=None):
            return tr("{entry} has no {field} fact; use /fact add.", entry=entry, field=field_label(field))
        case FactNotFound(entry=entry, field=field, item=item):
            return tr(
                "{entry} has no {field} item “{item}”; pick one from the list.",
                entry=entry,
                field=field_label(field),
                item=one_line(item or ""),
            )
        case WhichItem(field=field, count=count):
            return trn(
                "{field} has {count} item; say which one in item:.",
                "{field} has {count} items; say which one in item:.",
                count,
                field=field_label(field),
            )
        case RevisionNotFound(revision_id=revision_id):
            return tr("There is no revision #{number}.", number=revision_id)
        case SuggestionNotFound(suggestion_id=suggestion_id):
            return tr("There is no suggestion #{number}.", number=suggestion_id)
        case FactExists(field=field, stored=stored):
            return tr(
                "{field} already has “{value}”; use /fact edit to change it.",
                field=field_label(field),
                value=stored,
            )
        case ItemExists(field=field, value=value):
            return tr("{field} already lists “{value}”.", field=field_label(field), value=value)
        case EntryExists(slug=slug):
            return tr("There is already an entry “{slug}”.", slug=slug)
        case SameFact(field=field, value=value, suggested=True):
            return tr(
                "{field} already says “{value}”; thanks all the same.",
                field=field_label(field),
                value=cut(value, 200),
            )
        case SameFact(field=field, value=value):
            return tr("{field} already says “{value}”.", field=field_label(field), value=value)
        case SourceNeeded(field=field, value=value):
            return tr(
                "Which source says {field} is “{value}”? Give it in source: (a link or the publication) and, "
                "if it is not from today, source_date:.",
                field=field_label(field),
                value=cut(value, 100),
            )
        case SameEdit(field=field):
            return tr("{field} already says exactly that, from the same source.", field=field_label(field))
        case SameEntry(title=title):
            return tr("{title} already looks exactly like that.", title=title)
        case NothingToRevert(revision_id=revision_id):
            return tr(
                "Nothing to revert: the fact is already as it was before #{number}.", number=revision_id
            )
        case AlreadyStored():
            return tr("That fact is already stored exactly like this; reject the suggestion instead.")
        case StaleEdit(picked=str() as picked, field=field):
            return tr(
                "Someone changed that {field} item after you picked it (#{number}); pick it again.",
                field=field_label(field),
                number=picked,
            )
        case StaleEdit(current=None):
            return tr("Someone changed this fact after you opened it.")
        case StaleEdit(current=current) if current is not None:
            return tr(
                "Someone changed this fact after you opened it (revision #{number} by {who}). It now says “{value}”.",
                number=current.revision_id,
                who=current.added_by,
                value=cut(current.value, 300),
            )
        case OwnParent():
            return tr("An entry cannot be its own parent.")
        case HasChildren(title=title, children=children):
            return tr(
                "{title} has entries under it ({children}); move or remove them first.",
                title=title,
                children=", ".join(children),
            )
        case NothingToRemind(title=title, premiere=premiere):
            return tr(
                "{title} has premiered ({premiere}): there is no premiere ahead to remind you of.",
                title=title,
                premiere=premiere,
            )
        case FollowNeedsServer():
            return tr("Following works in a server, where the followers' role is: use it there.")
        case FollowRolesOff():
            return tr(
                "This server has follow roles turned off; an admin can turn them on with /announce follow-roles on."
            )
        case NeedsManageRoles():
            return tr(
                "I can't give or take roles here: I need the Manage Roles permission. Ask an admin to give my "
                "role Manage Roles (Server Settings → Roles)."
            )
        case RoleAboveMine(role=role, mine=mine):
            return tr(
                "I can't give or take the “{role}” role: it isn't below my highest role “{mine}”. Ask an admin "
                "to move “{mine}” above “{role}” (Server Settings → Roles).",
                role=role,
                mine=mine,
            )
        case RoleRefused(role=role):
            return tr(
                "Discord refused to let me manage the “{role}” role (Missing Permissions): my role needs Manage "
                "Roles and must sit above “{role}” (Server Settings → Roles).",
                role=role,
            )
        case HasFacts(title=title, count=count):
            return trn(
                "{title} still has {count} fact.", "{title} still has {count} facts.", count, title=title
            )
        case AlreadyDecided(suggestion_id=suggestion_id, status=status):
            return tr(
                "Suggestion #{number} was already {status}.",
                number=suggestion_id,
                status=tr(SUGGESTION_STATUSES.get(status, status)),
            )
        case RateLimited(limit=limit, window=window, retry_at=retry_at):
            return trn(
                "You can make {count} suggestion {window}. You can suggest again {when}.",
                "You can make {count} suggestions {window}. You can suggest again {when}.",
                limit,
                window=_window(window),
                when=discord.utils.format_dt(retry_at, "R"),
            )
    return tr("That can't be done.")
