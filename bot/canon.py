"""The shipped canon in `data/canon/`: read and check its TOML files, and load them into the store idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.facts import (
    CONFIDENCES,
    CONFIRMED,
    FIELDS,
    SPOILABLE,
    Entry,
    Fact,
    Kind,
    fact_key,
    format_person,
    parse_value,
)
from bot.store import Store, canon_fact_content, put_fact, remove_fact, upsert_entry

log = logging.getLogger(__name__)

SOURCES_FILE = "sources.toml"
CANON_AUTHOR = "canon"
FILES_DIGEST_KEY = "canon_files_digest"
# The code that turns the files into facts: a change to it re-reads the canon even if no file changed.
READER_CODE = (Path(__file__), Path(__file__).with_name("facts.py"))


class CanonError(Exception):
    """A canon file is malformed; the message names the file and the fact."""


@dataclass(frozen=True)
class Source:
    code: str
    name: str
    url: str = ""
    title: str = ""
    date: str = ""

    @property
    def citation(self) -> str:
        """What a fact stores as its source: the address when there is one, else the publication."""
        if self.url:
            return self.url
        return f"{self.name}, {self.title}" if self.title else self.name


@dataclass(frozen=True)
class CanonFile:
    name: str
    entry: Entry
    facts: tuple[Fact, ...]
    digest: str = field(default="", compare=False)


@dataclass
class CanonReport:
    loaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    revisions: int = 0


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # here, not at the top: an unchanged canon (every start but the first) is never parsed

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CanonError(f"{path.name}: cannot read it as TOML ({exc})") from exc


def read_sources(directory: Path) -> dict[str, Source]:
    path = directory / SOURCES_FILE
    if not path.is_file():
        raise CanonError(f"{directory}: there is no {SOURCES_FILE} listing the sources")
    sources: dict[str, Source] = {}
    for code, data in _read_toml(path).items():
        if not isinstance(data, dict) or not str(data.get("name", "")).strip():
            raise CanonError(f"{SOURCES_FILE}: source {code} needs a name")
        if data.get("url") and urlsplit(data["url"]).scheme not in ("http", "https"):
            raise CanonError(f"{SOURCES_FILE}: source {code} has a url that is not http(s)")
        sources[code] = Source(
            code, data["name"], data.get("url", ""), data.get("title", ""), data.get("date", "")
        )
    return sources


def _conflict_note(where: str, conflict: Any, sources: dict[str, Source]) -> str:
    if not isinstance(conflict, dict) or not conflict.get("says") or conflict.get("source") not in sources:
        raise CanonError(f"{where}: a conflict needs `says` and a `source` listed in {SOURCES_FILE}")
    other = sources[conflict["source"]]
    return f"{other.name} ({other.date or 'undated'}) says {conflict['says']}"


def _read_fact(where: str, data: Any, sources: dict[str, Source], position: int) -> Fact:
    if not isinstance(data, dict):
        raise CanonError(f"{where}: a fact must be a table")
    name = data.get("field")
    if name not in FIELDS:
        raise CanonError(f"{where}: unknown field {name!r}")
    source = sources.get(data.get("source", ""))
    if source is None:
        raise CanonError(f"{where}: every fact needs a `source` listed in {SOURCES_FILE}")
    if not source.date:
        raise CanonError(f"{where}: source {source.code} has no date, so it cannot be a fact's only source")
    raw = str(data.get("value", ""))
    if data.get("role"):
        if FIELDS[name].kind is not Kind.PERSON:
            raise CanonError(f"{where}: only person fields take a role")
        raw = format_person(raw, str(data["role"]))
    try:
        value = parse_value(name, raw)
    except ValueError as exc:
        raise CanonError(f"{where}: {exc}") from exc
    confidence = data.get("confidence", CONFIRMED)
    if confidence not in CONFIDENCES:
        raise CanonError(f"{where}: confidence must be one of {', '.join(CONFIDENCES)}, not {confidence!r}")
    spoiler = data.get("spoiler", False)
    if not isinstance(spoiler, bool):
        raise CanonError(f"{where}: spoiler must be true or false, not {spoiler!r}")
    if spoiler and not FIELDS[name].spoilable:
        raise CanonError(f"{where}: only {', '.join(SPOILABLE)} facts can be spoilers, not {name}")
    notes = [str(data["note"]).strip()] if data.get("note") else []
    if "conflict" in data:
        notes.append(_conflict_note(where, data["conflict"], sources))
    return Fact(
        field=name,
        value=value,
        source=source.citation,
        source_date=source.date,
        key=fact_key(name, value),
        note="; ".join(notes),
        added_by=CANON_AUTHOR,
        position=position,
        confidence=confidence,
        spoiler=spoiler,
    )


def _source_ids(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The entry's ids at public sources: positive whole numbers for TVmaze, a Q-number for Wikidata."""
    ids: dict[str, Any] = {}
    for key in ("tvmaze_id", "tvmaze_season"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 1:
                raise CanonError(f"{name}: `{key}` must be a positive whole number")
            ids[key] = data[key]
    if "tvmaze_season" in ids and "tvmaze_id" not in ids:
        raise CanonError(f"{name}: `tvmaze_season` needs the show's `tvmaze_id`")
    if "wikidata_id" in data:
        if not isinstance(data["wikidata_id"], str) or not re.fullmatch(r"Q[1-9][0-9]*", data["wikidata_id"]):
            raise CanonError(f'{name}: `wikidata_id` must look like "Q123"')
        ids["wikidata_id"] = data["wikidata_id"]
    return ids


def read_entry_file(path: Path, sources: dict[str, Source]) -> CanonFile:
    data = _read_toml(path)
    slug = data.get("slug")
    if slug != path.stem:
        raise CanonError(f"{path.name}: `slug` must be {path.stem!r}, the file's name")
    if not data.get("title"):
        raise CanonError(f"{path.name}: an entry needs a title")
    entry = Entry(
        slug=slug,
        title=data["title"],
        description=data.get("description", "")[:100],
        aliases=tuple(data.get("aliases", ())),
        parent=data.get("parent"),
        position=int(data.get("position", 0)),
        **_source_ids(path.name, data),
    )
    facts: list[Fact] = []
    seen: set[tuple[str, str]] = set()
    per_field: dict[str, int] = {}
    for index, raw in enumerate(data.get("facts", []), start=1):
        where = f"{path.name}, fact {index}"
        position = per_field.get(str(raw.get("field")), 0) if isinstance(raw, dict) else 0
        fact = _read_fact(where, raw, sources, position)
        if (fact.field, fact.key) in seen:
            what = "twice" if FIELDS[fact.field].multi else "more than once (it is single-valued)"
            raise CanonError(f"{where}: {fact.field} {fact.value!r} appears {what}")
        seen.add((fact.field, fact.key))
        per_field[fact.field] = position + 1
        facts.append(fact)
    payload = json.dumps(
        [asdict(entry), [(f.field, f.key, f.position, canon_fact_content(f)) for f in facts]],
        ensure_ascii=False,
        sort_keys=True,
    )
    return CanonFile(path.name, entry, tuple(facts), hashlib.sha256(payload.encode()).hexdigest())


def entry_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.glob("*.toml")) if p.name != SOURCES_FILE]


