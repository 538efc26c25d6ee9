"""Reading what moderators and members type: facts, sources, dates, slugs, titles and aliases.

Pure functions; each raises InputError with one sentence saying what was wrong and what would be
accepted, so a command can answer it as it is. The sentence is in the reader's language: these run while
an interaction is handled, where the reader is the member (bot/i18n.py).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from urllib.parse import urlsplit

from bot.errors import InputError
from bot.facts import (
    CONFIDENCES,
    CONFIRMED,
    FIELDS,
    SPOILABLE,
    Fact,
    FieldSpec,
    Kind,
    ReleaseDate,
    fact_key,
    field_label,
    format_person,
    one_line,
    parse_value,
)
from bot.i18n import N_, either, listed, reader, tr

SOURCE_LIMIT = 300
TITLE_LIMIT = 100
DESCRIPTION_LIMIT = 100
ALIAS_LIMIT = 60
ALIASES_MAX = 20
RESERVED_SLUGS = frozenset({"show", "search", "about", "countdown", "suggest", "remind", "reminders"})

# Invisible and direction-changing characters: they make text look different from what it says.
_HIDDEN = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_PERSON_FORMS = (
    re.compile(r"^(?P<name>.+?)\s+[—–-]+\s+(?P<role>.+)$"),
    re.compile(r"^(?P<name>.+?)\s+as\s+(?P<role>.+)$", re.IGNORECASE),
    re.compile(r"^(?P<name>.+?)\s*\((?P<role>[^()]+)\)$"),
)


def check_text(label: str, text: str, limit: int, *, multiline: bool = False) -> str:
    """`text` trimmed, or InputError if it is empty, too long, or hides characters. `label` names what
    was typed in the reader's language ("The title"); each language's sentence puts it where it fits."""
    text = text.strip() if multiline else " ".join(text.split())
    if not text:
        raise InputError(tr("{label} is empty; write it out.", label=label))
    if hidden := _HIDDEN.search(text):
        code = f"U+{ord(hidden.group()):04X}"
        raise InputError(
            tr(
                "{label} contains an invisible or direction-changing character ({code}); remove it and try again.",
                label=label,
                code=code,
            )
        )
    if _CONTROL.search(text):
        raise InputError(tr("{label} contains control characters; type it as plain text.", label=label))
    if len(text) > limit:
        said = tr(
            "{label} is {length} characters long; the limit is {limit}.",
            label=label,
            length=len(text),
            limit=limit,
        )
        raise InputError(said)
    return unicodedata.normalize("NFC", text)


def read_person(value: str) -> str:
    """'Name — Role', 'Name - Role', 'Name as Role' or 'Name (Role)' -> the canonical 'Name — Role'."""
    for form in _PERSON_FORMS:
        if match := form.match(value):
            return format_person(match["name"], match["role"])
    return format_person(value)


def require_field(field: str) -> FieldSpec:
    spec = FIELDS.get(field)
    if spec is None:
        raise InputError(
            tr(
                "There is no field “{field}”; pick one from the list, such as {fields}.",
                field=one_line(field, 40),
                fields=", ".join(list(FIELDS)[:6]),
            )
        )
    return spec


def read_value(field: str, raw: str) -> str:
    spec = require_field(field)
    label = tr("The value for {field}", field=field_label(field))
    text = check_text(label, raw, max(spec.limit, 1), multiline=spec.kind is Kind.TEXT)
    if spec.kind is Kind.PERSON:
        text = read_person(text)
    try:
        return parse_value(field, text)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def read_source(raw: str) -> str:
    """A link (http or https only) or the name of a publication."""
    text = check_text(tr("The source"), raw, SOURCE_LIMIT)
    if _SCHEME.match(text) or text.lower().startswith("www."):
        if text.lower().startswith("www."):
            text = "https://" + text
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in text:
            raise InputError(
                tr(
                    "The source must be a web link starting with https:// or http://, or the name of a publication."
                )
            )
    return text


def read_source_date(raw: str | None, today: date) -> str:
    """When the source said it: a day, a month or a year, not in the future. Empty means today."""
    if raw is None or not raw.strip():
        return today.isoformat()
    try:
        when = ReleaseDate.parse(raw)
    except ValueError as exc:
        raise InputError(tr("The source date: {problem}", problem=exc)) from None
    if when.window()[0] > today:
        raise InputError(tr("The source date is in the future; give the date the source was published."))
    return str(when)


def read_confidence(raw: str | None, default: str = CONFIRMED) -> str:
    """`confirmed`, `reported` or `rumour` (any case); empty means `default`."""
    if raw is None or not raw.strip():
        return default
    confidence = raw.strip().lower()
    if confidence not in CONFIDENCES:
        raise InputError(
            tr("“{value}” is not a confidence; use {confidences}.", value=one_line(raw, 20),
               confidences=either(CONFIDENCES))
        )  # fmt: skip
    return confidence


# How sure a fact is, as moderators read it in the history and on a review post (the store, the canon
# and what moderators type keep the English word).
CONFIDENCE_WORDS = {CONFIRMED: N_("confirmed"), "reported": N_("reported"), "rumour": N_("rumour")}


def confidence_said(confidence: str) -> str:
    """A confidence in the reader's words ("reported" -> "riportato"); an unknown one as it is."""
    return tr(CONFIDENCE_WORDS[confidence]) if confidence in CONFIDENCE_WORDS else confidence


