"""Facts: reading them (per entry, premieres, full-text search) and writing them, each write a revision."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.errors import FactExists, FactNotFound, ItemExists, SameEdit, SameFact, StaleEdit
from bot.facts import Fact
from bot.store.database import Database, Reads, Row, Transaction, entry_id
from bot.store.revisions import FACT_CONTENT, fact_content, record_revision

_FACT_FIELDS = (
    "field", "key", "value", "note", "source", "source_date", "confidence", "added_by", "added_at", "position",
    "revision_id", "spoiler",
)  # fmt: skip

# Two facts are the same when they say the same thing from the same source; who added it and when
# are provenance of the current row, not a reason for a new revision.
_COMPARED = ("value", "note", "source", "source_date", "confidence", "spoiler")

_COLUMNS = ", ".join(f"f.{name}" for name in _FACT_FIELDS)
FOR_ENTRY_SQL = (
    f"SELECT {_COLUMNS} FROM facts f JOIN entries e ON e.id = f.entry_id WHERE e.slug = ? "
    "ORDER BY f.field, f.position, f.id"
)

PREMIERES_SQL = (
    "SELECT e.slug, f.value FROM facts f JOIN entries e ON e.id = f.entry_id "
    "WHERE f.field = 'premiere' AND e.removed_at IS NULL ORDER BY e.position, e.slug"
)

_SEARCH_SQL = (
    "SELECT e.slug, e.title, f.field, f.value, f.note, f.source, f.source_date, f.confidence, f.spoiler "
    "FROM facts_fts "
    "JOIN facts f ON f.id = facts_fts.rowid JOIN entries e ON e.id = f.entry_id "
    "WHERE facts_fts MATCH ? ORDER BY bm25(facts_fts), e.position, f.id LIMIT ?"
)
# PostgreSQL's: the facts whose generated tsvector `words` (migrations/postgresql) has every word (the
# last as a prefix), ordered by FTS5's bm25 computed the same way (k1 1.2, b 0.75, an idf of at most 0
# counted as 1e-6; the lengths of the matching row and of the average row in words), so both engines
# give the same hits in the same order. Parameters: the tsquery, the whole words, the last word, the limit.
_PG_SEARCH_SQL = """
WITH terms AS MATERIALIZED (
    SELECT citadel_fold(w) AS word, false AS prefix FROM unnest(?::text[]) AS w
    UNION ALL SELECT citadel_fold(?), true
), corpus AS MATERIALIZED (
    SELECT count(*)::float8 AS n, coalesce(avg(word_count), 1)::float8 AS avgdl FROM facts
), idf AS MATERIALIZED (  -- once per search, not once per matching fact
    SELECT t.word, t.prefix, CASE WHEN x.idf <= 0 THEN 1e-6 ELSE x.idf END AS idf
    FROM terms t, corpus c, LATERAL (
        SELECT ln((c.n - count(*) + 0.5) / (count(*) + 0.5)) AS idf FROM facts m
        WHERE m.words @@ to_tsquery('simple', quote_literal(t.word) || CASE WHEN t.prefix THEN ':*' ELSE '' END)
    ) x
), hits AS (
    SELECT f.*, (
        SELECT sum(i.idf * tf.f * 2.2 / (tf.f + 1.2 * (1 - 0.75 + 0.75 * f.word_count / c.avgdl)))
        FROM idf i, corpus c, LATERAL (
            SELECT coalesce(sum(cardinality(u.positions)), 0)::float8 AS f FROM unnest(f.words) u
            WHERE u.lexeme = i.word OR (i.prefix AND starts_with(u.lexeme, i.word))
        ) tf
    ) AS score
    FROM facts f WHERE f.words @@ to_tsquery('simple', citadel_fold(?))
)
SELECT e.slug, e.title, h.field, h.value, h.note, h.source, h.source_date, h.confidence, h.spoiler
FROM hits h JOIN entries e ON e.id = h.entry_id ORDER BY h.score DESC, e.position, h.id LIMIT ?
"""


@dataclass(frozen=True)
class SearchHit:
    entry_slug: str
    entry_title: str
    field: str
    value: str
    note: str
    source: str
    source_date: str
    confidence: str
    spoiler: bool = False


def search_hit(row: Row) -> SearchHit:
    return SearchHit(
        row["slug"], row["title"], row["field"], row["value"], row["note"], row["source"], row["source_date"],
        row["confidence"], spoiler=bool(row["spoiler"]),
    )  # fmt: skip


_FTS_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """Turn what a user typed into a safe FTS5 query: every word quoted, the last one as a prefix."""
    words = _FTS_WORD.findall(text)[:12]
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(text: str) -> str:
    """The same query for PostgreSQL's to_tsquery: every word (only word characters, so nothing to
    escape) required, the last one as a prefix."""
    words = _FTS_WORD.findall(text)[:12]
    return " & ".join(words) + ":*" if words else ""


def canon_fact_content(fact: Fact) -> dict[str, str | bool]:
    """What a fact says (not who stored it, nor where it sits): what the canon's snapshot compares."""
    return {name: getattr(fact, name) for name in _COMPARED}


