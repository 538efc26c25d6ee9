"""`python -m bot export`, `import` and `export --canon`, through the real `python -m bot` process, on a
store the real bot has lived in (servers, posts, events, suggestions, the watcher, moderators' edits).

What is checked is what the operator and fans get: the file's bytes (export -> import -> export gives
them back exactly), the answers of `ask` from the imported or re-seeded store, and, for refusals, exit
code 2, one line, and the target store's bytes unchanged."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.__main__ import open_store
from bot.backup import latest_schema
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Entry, Fact, fact_key
from bot.portable import CACHE_META_KEYS, FORMAT, FORMAT_VERSION, export_data, toml_string
from bot.store import Store
from tests.engines import fetch
from tests.fake_discord import FakeDiscord
from tests.harness import HOME, OTHER, running_bot
from tests.test_backup import (
    answers,
    cli,
    contents,
    files,
    held_by_another_process,
    rows,
    seeded_store,
    store_with_version,
)

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATEST = latest_schema()
MOD = "mod (1)"
SOURCE = "https://example.org/news/2026/citadel"
# What a moderator may type, and a TOML writer must escape: quotes, backslashes, a newline, a tab,
# accents, an emoji and a letter outside the Basic Multilingual Plane.
TRICKY = 'Line one\nshe said "it\'s \\back\\"\tand Città ✓ 🎬 \U0001d518'
TRICKY_TITLE = 'Citadel: "Nine" \\ Città'
STATE_TABLES = {
    "canon_facts", "canon_files", "change_events", "deliveries", "entries", "facts", "follower_roles",
    "guild_events", "guild_settings", "meta", "revisions", "suggestions", "update_batches", "watch_proposals",
    "watch_sources", "reminders", "reminder_deliveries", "dm_recipients",
}  # fmt: skip
CLAIMED = ("deliveries", "reminder_deliveries")  # their claims are a running process's, not exported


SEARCHES = ("Milan", "Varun", "back", "Città", "Priyanka Chopra")


def fact(field: str, value: str, source: str = SOURCE, date: str = "2026-11-01", **more: str) -> Fact:
    """A fact as /fact add makes it (a multi-valued field's item keyed by its name)."""
    return Fact(field, value, source, date, key=fact_key(field, value), **more)


async def moderators_edit(store: Store) -> None:
    """What moderators do over time: a new entry with awkward text, edits, a reported fact, removals, a
    revert, a retired entry."""
    await store.entries.create(
        Entry("season-3", TRICKY_TITLE, "Renewed; \"Nine\" \\ tba", ("S3", "season three", "Città"), "mothership", 25),
        MOD,
    )  # fmt: skip
    await store.facts.add("season-3", fact("notes", TRICKY), MOD)
    await store.facts.add("season-3", fact("status", "renewed", "Variety, print edition", "2026-10"), MOD)
    note = 'per "sources"; \\ unconfirmed'
    jane = fact("cast", 'Jane Doe — Agent "Nine"', date="2026-11-02", confidence="reported", note=note)
    await store.facts.add("season-3", jane, MOD)
    await store.facts.add(
        "season-3", fact("cast", "Zed Ó Brien", date="2026-11-02", confidence="rumour"), MOD
    )
    await store.facts.add("season-3", fact("premiere", "Q3 2027", date="2026-11-03"), MOD)
    await store.facts.edit("diana", "episodes", "", fact("episodes", "7", date="2026-11-04"), MOD)
    await store.facts.remove("diana", "filming_location", "paris", MOD, "not in the credits")
    edited = await store.facts.edit(
        "honey-bunny", "language", "", fact("language", "Hindi and English", date="2026-11-05"), MOD
    )
    await store.history.revert(edited, MOD)
    await store.entries.retire("mexico", MOD, force=True, reason="never made")


async def test_export_import_export_gives_back_the_same_bytes_and_the_same_answers(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    # A member asked the day before for DMs 30 and 7 days before season 2's premiere; another cancelled.
    asked = await open_store(settings, lambda: START - timedelta(days=1))
    await asked.reminders.set(4242, "season-2", (30, 7))
    await asked.reminders.set(4343, "diana", (1,))
    await asked.reminders.cancel(4343, "diana")
    await asked.close()
    async with running_bot(settings, fake, clock) as bot:
        store = bot.store
        # Two servers: one counting down with events on, one for change updates only.
        await bot.announcements.change(HOME.id, channel_id=HOME.channel_id, events=True,
                                       countdown_since=(START - timedelta(days=1)).isoformat(timespec="seconds"))  # fmt: skip
        await bot.announcements.change(OTHER.id, channel_id=OTHER.channel_id, milestones=(7, 1))
        # Diana's followers' role in the home server, as /citadel follow records it once it gave it.
        await store.follower_roles.save(HOME.id, "diana", HOME.id | 5)
        await store.facts.edit(
            "season-2", "premiere", "", fact("premiere", "2026-12-24", date="2026-11-20"), MOD
        )
        await moderators_edit(store)
        clock.set(START + timedelta(minutes=5))  # the change updates settle and post
        await bot.announcer.settled()
        updates = ["Premiere date confirmed: Citadel season 2", "Citadel: Diana: what changed",
                   f"{TRICKY_TITLE}: what changed"]  # fmt: skip
        assert titles(fake, HOME.channel_id) == sorted(["Citadel season 2 premieres in 30 days", *updates])
        assert titles(fake, OTHER.channel_id) == sorted(updates)
        dm = fake.dm_channel_for({"id": "4242"})["id"]
        assert [m["embeds"][0]["title"] for m in fake.messages[int(dm)]] == [
            "Citadel season 2 premieres in 30 days"
        ]
        assert len(fake.scheduled_events[HOME.id]) == 1  # season 2's premiere
        # Members' suggestions (one approved, one rejected, one waiting) and the watcher's round.
        suggestion = fact("episodes", "8", date="2026-11-06")
        made = [
            await store.suggestions.add("diana", suggestion, 4242 + n, f"member {n}", HOME.id, limit=5,
                                        window=timedelta(hours=1))
            for n in range(3)
        ]  # fmt: skip
        await store.suggestions.decide(made[0].id, True, MOD)
        await store.suggestions.decide(made[1].id, False, MOD, 'a "typo"')
        await store.watch.propose(
            "mothership", fact("episodes", "12", "https://www.tvmaze.com/shows/1", "2026-11-24"), "TVmaze"
        )
        await store.watch.finished("TVmaze", "", 0, START + timedelta(hours=6))
        await bot.announcer.settled()

    first = tmp_path / "export.json"
    said = (await cli(settings.database_path, "export", str(first), cwd=tmp_path, database_url=settings.database_url)).said
    document = json.loads(first.read_text(encoding="utf-8"))
    tables = document["tables"]
    assert said == (
        f"wrote {first} ({said.split('(')[1].split(',')[0]}, schema version {LATEST}): "
        f"{len(tables['entries'])} entries, {len(tables['facts'])} facts, {len(tables['revisions'])} revisions, "
        f"2 servers and {sum(len(r) for n, r in tables.items() if n not in ('entries', 'facts', 'revisions', 'guild_settings'))} other rows"
    )
    assert {k: document[k] for k in ("format", "format_version", "schema_version")} == {
        "format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": LATEST,
    }  # fmt: skip
    assert "exported_at" not in document  # the same data gives the same bytes
    # Every table of state, each with every row the store holds, in id order; nothing else.
    assert set(tables) == STATE_TABLES
    for name in STATE_TABLES - {"meta", *CLAIMED}:
        assert tables[name] == [
            dict(row) for row in dict_rows(settings.database, f"SELECT * FROM {name} ORDER BY 1, 2, 3")
        ], name
    assert document["counts"] == {name: len(tables[name]) for name in STATE_TABLES}
    assert {name for name in STATE_TABLES if not tables[name]} == {"meta"}  # its keys are all caches
    assert {row["key"] for row in dict_rows(settings.database, "SELECT key FROM meta")} == CACHE_META_KEYS
    for name in CLAIMED:
        assert [d["id"] for d in tables[name]] == sorted(d["id"] for d in tables[name])
        assert all("claimed_by" not in d and "claim_expires" not in d for d in tables[name])
    # The member's reminder and its DM, sent and marked, with the DM channel the bot opened for them.
    assert [(r["user_id"], r["milestones"]) for r in tables["reminders"]] == [(4242, "30,7")]
    assert [(d["user_id"], d["milestone"], d["status"]) for d in tables["reminder_deliveries"]] == [
        (4242, 30, "sent")
    ]
    assert [(m["user_id"], m["dm_channel_id"]) for m in tables["dm_recipients"]] == [(4242, int(dm))]
    assert sorted((d["kind"], d["status"], d["error"]) for d in tables["deliveries"]) == [
        ("milestone", "sent", ""),
        *[("update", "sent", "")] * 6,
        *[("update", "skipped", "the entry was removed")] * 2,  # mexico's removal
    ]
    made = {"entries": 7, "guild_settings": 2, "guild_events": 1, "update_batches": 5, "suggestions": 4,
            "watch_proposals": 1, "watch_sources": 1, "follower_roles": 1, "meta": 0, "reminders": 1,
            "reminder_deliveries": 1, "dm_recipients": 1}  # fmt: skip
    assert {name: document["counts"][name] for name in made} == made
    assert [r["slug"] for r in tables["entries"] if r["removed_at"]] == ["mexico"]

    again = tmp_path / "again.json"
    assert (await cli(settings.database_path, "export", str(again), cwd=tmp_path, database_url=settings.database_url)).code == 0
    assert again.read_bytes() == first.read_bytes()

    imported = Settings(database_path=tmp_path / "moved" / "citadel.sqlite3", canon_dir=settings.canon_dir)
    said = (await cli(imported.database_path, "import", str(first), cwd=tmp_path)).said
    assert said.startswith(f"imported {first} into {imported.database_path} (schema version {LATEST}): ")
    second = tmp_path / "second.json"
    assert (await cli(imported.database_path, "export", str(second), cwd=tmp_path)).code == 0
    assert second.read_bytes() == first.read_bytes()
    # The search index was rebuilt: every answer, searches included, is the same from the imported store.
    assert await answers(imported, SEARCHES) == await answers(settings, SEARCHES)
    assert (tmp_path / "moved").is_dir() and sorted(p.name for p in (tmp_path / "moved").iterdir()) == [
        "citadel.sqlite3", "citadel.sqlite3.lock",
    ]  # fmt: skip


def titles(fake: FakeDiscord, channel_id: int) -> list[str]:
    return sorted(m["embeds"][0]["title"] for m in fake.messages[channel_id])


def dict_rows(where: Path | str, sql: str) -> list[dict[str, Any]]:
    """The rows `sql` reads from the store at `where` (a SQLite file, or a PostgreSQL URL), as dicts."""
    if isinstance(where, str):
        derived = ("words", "word_count")  # PostgreSQL's search columns, generated from the facts
        return [{k: v for k, v in row.items() if k not in derived} for row in fetch(where, sql)]
    path = where
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql)]


