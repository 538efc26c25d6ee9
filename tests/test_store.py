"""The store on real SQLite files: migrations, the canon loaded idempotently, revisions, search and indexes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import bot.canon as canon_module
from bot.canon import CanonError, load_canon, read_canon
from bot.facts import Entry, Fact
from bot.store import BUSY_TIMEOUT_MS, Store, fts_query, migrations


async def test_migrations_build_the_schema_from_empty_and_record_its_version(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(migrations()) >= 1
        assert await store.migrate() == len(migrations())  # a second run applies nothing
    finally:
        await store.close()
    db = sqlite3.connect(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {"entries", "facts", "revisions", "facts_fts", "meta", "canon_files", "canon_facts"} <= tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


async def test_connection_pragmas(store: Store) -> None:
    db = store._db
    async with db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1
    async with db.execute("PRAGMA busy_timeout") as cursor:
        assert (await cursor.fetchone())[0] == BUSY_TIMEOUT_MS


async def test_the_canon_loads_every_file_and_fact(store: Store, canon_dir: Path) -> None:
    files = read_canon(canon_dir)
    report = await load_canon(store, canon_dir)
    expected_facts = sum(len(f.facts) for f in files)
    assert sorted(report.loaded) == sorted(f.name for f in files)
    assert await store.count("entries") == len(files)
    assert await store.count("facts") == expected_facts
    assert await store.count("revisions") == expected_facts == report.revisions
    assert [e.slug for e in await store.entries()][:4] == ["mothership", "season-2", "diana", "honey-bunny"]


async def test_every_fact_has_a_source_and_a_source_date(seeded: Store) -> None:
    for entry in await seeded.entries():
        for fact in await seeded.facts_for(entry.slug):
            assert fact.source.strip() and fact.source_date[:4].isdigit(), fact


async def test_loading_an_unchanged_canon_again_writes_nothing(
    seeded: Store, canon_dir: Path, tmp_path: Path
) -> None:
    before = (tmp_path / "citadel.sqlite3").stat().st_mtime_ns, await seeded.count("revisions")
    wal = tmp_path / "citadel.sqlite3-wal"
    wal_size = wal.stat().st_size
    report = await load_canon(seeded, canon_dir)
    assert report.loaded == [] and report.revisions == 0
    assert await seeded.count("revisions") == before[1]
    assert wal.stat().st_size == wal_size  # not a single page written


async def test_an_unchanged_canon_is_not_even_parsed_but_a_changed_byte_is_checked(
    seeded: Store, canon_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(directory: Path) -> list[object]:
        raise AssertionError("read_canon ran for an unchanged canon")

    with monkeypatch.context() as patched:
        patched.setattr(canon_module, "read_canon", refuse)
        report = await load_canon(seeded, canon_dir)
    assert report.loaded == [] and len(report.unchanged) == 6
    # A comment changes the bytes but no fact: every file is parsed and compared, nothing is written
    # but the new digest, and the next start skips parsing again.
    path = canon_dir / "diana.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    revisions = await seeded.count("revisions")
    report = await load_canon(seeded, canon_dir)
    assert report.loaded == [] and report.revisions == 0 and await seeded.count("revisions") == revisions
    assert await seeded.get_meta(canon_module.FILES_DIGEST_KEY) == canon_module.canon_files_digest(canon_dir)
    with monkeypatch.context() as patched:
        patched.setattr(canon_module, "read_canon", refuse)
        assert (await load_canon(seeded, canon_dir)).loaded == []


async def test_a_changed_canon_file_writes_one_revision_per_changed_fact(
    seeded: Store, canon_dir: Path
) -> None:
    path = canon_dir / "diana.toml"
    text = path.read_text(encoding="utf-8")
    assert 'role = "Diana Cavalieri"' in text
    text = text.replace('role = "Diana Cavalieri"', 'role = "Diana"')  # an edit
    text = text.replace(
        '[[facts]]\nfield = "filming_location"\nvalue = "Paris"\nsource = "SIV"\n', ""
    )  # a removal
    text += '\n[[facts]]\nfield = "filming_location"\nvalue = "Turin"\nsource = "SIV"\n'  # an addition
    path.write_text(text, encoding="utf-8")
    revisions_before = await seeded.count("revisions")

    report = await load_canon(seeded, canon_dir)

    assert report.loaded == ["diana.toml"] and report.revisions == 3
    assert await seeded.count("revisions") == revisions_before + 3
    history = await seeded.revisions_for("diana")
    assert [(r.action, r.field) for r in history[-3:]] == [
        ("edit", "cast"), ("add", "filming_location"), ("remove", "filming_location")
    ]  # fmt: skip
    assert history[-3].old and history[-3].old["value"] == "Matilda De Angelis — Diana Cavalieri"
    assert history[-3].new and history[-3].new["value"] == "Matilda De Angelis — Diana"
    locations = [f.value for f in await seeded.facts_for("diana") if f.field == "filming_location"]
    assert "Turin" in locations and "Paris" not in locations
    assert (await load_canon(seeded, canon_dir)).revisions == 0


async def test_a_canon_change_leaves_moderators_edits_to_other_facts_alone(
    seeded: Store, canon_dir: Path
) -> None:
    async with seeded.transaction() as db:
        await seeded.put_fact(
            db, "diana", Fact("episodes", "7", "https://example.org/x", "2026-11-01"), "mod"
        )
    path = canon_dir / "diana.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('"Gina Gardini"', '"G. Gardini"'), encoding="utf-8"
    )
    await load_canon(seeded, canon_dir)
    facts = {f.field: f for f in await seeded.facts_for("diana")}
    assert facts["episodes"].value == "7" and facts["showrunner"].value == "G. Gardini"


async def test_revisions_are_append_only(seeded: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with seeded.transaction() as db:
            await db.execute("UPDATE revisions SET who = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with seeded.transaction() as db:
            await db.execute("DELETE FROM revisions")


async def test_a_failed_transaction_changes_nothing(seeded: Store) -> None:
    before = await seeded.count("facts"), await seeded.count("revisions")
    with pytest.raises(RuntimeError):
        async with seeded.transaction() as db:
            await seeded.remove_fact(db, "diana", "status", "", "mod")
            raise RuntimeError("crash in the middle of an edit")
    assert (await seeded.count("facts"), await seeded.count("revisions")) == before


async def test_search_finds_facts_with_their_entry_and_field(seeded: Store) -> None:
    hits = await seeded.search("De Angelis")
    assert ("diana", "cast") in {(h.entry_slug, h.field) for h in hits}
    assert {h.entry_slug for h in await seeded.search("Varun")} == {"honey-bunny"}
    assert await seeded.search("zzzzqqq") == []
    assert await seeded.search('"); DROP TABLE facts; --') == []
    assert await seeded.count("facts") > 0
    assert await seeded.search("milá") != []  # accents fold both ways


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("De Angelis", '"De" "Angelis"*'),
        ('a" OR b', '"a" "OR" "b"*'),
        ("***", ""),
        ("NEAR(x)", '"NEAR" "x"*'),
    ],
)
def test_fts_queries_are_quoted(typed: str, query: str) -> None:
    assert fts_query(typed) == query


async def test_queries_for_one_entry_use_indexes(seeded: Store) -> None:
    plan = " | ".join(await seeded.query_plan(Store.FACTS_FOR_SQL, ("diana",)))
    assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan


async def test_the_premieres_are_read_through_their_index_not_by_scanning_every_fact(seeded: Store) -> None:
    plan = " | ".join(await seeded.query_plan(Store.PREMIERES_SQL, ()))
    assert "SCAN f USING INDEX facts_premieres" in plan, plan  # only the facts that are premieres
    assert await seeded.premieres() == [
        ("mothership", "2023-04-28"),
        ("season-2", "Q2 2026"),
        ("diana", "2024-10-10"),
        ("honey-bunny", "2024-11-07"),
    ]


async def test_canon_errors_name_the_file_and_the_problem(canon_dir: Path) -> None:
    path = canon_dir / "spain.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('source = "BRO"', 'source = "NOPE"', 1), encoding="utf-8"
    )
    with pytest.raises(CanonError, match=r"spain.toml, fact \d+: every fact needs a `source`"):
        read_canon(canon_dir)


async def test_an_undated_source_cannot_be_a_facts_only_source(canon_dir: Path) -> None:
    path = canon_dir / "spain.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('source = "BRO"', 'source = "BLV"', 1), encoding="utf-8"
    )
    with pytest.raises(CanonError, match="BLV has no date"):
        read_canon(canon_dir)


async def test_an_entry_can_be_created_with_a_parent(store: Store) -> None:
    async with store.transaction() as db:
        await store.upsert_entry(db, Entry("mothership", "Citadel"))
        await store.upsert_entry(
            db, Entry("season-3", "Citadel season 3", parent="mothership", aliases=("S3",))
        )
    entry = await store.entry("season-3")
    assert entry == Entry("season-3", "Citadel season 3", aliases=("S3",), parent="mothership")
