"""The shipped canon: its files checked as they are read, and loaded into the store idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest

import bot.canon as canon_module
from bot.canon import CanonError, load_canon, read_canon
from bot.facts import Fact
from bot.store import Store, put_fact
from tests.store_probe import count


async def test_the_canon_loads_every_file_and_fact(store: Store, canon_dir: Path) -> None:
    files = read_canon(canon_dir)
    report = await load_canon(store, canon_dir)
    expected_facts = sum(len(f.facts) for f in files)
    assert sorted(report.loaded) == sorted(f.name for f in files)
    assert count(store, "entries") == len(files)
    assert count(store, "facts") == expected_facts
    assert count(store, "revisions") == expected_facts == report.revisions
    assert [e.slug for e in await store.entries.all()][:4] == [
        "mothership",
        "season-2",
        "diana",
        "honey-bunny",
    ]


async def test_the_first_load_is_history_but_not_news(store: Store, canon_dir: Path) -> None:
    changes: list[str] = []
    store.on_change.append(lambda: changes.append("changed"))
    report = await load_canon(store, canon_dir)
    assert report.revisions > 0
    assert count(store, "change_events") == 0 and changes == []


async def test_every_fact_has_a_source_and_a_source_date(seeded: Store) -> None:
    for entry in await seeded.entries.all():
        for fact in await seeded.facts.for_entry(entry.slug):
            assert fact.source.strip() and fact.source_date[:4].isdigit(), fact


async def test_loading_an_unchanged_canon_again_writes_nothing(
    seeded: Store, canon_dir: Path, tmp_path: Path
) -> None:
    revisions = count(seeded, "revisions")
    wal = seeded.path and seeded.path.with_name(seeded.path.name + "-wal")
    wal_size = wal.stat().st_size if wal else 0
    report = await load_canon(seeded, canon_dir)
    assert report.loaded == [] and report.revisions == 0
    assert count(seeded, "revisions") == revisions
    if wal:  # SQLite
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
    revisions = count(seeded, "revisions")
    report = await load_canon(seeded, canon_dir)
    assert report.loaded == [] and report.revisions == 0 and count(seeded, "revisions") == revisions
    assert await seeded.meta.get(canon_module.FILES_DIGEST_KEY) == canon_module.canon_files_digest(canon_dir)
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
    revisions_before = count(seeded, "revisions")

    report = await load_canon(seeded, canon_dir)

    assert report.loaded == ["diana.toml"] and report.revisions == 3
    assert count(seeded, "revisions") == revisions_before + 3
    history = await seeded.history.for_entry("diana")
    assert [(r.action, r.field) for r in history[-3:]] == [
        ("edit", "cast"), ("add", "filming_location"), ("remove", "filming_location")
    ]  # fmt: skip
    assert history[-3].old and history[-3].old["value"] == "Matilda De Angelis — Diana Cavalieri"
    assert history[-3].new and history[-3].new["value"] == "Matilda De Angelis — Diana"
    locations = [f.value for f in await seeded.facts.for_entry("diana") if f.field == "filming_location"]
    assert "Turin" in locations and "Paris" not in locations
    assert (await load_canon(seeded, canon_dir)).revisions == 0
    # Once the store is seeded, a change of the canon is news like any other.
    assert count(seeded, "change_events") == 3


async def test_a_canon_change_leaves_moderators_edits_to_other_facts_alone(
    seeded: Store, canon_dir: Path
) -> None:
    async with seeded.transaction() as tx:
        await put_fact(tx, "diana", Fact("episodes", "7", "https://example.org/x", "2026-11-01"), "mod")
    path = canon_dir / "diana.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('"Gina Gardini"', '"G. Gardini"'), encoding="utf-8"
    )
    await load_canon(seeded, canon_dir)
    facts = {f.field: f for f in await seeded.facts.for_entry("diana")}
    assert facts["episodes"].value == "7" and facts["showrunner"].value == "G. Gardini"


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


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            ('source = "FPU"', 'source = "FPU"\nconfidence = "maybe"'),
            "confidence must be one of confirmed, reported, rumour",
        ),
        (("slug =", "tvmaze_id = -3\nslug ="), "`tvmaze_id` must be a positive whole number"),
        (("slug =", "tvmaze_season = 2\nslug ="), "`tvmaze_season` needs the show's `tvmaze_id`"),
        (("slug =", 'wikidata_id = "L12"\nslug ='), "`wikidata_id` must look like"),
    ],
)
async def test_confidences_and_source_ids_are_checked(
    canon_dir: Path, change: tuple[str, str], says: str
) -> None:
    path = canon_dir / "diana.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(*change, 1), encoding="utf-8")
    with pytest.raises(CanonError, match=says):
        read_canon(canon_dir)


async def test_confidences_and_ids_reach_the_store(store: Store, canon_dir: Path) -> None:
    path = canon_dir / "diana.toml"
    path.write_text(
        'tvmaze_id = 7\nwikidata_id = "Q42"\n' + path.read_text(encoding="utf-8"), encoding="utf-8"
    )
    await load_canon(store, canon_dir)
    diana = await store.entries.get("diana")
    assert diana is not None and (diana.tvmaze_id, diana.tvmaze_season, diana.wikidata_id) == (7, None, "Q42")
    spain = {f.field: f.confidence for f in await store.facts.for_entry("spain")}
    assert spain["status"] == "reported" and spain["country"] == "confirmed"  # the default
    trailers = [f.value for slug in ("mothership", "diana", "honey-bunny") for f in await store.facts.for_entry(slug)
                if f.field == "trailer"]  # fmt: skip
    assert len(trailers) == 3 and all(t.startswith("https://") for t in trailers)