def _in_sentence(label: str) -> str:
    """A field's label inside an English sentence is lower case ("only plot and notes facts"); other
    languages keep it as their label says it (German's nouns are capitalised; others quote it)."""
    return label.lower() if reader() is None else label


def read_spoiler(field: str, spoiler: bool) -> bool:
    """Whether a fact is a spoiler: only a field that can tell the story (SPOILABLE) may be one."""
    if spoiler and not require_field(field).spoilable:
        raise InputError(
            tr(
                "Only {fields} facts can be marked as spoilers, not {field}; leave spoiler out for this one.",
                fields=listed([_in_sentence(field_label(name)) for name in SPOILABLE]),
                field=_in_sentence(field_label(field)),
            )
        )
    return spoiler


def read_fact(
    field: str,
    value: str,
    source: str,
    source_date: str | None,
    today: date,
    confidence: str | None = None,
    *,
    default_confidence: str = CONFIRMED,
    spoiler: bool = False,
) -> Fact:
    """Everything a new fact needs, read and checked."""
    canonical = read_value(field, value)
    return Fact(
        field=field,
        value=canonical,
        source=read_source(source),
        source_date=read_source_date(source_date, today),
        key=fact_key(field, canonical),
        confidence=read_confidence(confidence, default_confidence),
        spoiler=read_spoiler(field, spoiler),
    )


def read_slug(raw: str) -> str:
    slug = raw.strip().lower()
    if not _SLUG.match(slug):
        raise InputError(
            tr(
                "A slug is 1–32 lowercase letters, digits and hyphens, starting with a letter or digit, "
                "like season-3."
            )
        )
    if slug in RESERVED_SLUGS:
        raise InputError(tr("“{slug}” is taken by a /citadel command; choose another slug.", slug=slug))
    return slug


def read_title(raw: str) -> str:
    return check_text(tr("The title"), raw, TITLE_LIMIT)


def read_description(raw: str) -> str:
    return check_text(tr("The description"), raw, DESCRIPTION_LIMIT)


def read_aliases(raw: str) -> tuple[str, ...]:
    """Comma-separated names fans might type."""
    names = [part for part in raw.split(",") if part.strip()]
    if len(names) > ALIASES_MAX:
        raise InputError(
            tr("That is {count} aliases; the limit is {limit}.", count=len(names), limit=ALIASES_MAX)
        )
    label = tr("An alias")
    return tuple(dict.fromkeys(check_text(label, name, ALIAS_LIMIT) for name in names))