def fact_from_row(row: Row) -> Fact:
    return Fact(
        **{name: row[name] for name in _FACT_FIELDS if name != "spoiler"}, spoiler=bool(row["spoiler"])
    )


def row_content(row: Row) -> dict[str, str | bool]:
    """What a revision records of a stored fact (the spoiler flag as a boolean, as in fact_content)."""
    return {name: bool(row[name]) if name == "spoiler" else row[name] for name in FACT_CONTENT}


def stamped(fact: Fact, who: str, at: str) -> Fact:
    """The fact as stored by `who` at `at`."""
    return replace(fact, added_by=who, added_at=at)


async def stored_fact(reader: Reads, entry: int, field: str, key: str) -> Row | None:
    """The row of the fact at (field, key) of entry id `entry`, with its id."""
    return await reader.fetchone(
        "SELECT id, field, key, value, note, source, source_date, confidence, added_by, added_at, position, "
        "revision_id, spoiler "
        "FROM facts WHERE entry_id = ? AND field = ? AND key = ?",
        (entry, field, key),
    )


async def put_fact(
    tx: Transaction,
    slug: str,
    fact: Fact,
    who: str,
    reason: str = "",
    *,
    expected_revision: int | None = None,
) -> int | None:
    """Add or change one fact and record the revision; returns its id, or None if nothing changed.

    With `expected_revision`, the write happens only if the fact is still as the editor saw it
    (checked inside the transaction, so of two concurrent edits exactly one wins): StaleEdit if not.
    """
    entry = await entry_id(tx, slug)
    row = await stored_fact(tx, entry, fact.field, fact.key)
    if expected_revision is not None and (row is None or row["revision_id"] != expected_revision):
        raise StaleEdit(current=fact_from_row(row) if row is not None else None, field=fact.field)
    new = fact_content(fact)
    if row is not None:
        old = row_content(row)
        if all(old[k] == new[k] for k in _COMPARED):
            # Same statement from the same source: not a revision (order within a field is not content).
            await tx.execute("UPDATE facts SET position = ? WHERE id = ?", (fact.position, row["id"]))
            return None
        revision = await record_revision(tx, entry, fact.field, fact.key, "edit", old, new, who, reason)
        await tx.execute(
            "UPDATE facts SET value = ?, note = ?, source = ?, source_date = ?, confidence = ?, added_by = ?, "
            "added_at = ?, spoiler = ?, position = ?, revision_id = ? WHERE id = ?",
            (*(new[k] for k in FACT_CONTENT), fact.position, revision, row["id"]),
        )
        return revision
    revision = await record_revision(tx, entry, fact.field, fact.key, "add", None, new, who, reason)
    await tx.execute(
        "INSERT INTO facts (entry_id, field, key, value, note, source, source_date, confidence, added_by, "
        "added_at, spoiler, position, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entry, fact.field, fact.key, *(new[k] for k in FACT_CONTENT), fact.position, revision),
    )
    return revision


async def remove_fact(
    tx: Transaction, slug: str, field: str, key: str, who: str, reason: str = ""
) -> int | None:
    """Remove one fact, recording the removal as a revision; None if there was no such fact."""
    entry = await entry_id(tx, slug)
    row = await stored_fact(tx, entry, field, key)
    if row is None:
        return None
    await tx.execute("DELETE FROM facts WHERE id = ?", (row["id"],))
    old = row_content(row)
    return await record_revision(tx, entry, field, key, "remove", old, None, who, reason)