# --- import refusals --------------------------------------------------------------------------------------


def edited(document: dict[str, Any], case: str) -> str:
    """The export `document` spoiled as `case` says, as text."""
    tables = document["tables"]
    if case == "not an export":
        return json.dumps({"format": "something else", "tables": {}})
    if case == "newer format":
        document["format_version"] = FORMAT_VERSION + 1
    elif case == "newer schema":
        document["schema_version"] = LATEST + 1
    elif case == "edited counts":
        tables["facts"].pop()
    elif case == "unknown table":
        tables["spies"] = []
        document["counts"]["spies"] = 0
    elif case == "unknown column":
        tables["entries"][0]["codename"] = "Nadia"
    elif case == "a row missing":
        # A fact of an entry the file does not have (the last fact's row points at entry 999).
        tables["facts"][-1]["entry_id"] = 999
    elif case == "a cache":
        tables["meta"].append({"key": "command_tree_digest", "value": "abc"})
        document["counts"]["meta"] = 1
    return json.dumps(document)


IMPORT_REFUSALS = {
    "not json": "citadel-bot: {src} is not a citadel-bot export: it is not JSON (Expecting value at line 1); give a file written by `python -m bot export`.",
    "not an export": 'citadel-bot: {src} is not a citadel-bot export (it has no "format": "citadel-bot export"): give a file written by `python -m bot export`.',
    "newer format": f"citadel-bot: {{src}} is export format version {FORMAT_VERSION + 1}, newer than this code reads ({FORMAT_VERSION}): import it with the newer citadel-bot that wrote it.",
    "newer schema": f"citadel-bot: {{src}} holds schema version {LATEST + 1}, newer than this code's {LATEST}: import it with the newer citadel-bot that wrote it.",
    "edited counts": "citadel-bot: {src} is damaged or was edited: its `counts` do not match its rows; export the store again.",
    "unknown table": f"citadel-bot: {{src}} has a table 'spies' that schema version {LATEST} does not have: it is not an export of this bot, or was edited.",
    "unknown column": f"citadel-bot: {{src}}, table entries: column 'codename' is not in schema version {LATEST}: it is not an export of this bot, or was edited.",
    "a cache": "citadel-bot: {src}, table meta: 'command_tree_digest' is a cache, which an export never holds.",
    "a row missing": "citadel-bot: {src}, table facts: row {last_fact} points at a row of entries the file does not have; it was not imported, and nothing was changed.",
    "not empty": "citadel-bot: DATABASE_PATH {db} already holds data (6 entries, 144 facts, 144 revisions, 0 servers and 150 other rows): import only into a new store: point DATABASE_PATH at a new file (or move this one away) and import again; nothing was changed.",
    "running": "citadel-bot: a bot is running on DATABASE_PATH {db} (it holds {db}.lock): import only into a new store that no bot uses; nothing was changed.",
}  # fmt: skip


