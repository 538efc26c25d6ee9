"""The domain's and the store's errors: typed, carrying data, never sentences. `bot/refusals.py` is the
one place that says each to a user."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.facts import Fact


class CitadelError(Exception):
    """Something asked of the bot cannot be done. Subclasses are dataclasses holding what a refusal
    needs to say; `str()` is for logs, not for users."""

    def __str__(self) -> str:
        return repr(self)


class InputError(CitadelError, ValueError):
    """What a user typed cannot be read. The pure readers of `bot/inputs.py` say, as the data of the
    error, what was wrong and what would be accepted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


# --- what a question names that is not there ----------------------------------------------------


@dataclass(eq=False)
class UnknownEntry(CitadelError):
    """No entry goes by what was typed; `closest` are titles that come near it."""

    query: str
    closest: tuple[str, ...] = ()


@dataclass(eq=False)
class EmptySearch(CitadelError):
    """A search with no word in it."""


@dataclass(eq=False)
class NoSearchResults(CitadelError):
    words: str


@dataclass(eq=False)
class NotFound(CitadelError):
    """Base of the lookups the store finds nothing for."""


@dataclass(eq=False)
class EntryNotFound(NotFound):
    slug: str


@dataclass(eq=False)
class FactNotFound(NotFound):
    """The entry has no fact in `field` (or not the item asked for)."""

    entry: str  # the entry's title, or its slug where the title is not at hand
    field: str
    item: str | None = None


@dataclass(eq=False)
class RevisionNotFound(NotFound):
    revision_id: int


@dataclass(eq=False)
class SuggestionNotFound(NotFound):
    suggestion_id: int


@dataclass(eq=False)
class WhichItem(CitadelError):
    """A field with several items was named without saying which one."""

    field: str
    count: int


# --- writes refused -------------------------------------------------------------------------------


@dataclass(eq=False)
class AlreadyExists(CitadelError):
    """Base of the additions of something that is already there."""


@dataclass(eq=False)
class FactExists(AlreadyExists):
    """An addition where the entry already has a different value (`/fact edit` changes it)."""

    field: str
    stored: str


@dataclass(eq=False)
class ItemExists(AlreadyExists):
    """Renaming an item of a multi-valued field to one the field already lists."""

    field: str
    value: str


@dataclass(eq=False)
class EntryExists(AlreadyExists):
    slug: str


@dataclass(eq=False)
class Unchanged(CitadelError):
    """Base of the writes that would store what is already there."""


@dataclass(eq=False)
class SameFact(Unchanged):
    """The fact already says `value`. `suggested` when a member suggested it."""

    field: str
    value: str
    suggested: bool = False


@dataclass(eq=False)
class SourceNeeded(CitadelError):
    """An edit that changes what a fact says without naming the source that says the new value."""

    field: str
    value: str


@dataclass(eq=False)
class SameEdit(Unchanged):
    """An edit that says what is stored, from the same source."""

    field: str


@dataclass(eq=False)
class SameEntry(Unchanged):
    title: str


@dataclass(eq=False)
class NothingToRevert(Unchanged):
    revision_id: int


@dataclass(eq=False)
class AlreadyStored(Unchanged):
    """Approving a suggestion whose fact is already stored exactly like that."""

    suggestion_id: int


@dataclass(eq=False)
class StaleEdit(CitadelError):
    """Someone saved the fact after the editor looked at it. `current` is what is stored now (None
    when the item the editor picked is gone); `picked` is the revision they picked from a list."""

    current: Fact | None
    field: str = ""
    picked: str | None = None


@dataclass(eq=False)
class OwnParent(CitadelError):
    slug: str


@dataclass(eq=False)
class HasFacts(CitadelError):
    """An entry is removed only without facts (or with `force`)."""

    title: str
    count: int


@dataclass(eq=False)
class HasChildren(CitadelError):
    """An entry is removed only with no entries under it."""

    title: str
    children: tuple[str, ...]


@dataclass(eq=False)
class AlreadyDecided(CitadelError):
    suggestion_id: int
    status: str


@dataclass(eq=False)
class RateLimited(CitadelError):
    """`limit` actions per `window` were used up; the next one is allowed at `retry_at`."""

    limit: int
    window: timedelta
    retry_at: datetime
    action: str = field(default="suggestions")


# --- following a title (its followers' role in a server) ------------------------------------------


@dataclass(eq=False)
class FollowNeedsServer(CitadelError):
    """Following asked for outside a server: the followers' roles are per server."""


@dataclass(eq=False)
class FollowRolesOff(CitadelError):
    """The server's admins turned follow roles off (/announce follow-roles off)."""


@dataclass(eq=False)
class NeedsManageRoles(CitadelError):
    """The bot may not give or take roles in the server."""


@dataclass(eq=False)
class RoleAboveMine(CitadelError):
    """The followers' role `role` is not below the bot's highest role `mine`, so Discord will not let
    the bot give it or take it."""

    role: str
    mine: str


@dataclass(eq=False)
class RoleRefused(CitadelError):
    """Discord refused to make, give or take the followers' role `role` (403 Missing Permissions)
    although the bot's permissions and place looked right a moment before."""

    role: str


@dataclass(eq=False)
class NothingToRemind(CitadelError):
    """A DM reminder asked for an entry whose premiere is behind us. `premiere` is how it reads."""

    title: str
    premiere: str