def canon_files_digest(directory: Path) -> str:
    """A hash of every canon file's name and bytes, and of the code that reads them."""
    digest = hashlib.sha256()
    for path in (*sorted(directory.glob("*.toml")), *READER_CODE):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def read_canon(directory: Path) -> list[CanonFile]:
    """Every entry file of the canon, parents before children; raises CanonError on the first problem."""
    sources = read_sources(directory)
    files = [read_entry_file(p, sources) for p in entry_files(directory)]
    slugs = {f.entry.slug for f in files}
    for canon_file in files:
        if canon_file.entry.parent and canon_file.entry.parent not in slugs:
            raise CanonError(
                f"{canon_file.name}: parent {canon_file.entry.parent!r} is not an entry of the canon"
            )
    # A parent is always a root entry in this canon, so roots first is enough.
    return sorted(files, key=lambda f: (f.entry.parent is not None, f.entry.position, f.entry.slug))


async def load_canon(store: Store, directory: Path) -> CanonReport:
    """Bring the store up to date with the canon files: unchanged files write nothing at all;
    a changed file writes one revision per fact it changed, and leaves other facts (and
    moderators' edits to them) alone."""
    report = CanonReport()
    files_digest = canon_files_digest(directory)
    if await store.meta.get(FILES_DIGEST_KEY) == files_digest:
        # Not a byte changed since the last load, nor the code that reads it: nothing to parse or compare.
        report.unchanged = [p.name for p in entry_files(directory)]
        return report
    known = await store.canon.digests()
    for canon_file in read_canon(directory):
        if known.get(canon_file.name) == canon_file.digest:
            report.unchanged.append(canon_file.name)
            continue
        # The very first load seeds an empty store: history, but not news for subscribed servers.
        reason = f"canon {canon_file.name}"
        async with store.transaction(announce=bool(known)) as tx:
            before = await store.canon.snapshot(tx, canon_file.name)
            await upsert_entry(tx, canon_file.entry)
            for fact in canon_file.facts:
                changed = before.pop((fact.field, fact.key), None) != canon_fact_content(fact)
                if changed and await put_fact(tx, canon_file.entry.slug, fact, CANON_AUTHOR, reason):
                    report.revisions += 1
            for field_name, key in before:  # facts the file no longer has
                if await remove_fact(tx, canon_file.entry.slug, field_name, key, CANON_AUTHOR, reason):
                    report.revisions += 1
            await store.canon.save_snapshot(
                tx, canon_file.name, canon_file.digest, canon_file.entry, canon_file.facts
            )
        report.loaded.append(canon_file.name)
    await store.meta.set(FILES_DIGEST_KEY, files_digest)
    if report.loaded:
        log.info("canon: loaded %s (%d revisions)", ", ".join(report.loaded), report.revisions)
    return report