@pytest.mark.parametrize(
    ("case", "target"),
    # Into no store at all, and into a new, empty one; "not empty" is into one that has data.
    [(case, target) for case in IMPORT_REFUSALS for target in ("none", "empty") if case != "not empty"]
    + [("not empty", "seeded")],
)
async def test_an_import_is_refused_in_one_line_and_leaves_the_store_empty(
    tmp_path: Path, case: str, target: str
) -> None:
    canon_store = tmp_path / "canon.sqlite3"
    await seeded_store(canon_store)
    good = tmp_path / "good.json"
    export_data(canon_store, good)
    document = json.loads(good.read_text(encoding="utf-8"))
    last_fact = document["tables"]["facts"][-1]["id"]
    src = tmp_path / "in.json"
    src.write_text("oops" if case == "not json" else edited(document, case), encoding="utf-8")

    folder = tmp_path / "new"
    folder.mkdir()
    db = folder / "citadel.sqlite3"
    if case == "not empty":
        await seeded_store(db)
    elif target == "empty":
        await (await Store.open(db)).close()  # what a first `Store.open` leaves: migrated, no data
    before = contents(folder)
    if case == "running":
        async with held_by_another_process(db):
            run = await cli(db, "import", str(src), cwd=tmp_path)
    else:
        run = await cli(db, "import", str(src), cwd=tmp_path)
    assert run.line == IMPORT_REFUSALS[case].format(src=src, db=db, last_fact=last_fact)
    # Not a byte changed; nothing was left beside the store (but the lock file, once the lock was taken).
    lock = folder / "citadel.sqlite3.lock"
    assert contents(folder, lock) == before
    if target == "empty" and case != "not empty":
        for name in ("entries", "facts", "revisions", "guild_settings"):
            assert rows(db, f"SELECT count(*) FROM {name}") == [(0,)]


