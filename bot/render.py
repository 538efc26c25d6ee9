"""Pure rendering: an entry and its facts -> a Card, and a Card -> a discord.Embed or plain text.

A Card is kept inside Discord's embed limits here, so the same answer fits everywhere it is shown. Its
words are in the reader's language (bot/i18n.py), measured after they are translated; its facts as
written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import discord

from bot.facts import (
    CONFIRMED,
    FIELDS,
    Entry,
    Fact,
    FieldSpec,
    Kind,
    Precision,
    ReleaseDate,
    confidence_mark,
    field_label,
    split_person,
    status_words,
)
from bot.i18n import N_, tr, trn

if TYPE_CHECKING:  # a type only: rendering is pure and reads no store
    from bot.store import SearchHit, SourceState
    from bot.store.revisions import Revision


@dataclass(frozen=True)
class WatchedSource:
    name: str
    entries: int  # entries whose canon names an id at this source
    state: SourceState | None  # None before its first round


# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
FIELD_COUNT_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000
ELLIPSIS = "…"
SPOILER = "||"  # Discord's marker, on both sides of hidden text
COLOUR = 0xB3202A  # Citadel red
RELEASED_STATUSES = ("released", "renewed", "ended")
NOT_RELEASED = N_("not released yet")


class Style(Enum):
    DISCORD = "discord"  # markdown and <t:…> timestamps every reader sees in their own time zone
    TEXT = "text"  # plain text for the terminal


@dataclass(frozen=True)
class CardField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Card:
    title: str
    description: str = ""
    fields: tuple[CardField, ...] = ()
    footer: str = ""

    def total(self) -> int:
        """Characters Discord counts towards the 6000 limit."""
        return (
            len(self.title)
            + len(self.description)
            + sum(len(f.name) + len(f.value) for f in self.fields)
            + len(self.footer)
        )


# --- text fitting -------------------------------------------------------------------------------


def cut(text: str, limit: int) -> str:
    """`text` if it fits, else cut at a word boundary with '…' so the result has at most `limit` chars.

    A cut inside a spoiler keeps it closed ("||The plot…||"), the markers counted in `limit`: the rest
    of a hidden text never shows, and a marker is never split in two."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    marks = spoiler_marks(text)
    head, inside = _head(text, limit - len(ELLIPSIS), marks)
    if not inside:
        return head + ELLIPSIS
    head, inside = _head(text, max(limit - len(ELLIPSIS) - len(SPOILER), 0), marks)  # room to close it
    return head + ELLIPSIS + (SPOILER if inside else "")


def _head(text: str, size: int, marks: list[int]) -> tuple[str, bool]:
    """The start of `text` (longer than `size`) cut to at most `size` characters at a word boundary, and
    whether it ends inside a spoiler. It never ends within a marker, nor just after one that opens."""
    head = text[:size]
    space = max(head.rfind(" "), head.rfind("\n"))
    if text[size].isspace():  # the cut falls between words already
        space = size
    if space >= size // 2:  # a word boundary not too far back; else cut the long word itself
        head = head[:space]
    head = head.rstrip()
    while True:
        complete = [m for m in marks if m + len(SPOILER) <= len(head)]
        split = next((m for m in marks if m < len(head) < m + len(SPOILER)), None)
        if split is not None:
            head = head[:split].rstrip()
        elif len(complete) % 2 and complete[-1] + len(SPOILER) == len(head):
            head = head[: complete[-1]].rstrip()  # nothing hidden after the opening marker yet
        else:
            return head, len(complete) % 2 == 1


def spoiler_marks(text: str) -> list[int]:
    """Where Discord's spoiler markers (`||`, not escaped with a backslash) start in `text`."""
    marks, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(SPOILER, i):
            marks.append(i)
            i += len(SPOILER)
        else:
            i += 1
    return marks