class Facts:
    """`store.facts`: the facts of entries; each method that writes is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def for_entry(self, slug: str) -> list[Fact]:
        """The current facts of one entry (an index lookup: cost does not grow with other entries)."""
        return [fact_from_row(row) for row in await self._db.fetchall(FOR_ENTRY_SQL, (slug,))]

    async def get(self, slug: str, field: str, key: str) -> Fact | None:
        row = await self._db.fetchone(
            "SELECT f.* FROM facts f JOIN entries e ON e.id = f.entry_id "
            "WHERE e.slug = ? AND e.removed_at IS NULL AND f.field = ? AND f.key = ?",
            (slug, field, key),
        )
        return fact_from_row(row) if row else None

    async def of_fields(self, fields: tuple[str, ...]) -> dict[str, list[Fact]]:
        """The facts of these fields of every entry still there, by entry slug (one query: the index page
        asks for every entry's status and premiere)."""
        marks = ", ".join("?" * len(fields))
        rows = await self._db.fetchall(
            # From the entries, through the facts' (entry, field, key) index: not a scan of every fact.
            f"SELECT e.slug, {_COLUMNS} FROM entries e CROSS JOIN facts f ON f.entry_id = e.id "
            f"WHERE e.removed_at IS NULL AND f.field IN ({marks}) ORDER BY f.field, f.position, f.id",
            fields,
        )
        found: dict[str, list[Fact]] = {}
        for row in rows:
            found.setdefault(row["slug"], []).append(fact_from_row(row))
        return found

    async def premieres(self) -> list[tuple[str, str]]:
        """(entry slug, premiere value) of every entry with a premiere, in franchise order (through the
        facts_premieres index: the cost grows with the entries, not with the facts)."""
        return [(row[0], row[1]) for row in await self._db.fetchall(PREMIERES_SQL)]

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Facts whose text matches every word of `query` (prefix match on the last), best first."""
        if self._db.dialect == "postgresql":
            words = _FTS_WORD.findall(query)[:12]
            if not words:
                return []
            params: tuple[object, ...] = (words[:-1], words[-1], tsquery(query), limit)
            rows = await self._db.fetchall(_PG_SEARCH_SQL, params)
            return [search_hit(row) for row in rows]
        match = fts_query(query)
        if not match:
            return []
        rows = await self._db.fetchall(_SEARCH_SQL, (match, limit))
        return [search_hit(row) for row in rows]

    async def count(self) -> int:
        """How many facts the store holds."""
        row = await self._db.fetchone("SELECT count(*) FROM facts")
        return int(row[0]) if row else 0

    async def add(self, slug: str, fact: Fact, who: str) -> int:
        """A new fact. SameFact if the entry already says exactly that; FactExists (with the stored
        value) if it has another value there (a single-valued field, or the same item)."""
        async with self._db.transaction() as tx:
            existing = await stored_fact(tx, await entry_id(tx, slug), fact.field, fact.key)
            if existing is not None:
                if existing["value"] == fact.value:
                    raise SameFact(fact.field, fact.value)
                raise FactExists(fact.field, stored=existing["value"])
            revision = await put_fact(tx, slug, stamped(fact, who, tx.now()), who)
            assert revision is not None
            return revision

    async def edit(
        self, slug: str, field: str, key: str, fact: Fact, who: str, *, expected_revision: int | None = None
    ) -> int:
        """Replace the fact at (field, key) with `fact`. A new item name for a multi-valued field is
        a removal of the old item and an addition of the new one, in the same transaction."""
        async with self._db.transaction() as tx:
            entry = await entry_id(tx, slug)
            row = await stored_fact(tx, entry, field, key)
            if row is None:
                raise FactNotFound(entry=slug, field=field)
            new = replace(stamped(fact, who, tx.now()), position=row["position"])
            if fact.key != key:
                if expected_revision is not None and row["revision_id"] != expected_revision:
                    raise StaleEdit(current=fact_from_row(row), field=field)
                if await stored_fact(tx, entry, fact.field, fact.key) is not None:
                    raise ItemExists(field, fact.value)
                await remove_fact(tx, slug, field, key, who, "renamed")
                revision = await put_fact(tx, slug, new, who)
            else:
                revision = await put_fact(tx, slug, new, who, expected_revision=expected_revision)
            if revision is None:
                raise SameEdit(field)
            return revision

    async def remove(self, slug: str, field: str, key: str, who: str, reason: str = "") -> int:
        async with self._db.transaction() as tx:
            revision = await remove_fact(tx, slug, field, key, who, reason)
        if revision is None:
            raise FactNotFound(entry=slug, field=field)
        return revision