async def test_an_export_from_an_older_schema_imports_and_is_migrated(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    store_with_version(old, LATEST - 1)
    exported = tmp_path / "old.json"
    export_data(old, exported)
    assert json.loads(exported.read_text(encoding="utf-8"))["schema_version"] == LATEST - 1
    db = tmp_path / "new" / "citadel.sqlite3"
    said = (await cli(db, "import", str(exported), cwd=tmp_path)).said
    assert said == (
        f"imported {exported} into {db} (schema version {LATEST - 1}, migrated to {LATEST}): "
        "1 entry, 0 facts, 0 revisions, 0 servers and 0 other rows"
    )
    assert rows(db, "PRAGMA user_version") == [(LATEST,)]
    assert rows(db, "SELECT slug, title FROM entries") == [("old-times", "Old times")]


EXPORT_REFUSALS = {
    "no store": "citadel-bot: DATABASE_PATH {db} does not exist: there is no store to export; point DATABASE_PATH (in .env or the environment) at the bot's store.",
    "no folder": "citadel-bot: the folder {folder} does not exist: create it, or give the export another path.",
    "a folder": "citadel-bot: {target} is a folder: give the export a file name, such as {target}/citadel-export.json.",
    "not an export": "citadel-bot: {target} exists and is not a citadel-bot export, so it is not overwritten: give a new file name.",
}  # fmt: skip


@pytest.mark.parametrize("case", list(EXPORT_REFUSALS))
async def test_an_export_that_cannot_be_written_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    db = tmp_path / "citadel.sqlite3"
    if case != "no store":
        await seeded_store(db)
    folder = tmp_path / "missing"
    target = {"no folder": folder / "e.json", "a folder": tmp_path}.get(case, tmp_path / "notes.json")
    if case == "not an export":
        target.write_text('{"my": "notes"}\n')
    before = contents(tmp_path)
    run = await cli(db, "export", str(target), cwd=tmp_path)
    assert run.line == EXPORT_REFUSALS[case].format(db=db, folder=folder, target=target)
    assert contents(tmp_path) == before


# --- canon ------------------------------------------------------------------------------------------------


async def test_the_exported_canon_seeds_a_new_store_that_answers_every_entry_the_same(
    tmp_path: Path, canon_dir: Path
) -> None:
    original = Settings(database_path=tmp_path / "citadel.sqlite3", canon_dir=canon_dir)
    store = await open_store(original)
    try:
        await moderators_edit(store)
        entries = [entry.slug for entry in await store.entries.all()]
        facts = await store.facts.count()
    finally:
        await store.close()
    folder = tmp_path / "exported-canon"
    said = (
        await cli(original.database_path, "export", "--canon", str(folder), cwd=tmp_path, canon_dir=canon_dir)
    ).said
    assert said.startswith(f"wrote {len(entries)} entries with {facts} facts and ")
    assert said.endswith(f" sources as canon files to {folder}")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(f"{slug}.toml" for slug in entries), "sources.toml"]
    )
    assert "mexico" not in entries  # removed: not canon any more
    # The awkward text is in the TOML exactly as typed.
    season_3 = tomllib.loads((folder / "season-3.toml").read_text(encoding="utf-8"))
    assert season_3["title"] == TRICKY_TITLE and season_3["parent"] == "mothership"
    assert [f["value"] for f in season_3["facts"] if f["field"] == "notes"] == [TRICKY]
    assert [(f["value"], f.get("role"), f.get("confidence")) for f in season_3["facts"] if f["field"] == "cast"] == [
        ("Jane Doe", 'Agent "Nine"', "reported"), ("Zed Ó Brien", None, "rumour"),
    ]  # fmt: skip

    fresh = Settings(database_path=tmp_path / "fresh" / "citadel.sqlite3", canon_dir=folder)
    assert await answers(fresh, SEARCHES) == await answers(original, SEARCHES)
    # And as the operator sees it: `python -m bot ask` prints the same from both.
    for slug, title in (("season-3", TRICKY_TITLE), ("diana", "Citadel: Diana")):
        printed = [
            (await cli(s.database_path, "ask", "citadel", slug, cwd=tmp_path, canon_dir=s.canon_dir)).out
            for s in (original, fresh)
        ]
        assert printed[0] == printed[1] and printed[0].startswith(f"{title}\n")