def fit(card: Card) -> Card:
    """The card cut to Discord's per-part limits and to 6000 characters in all."""
    fields = tuple(
        CardField(
            cut(f.name, FIELD_NAME_LIMIT) or "\u200b", cut(f.value, FIELD_VALUE_LIMIT) or "\u200b", f.inline
        )
        for f in card.fields[:FIELD_COUNT_LIMIT]
    )
    card = Card(
        cut(card.title, TITLE_LIMIT),
        cut(card.description, DESCRIPTION_LIMIT),
        fields,
        cut(card.footer, FOOTER_LIMIT),
    )
    # Over the total: shorten the longest part (description or a field value) until it fits.
    while (excess := card.total() - EMBED_TOTAL_LIMIT) > 0:
        longest = max(
            range(-1, len(card.fields)),
            key=lambda i: len(card.description if i < 0 else card.fields[i].value),
        )
        current = card.description if longest < 0 else card.fields[longest].value
        shorter = cut(current, max(len(current) - excess, 1))
        if len(shorter) >= len(current):  # nothing left to shorten; drop the last field
            card = (
                replace(card, fields=card.fields[:-1])
                if card.fields
                else replace(card, footer=cut(card.footer, 1))
            )
        elif longest < 0:
            card = replace(card, description=shorter)
        else:
            fields_list = list(card.fields)
            fields_list[longest] = replace(fields_list[longest], value=shorter or "\u200b")
            card = replace(card, fields=tuple(fields_list))
    return card


# --- markdown safety ----------------------------------------------------------------------------

_URL = re.compile(r"https?://\S+")
# Inline markdown anywhere, block markdown (headings, quotes, lists) only at the start of a line.
_MARKDOWN = re.compile(r"[\\*_~|`\[\]<@]|^[#>-]", re.MULTILINE)


def _escape(match: re.Match[str]) -> str:
    return "\\" + match.group()


def safe(text: str, style: Style) -> str:
    """Text shown as written: markdown, masked links and mentions escaped, bare links left clickable."""
    if style is Style.TEXT:
        return text
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(_MARKDOWN.sub(_escape, text[last : match.start()]))
        out.append(match.group())
        last = match.end()
    out.append(_MARKDOWN.sub(_escape, text[last:]))
    return "".join(out)


# --- dates --------------------------------------------------------------------------------------


# How far a moment is, for each unit: (its length in seconds, said ahead, said ago). Whole sentences, since
# each language puts the number, the unit and the direction in its own order ("2 anni fa", "2 साल पहले").
_RELATIVE: tuple[tuple[float, Callable[[int], str], Callable[[int], str]], ...] = (
    (
        365.25 * 86400,
        lambda n: trn("in {count} year", "in {count} years", n),
        lambda n: trn("{count} year ago", "{count} years ago", n),
    ),
    (
        30.44 * 86400,
        lambda n: trn("in {count} month", "in {count} months", n),
        lambda n: trn("{count} month ago", "{count} months ago", n),
    ),
    (
        86400.0,
        lambda n: trn("in {count} day", "in {count} days", n),
        lambda n: trn("{count} day ago", "{count} days ago", n),
    ),
    (
        3600.0,
        lambda n: trn("in {count} hour", "in {count} hours", n),
        lambda n: trn("{count} hour ago", "{count} hours ago", n),
    ),
)