@given(st.text())
def test_a_toml_string_reads_back_as_the_same_text(text: str) -> None:
    assert tomllib.loads(f"value = {toml_string(text)}\n")["value"] == text


def test_every_control_character_is_escaped() -> None:
    text = "".join(chr(c) for c in [*range(0x20), 0x7F]) + '"\\'
    written = toml_string(text)
    assert all(ord(c) >= 0x20 and ord(c) != 0x7F for c in written)
    assert tomllib.loads(f"v = {written}")["v"] == text


async def test_a_canon_export_into_a_folder_with_files_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "citadel.sqlite3"
    await seeded_store(db)
    folder = tmp_path / "canon-out"
    folder.mkdir()
    (folder / "diana.toml").write_text("# mine\n")
    run = await cli(db, "export", "--canon", str(folder), cwd=tmp_path)
    assert run.line == (
        f"citadel-bot: {folder} is not empty: give --canon a new or empty folder, so no canon file is overwritten."
    )
    assert contents(folder) == {"diana.toml": b"# mine\n"}
    missing = tmp_path / "gone.sqlite3"
    run = await cli(missing, "export", "--canon", str(tmp_path / "c2"), cwd=tmp_path)
    assert run.line == (
        f"citadel-bot: DATABASE_PATH {missing} does not exist: there is no store to export; point DATABASE_PATH "
        "(in .env or the environment) at the bot's store."
    )
    assert not missing.exists() and not (tmp_path / "c2").exists()

    # An entry two levels down, which the canon's loader would reach before its parent.
    store = await Store.open(db)
    try:
        await store.entries.create(
            Entry("season-3", "Citadel season 3", parent="mothership", position=50), MOD
        )
        await store.entries.create(Entry("s3-e1", "Season 3, episode 1", parent="season-3", position=10), MOD)
    finally:
        await store.close()
    run = await cli(db, "export", "--canon", str(tmp_path / "c3"), cwd=tmp_path)
    assert run.line == (
        "citadel-bot: entry s3-e1 is under season-3, which is itself under another entry: the canon loader "
        "takes one level of parents; nothing was written."
    )
    assert [name for name in files(tmp_path) if name.startswith((".c3", "c3"))] == []