def relative(moment: datetime, now: datetime) -> str:
    """'in 3 days', '2 years ago': for plain text, where Discord's <t:…:R> is not available."""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    for size, ahead, ago in _RELATIVE:
        if span >= size:
            return (ahead if seconds > 0 else ago)(int(span // size))
    return tr("now")


def premiere_text(value: str, status: str | None, now: datetime, style: Style) -> str:
    """A premiere as fans should read it: a timestamp when known to the day, else the known precision."""
    try:
        when = ReleaseDate.parse(value)
    except ValueError:
        return safe(value, style)
    moment = when.moment()
    if moment is not None:
        if style is Style.DISCORD:
            return f"{discord.utils.format_dt(moment, 'D')} ({discord.utils.format_dt(moment, 'R')})"
        return f"{when.label()} ({relative(moment, now)})"
    if when.has_passed(now.date()) and status not in RELEASED_STATUSES:
        return expected(when)
    return when.label()


def expected(when: ReleaseDate) -> str:
    """A past window no confirmed release closed: "expected Q2 2026, not confirmed". One sentence per
    precision, since a language's preposition follows it ("nel 2026", "a ottobre 2026")."""
    if when.precision is Precision.YEAR:
        return tr("expected {year}, not confirmed", year=when.label())
    if when.precision is Precision.QUARTER:
        return tr("expected {quarter}, not confirmed", quarter=when.label())
    return tr("expected {month}, not confirmed", month=when.label())


def hidden_text(text: str, style: Style) -> str:
    """A spoiler while it is hidden: behind Discord's markers (a click shows it); in plain text, where
    nothing can be clicked, it is shown but called a spoiler."""
    return f"{SPOILER}{text}{SPOILER}" if style is Style.DISCORD else tr("{text} (spoiler)", text=text)


def marked(text: str, confidence: str, style: Style) -> str:
    """A value followed by how sure it is, when it is not confirmed: "Q2 2026 (reported, not confirmed)"."""
    mark = confidence_mark(confidence)
    if not mark:
        return text
    return f"{text} _({mark})_" if style is Style.DISCORD else f"{text} ({mark})"


def link_text(url: str, source_date: str, style: Style) -> str:
    """A link fans click: masked in Discord ("Watch the trailer"), the address itself in plain text."""
    if style is Style.TEXT:
        return f"{url} ({source_date})"
    # A link is stored only if it is https:// with no spaces; these characters would end the markdown early.
    shown = url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    label = tr("Watch the trailer")
    return f"[{label}](<{shown}>) ({source_date})"


# --- sources ------------------------------------------------------------------------------------


def source_label(source: str) -> str:
    """A short name for a source: the site for a link, else the publication."""
    if _URL.match(source):
        host = urlsplit(source).hostname or source
        return host.removeprefix("www.")
    return cut(source, 60)


class SourceIndex:
    """Numbers sources in order of first use, so each value can cite [n] and the footer lists them."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], int] = {}

    def number(self, fact: Fact) -> int:
        return self._numbers.setdefault((fact.source, fact.source_date), len(self._numbers) + 1)

    def cite(self, fact: Fact) -> str:
        return f"[{self.number(fact)}]"

    def listed(self) -> list[tuple[int, str, str]]:
        """(number, source, its date) of every source cited, in order."""
        return [(n, source, when) for (source, when), n in self._numbers.items()]

    def footer(self) -> str:
        parts = [f"[{n}] {source_label(src)}, {when}" for n, src, when in self.listed()]
        return tr("Sources: {sources}", sources=" · ".join(parts)) if parts else ""


# --- entries ------------------------------------------------------------------------------------


def fact_text(fact: Fact, status: str | None, now: datetime, style: Style) -> str:
    """A fact's value as its field's kind reads: a premiere's date, a status in words, "Name — Role", a
    link; text as written."""
    spec = FIELDS[fact.field]
    if spec.kind is Kind.DATE:
        return premiere_text(fact.value, status, now, style)
    if spec.kind is Kind.STATUS:
        return status_words(fact.value)
    if spec.kind is Kind.PERSON:
        name, role = split_person(fact.value)
        return safe(name, style) + (f" — {safe(role, style)}" if role else "")
    if spec.kind is Kind.URL:
        return link_text(fact.value, fact.source_date, style)
    return safe(fact.value, style)


def _fact_line(
    fact: Fact, status: str | None, now: datetime, style: Style, sources: SourceIndex, hide_spoilers: bool
) -> str:
    text = fact_text(fact, status, now, style)
    hide = fact.spoiler and hide_spoilers
    if hide:
        text = hidden_text(text, style)
    line = f"{marked(text, fact.confidence, style)} {sources.cite(fact)}"
    if fact.note:
        note = safe(fact.note, style)
        if hide and style is Style.DISCORD:  # a note on a spoiler may tell as much as the value
            note = hidden_text(note, style)
        line += f"\n↳ *{note}*" if style is Style.DISCORD else f"\n  ({fact.note})"
    return line


def confirmed_status(facts: Sequence[Fact]) -> str | None:
    """The entry's status if it is confirmed. Only a confirmed status settles how a past premiere window
    reads: "expected Q2 2026, not confirmed" stays while the release itself is only reported."""
    return next((f.value for f in facts if f.field == "status" and f.confidence == CONFIRMED), None)


def unreleased(status: str | None, premiere: str | None, now: datetime) -> bool:
    """Whether the entry is still to come: its premiere is ahead, or it has none and is being made."""
    if premiere is not None:
        try:
            return ReleaseDate.parse(premiere).window()[0] > now.date()
        except ValueError:
            return False
    return status in ("announced", "in production", "on hold")


def entry_card(
    entry: Entry,
    facts: Sequence[Fact],
    now: datetime,
    style: Style = Style.DISCORD,
    *,
    hide_spoilers: bool = True,
) -> Card:
    """Everything known about one entry, every value citing its source, sources and dates in the footer;
    spoilers hidden unless `hide_spoilers` is False (bot/spoilers.py decides when)."""
    sections = entry_sections(facts, now)
    sources = SourceIndex()
    description = ""
    fields: list[CardField] = []
    for section in sections.fields:
        lines = [
            _fact_line(f, sections.status, now, style, sources, hide_spoilers) for f in section.facts
        ] or [tr(NOT_RELEASED)]
        if section.spec.name == "plot":
            description = "\n".join(lines)
            continue
        inline = section.spec.inline and all("\n" not in ln for ln in lines)
        fields.append(CardField(section.label, "\n".join(lines), inline))
    if not fields and not description:
        description = tr("Nothing is known about this entry yet.")
    return fit(Card(entry.title, description, tuple(fields), sources.footer()))


@dataclass(frozen=True)
class Section:
    """One field of an entry as fans see it: its label and its facts in order (none: a trailer not
    released yet)."""

    spec: FieldSpec
    label: str
    facts: tuple[Fact, ...]


@dataclass(frozen=True)
class Sections:
    fields: tuple[Section, ...]  # in FIELD_SPECS order, the plot first when known
    status: str | None  # the confirmed status, which settles how a past premiere window reads


def entry_sections(facts: Sequence[Fact], now: datetime) -> Sections:
    """What an entry's answer shows, in order, wherever it is shown (Discord, the terminal, the web):
    the plot, then every field with something known, and the trailer as "not released yet" while the
    entry is still to come."""
    by_field: dict[str, list[Fact]] = {}
    for fact in sorted(facts, key=lambda f: f.position):
        if fact.field in FIELDS:
            by_field.setdefault(fact.field, []).append(fact)
    said_status = by_field["status"][0].value if "status" in by_field else None  # confirmed or not
    premiere = by_field["premiere"][0].value if "premiere" in by_field else None
    plot = FIELDS["plot"]
    sections = [Section(plot, plot.label, tuple(by_field["plot"]))] if "plot" in by_field else []
    for spec in FIELDS.values():
        if spec.name == "trailer" and spec.name not in by_field and unreleased(said_status, premiere, now):
            sections.append(Section(spec, spec.label, ()))
            continue
        if spec.name == "plot" or spec.name not in by_field:
            continue  # a field with nothing known is left out
        known = by_field[spec.name]
        label = spec.label if len(known) == 1 or spec.name != "director" else tr("Directors")
        sections.append(Section(spec, label, tuple(known)))
    return Sections(tuple(sections), confirmed_status(facts))


def search_card(query: str, hits: Sequence[SearchHit], style: Style = Style.DISCORD) -> Card:
    """Each hit under its entry and field, with its source and date. A spoiler is always hidden here:
    a search finds words anywhere, and shows them to whoever searched for something else."""

    def value(hit: SearchHit) -> str:
        text = safe(hit.value, style)
        return hidden_text(text, style) if hit.spoiler else text

    fields = tuple(
        CardField(
            f"{hit.entry_title} · {field_label(hit.field)}",
            f"{marked(value(hit), hit.confidence, style)} ({source_label(hit.source)}, {hit.source_date})",
        )
        for hit in hits
    )
    found = trn(
        "{count} fact found. Use `/citadel show` for the whole entry.",
        "{count} facts found. Use `/citadel show` for the whole entry.",
        len(hits),
    )
    return fit(Card(tr("Search: {query}", query=query), found, fields))


@dataclass(frozen=True)
class WebLinks:
    """Where the public page shows an entry (or the index), and its calendar's webcal:// address."""

    page: str
    webcal: str

    @classmethod
    def at(cls, public_url: str, slug: str | None = None) -> WebLinks:
        page = f"{public_url}/entries/{slug}" if slug else f"{public_url}/"
        calendar = f"{page}/calendar.ics" if slug else f"{page}calendar.ics"
        return cls(page, "webcal://" + calendar.split("://", 1)[1])


def with_web(card: Card, links: WebLinks) -> Card:
    """An entry's card with the public page's links as its last field (when PUBLIC_URL is set)."""
    field = CardField(
        tr("On the web"),
        tr(
            "Every fact with its source: {page}\nIts premiere in your calendar app: {webcal}",
            page=links.page,
            webcal=links.webcal,
        ),
    )
    return fit(replace(card, fields=(*card.fields[: FIELD_COUNT_LIMIT - 1], field)))


def about_card(entries: Sequence[Entry], fact_count: int, web: WebLinks | None = None) -> Card:
    names = ", ".join(e.title for e in entries)
    paragraphs: tuple[str, ...] = (
        tr(
            "citadel-bot answers questions about Prime Video's spy franchise *Citadel*: the 2023 series and "
            "its spin-offs. Every fact carries its source and the date the source said it; some facts are "
            "older than today, so check the date."
        ),
        trn(
            "It knows {facts} about {count} entry: {names}.",
            "It knows {facts} about {count} entries: {names}.",
            len(entries),
            facts=trn("{count} fact", "{count} facts", fact_count),
            names=names,
        ),
        tr(
            "Use `/citadel show` for any entry and `/citadel search` to find a fact. Know something newer? "
            "`/citadel suggest` sends a fact with its source to the moderators of the bot's home server, and "
            "the bot tells you (by DM, if yours are open) what they decide."
        ),
        tr(
            "A reported or rumoured fact is marked as such. A watcher also reads public sources and proposes "
            "what changed to the moderators: {tvmaze} (its data is CC BY-SA 4.0, credited on every fact it "
            "gave) and {wikidata} (CC0).",
            tvmaze="[TVmaze](<https://www.tvmaze.com>)",
            wikidata="[Wikidata](<https://www.wikidata.org>)",
        ),
    )
    if web is not None:
        paragraphs += (
            tr(
                "On the web: {page}\nEvery premiere in your calendar app: {webcal}",
                page=web.page,
                webcal=web.webcal,
            ),
        )
    return fit(Card(tr("About citadel-bot"), "\n\n".join(paragraphs)))


def watch_card(rounds: Sequence[WatchedSource], interval_hours: int) -> Card:
    """/fact watcher: for each public source, how many entries it reads and how its rounds went."""
    title = tr("Watcher of public sources")
    if not interval_hours:
        return Card(title, tr("The watcher is off (WATCH_INTERVAL_HOURS is 0)."))

    def stamp(iso: str | None) -> str:
        if not iso:
            return tr("never")
        moment = datetime.fromisoformat(iso)
        return f"{discord.utils.format_dt(moment, 'f')} ({discord.utils.format_dt(moment, 'R')})"

    fields = []
    for source in rounds:
        if source.state is None:
            lines = [tr("No round yet: the first one runs once the bot is connected.")]
        else:
            lines = [
                tr("Last successful round: {when}", when=stamp(source.state.last_ok_at)),
                tr("Last round: {when}", when=stamp(source.state.last_run_at)),
                tr("Next round: {when}", when=stamp(source.state.next_at)),
            ]
            if source.state.error:
                lines.append(
                    trn(
                        "Last error ({count} in a row): {error}",
                        "Last error ({count} in a row): {error}",
                        source.state.failures,
                        error=safe(source.state.error, Style.DISCORD),
                    )
                )
        name = trn(
            "{source} · {count} entry", "{source} · {count} entries", source.entries, source=source.name
        )
        fields.append(CardField(name, "\n".join(lines)))
    return fit(
        Card(
            title,
            trn(
                "Every {count} h it reads each source for the entries whose canon names an id there, and files "
                "what differs from the facts as suggestions for review.",
                "Every {count} h it reads each source for the entries whose canon names an id there, and files "
                "what differs from the facts as suggestions for review.",
                interval_hours,
            ),
            tuple(fields),
        )
    )


# --- history ------------------------------------------------------------------------------------

# A revision's action (the store keeps the English word), as the history says it.
ACTIONS = {"add": N_("add"), "edit": N_("edit"), "remove": N_("remove")}


def action_words(action: str) -> str:
    return tr(ACTIONS[action]) if action in ACTIONS else action


def revision_field(revision: Revision) -> str:
    """What a revision changed: "Cast (matilda de angelis)", "the entry itself"."""
    if revision.field == "_entry":  # bot.store.revisions.ENTRY_FIELD: the entry's own attributes
        return tr("the entry itself")
    label = field_label(revision.field)
    return f"{label} ({revision.key})" if revision.key else label


# --- output -------------------------------------------------------------------------------------


def to_embed(card: Card) -> discord.Embed:
    embed = discord.Embed(title=card.title, description=card.description or None, colour=COLOUR)
    for f in card.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if card.footer:
        embed.set_footer(text=card.footer)
    return embed


def to_text(card: Card) -> str:
    lines = [card.title, "=" * min(len(card.title), 60)]
    if card.description:
        lines += [card.description, ""]
    for f in card.fields:
        value = f.value.replace("\n", "\n    ")
        lines.append(f"{f.name}: {value}" if "\n" not in f.value else f"{f.name}:\n    {value}")
    if card.footer:
        lines += ["", card.footer]
    return "\n".join(lines)
