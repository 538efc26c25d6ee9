"""The PostgreSQL engine's own parts: news of another process's commit by LISTEN/NOTIFY, claims that pass
over rows another claimer holds (FOR UPDATE SKIP LOCKED), `python -m bot migrate` both ways giving the same
export, and a DATABASE_URL that cannot be used refused in one line without its password. The rest of the
store's behaviour on PostgreSQL is the whole suite run on it (`python -m tests.postgres python -m pytest`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.canon import load_canon
from bot.clock import ManualClock
from bot.config import DEFAULT_CANON_DIR, ConfigError, load_settings
from bot.facts import Entry, Fact
from bot.services.catalogue import Catalogue
from bot.store import Store, StoreError
from bot.store.database import latest_schema
from bot.store.outbox import claim_rows
from bot.store.postgres import latest_pg_schema, masked, pg_migrations
from tests.engines import SERVER_URL, TEST_DATABASE, new_database, postgres_only
from tests.harness import free_port
from tests.postgres import PASSWORD, PASSWORD_USER
from tests.test_backup import cli, files
from tests.test_store_claims import NOW, TTL, planned

FACT = Fact("filming_location", "Turin", "https://example.org/filming", "2026-11-01", key="turin")


@postgres_only
async def test_another_processs_commit_reaches_a_second_store_as_news_and_its_catalogue_at_once(
    seeded: Store,
) -> None:
    other = await Store.open(seeded.where)  # a second process on the same database
    try:
        heard, own = asyncio.Event(), asyncio.Event()
        other.on_news.append(heard.set)
        seeded.on_news.append(own.set)
        catalogue = Catalogue(other, ManualClock(NOW))  # its clock never moves: no interval passes
        await catalogue.open()
        await catalogue.notice_changes()
        before = await other.data_version()
        await seeded.entries.create(Entry("zeta-test", "Zeta", position=90), "first process")
        await asyncio.wait_for(heard.wait(), 10)
        assert await other.data_version() == before + 1
        await catalogue.notice_changes()
        assert "zeta-test" in catalogue.entries.by_slug  # looked at once: the news said so
        assert not own.is_set()  # a process's own commit is not news to it (on_change tells it)
        # A transaction that changed nothing (or rolled back) tells nobody anything.
        heard.clear()
        async with seeded.transaction() as tx:
            await tx.execute("UPDATE entries SET title = title WHERE slug = 'no-such-entry'")
        with pytest.raises(RuntimeError):
            async with seeded.transaction() as tx:
                await tx.execute("UPDATE entries SET title = 'Rolled back' WHERE slug = 'diana'")
                raise RuntimeError
        await seeded.facts.add("diana", FACT, "first process")  # a commit after both, to wait for
        await asyncio.wait_for(heard.wait(), 10)
        assert await other.data_version() == before + 2
        catalogue.close()
    finally:
        await other.close()


@postgres_only
async def test_a_store_whose_listening_connection_is_cut_listens_again_and_counts_it_as_news(
    seeded: Store,
) -> None:
    other = await Store.open(seeded.where)
    try:
        heard = asyncio.Event()
        other.on_news.append(heard.set)
        before = await other.data_version()
        listener = other._database._listener  # type: ignore[attr-defined]
        async with seeded.transaction() as tx:  # as a server restart or a network cut would
            assert await tx.fetchone("SELECT pg_terminate_backend(?)", (listener.get_server_pid(),)) == (True,)
        await asyncio.wait_for(heard.wait(), 10)  # listening again: what was missed meanwhile is news
        assert await other.data_version() == before + 1
        assert other._database._listener is not listener  # type: ignore[attr-defined]
        heard.clear()
        await seeded.entries.create(Entry("zeta-test", "Zeta", position=90), "first process")
        await asyncio.wait_for(heard.wait(), 10)
        assert await other.data_version() == before + 2
    finally:
        await other.close()


@postgres_only
async def test_a_claim_passes_over_deliveries_another_claimer_holds_instead_of_waiting(seeded: Store) -> None:
    await planned(seeded, 30)
    other = await Store.open(seeded.where)
    try:
        # The first claimer's transaction stays open, holding the rows it took, while the second claims.
        async with seeded._database.transaction(serial=False) as tx:
            first = await claim_rows(tx, "deliveries", "first", TTL, NOW, 12)
            second = await asyncio.wait_for(other.outbox.claim_due(NOW, None, "second", TTL, 12), 5)
        assert len(first) == 12 and len(second) == 12
        assert set(first).isdisjoint(d.id for d in second)
        # Racing claimers split the rest exactly: every delivery claimed once, by one of them.
        taken = await asyncio.gather(
            *(store.outbox.claim_due(NOW, None, f"racer {n}", TTL, 2) for n in range(3) for store in (seeded, other))
        )
        ids = [d.id for batch in taken for d in batch]
        assert len(ids) == 6 and len(set(ids)) == 6
        everything = {d.id for d in await seeded.outbox.deliveries()}
        assert sorted([*first, *(d.id for d in second), *ids]) == sorted(everything)
        assert await seeded.outbox.claim_due(NOW, None, "late", TTL, 5) == []
    finally:
        await other.close()


@postgres_only
async def test_migrate_moves_a_sqlite_store_into_postgresql_and_back_with_the_same_export(tmp_path: Path) -> None:
    sqlite = tmp_path / "before.sqlite3"
    store = await Store.open(sqlite)
    await load_canon(store, DEFAULT_CANON_DIR)
    await store.facts.add("diana", FACT, "moderator")
    await store.suggestions.add("diana", FACT, 4242, "member", None, limit=5, window=TTL, locale="it")
    await store.close()
    url = new_database(tmp_path)
    assert isinstance(url, str)
    first, second, third = (tmp_path / f"{n}.json" for n in ("sqlite", "postgresql", "back"))
    assert (await cli(sqlite, "export", str(first), cwd=tmp_path)).code == 0

    said = (await cli(sqlite, "migrate", "to-postgresql", cwd=tmp_path, database_url=url)).said
    assert said.startswith("copied 6 entries, ") and f"from DATABASE_PATH {sqlite} into DATABASE_URL in " in said
    assert (await cli(sqlite, "export", str(second), cwd=tmp_path, database_url=url)).code == 0
    assert second.read_bytes() == first.read_bytes()
    # A second copy into the same database is refused: it holds data now.
    again = await cli(sqlite, "migrate", "to-postgresql", cwd=tmp_path, database_url=url)
    assert again.code == 2 and again.out == ""
    assert again.err.startswith(f"citadel-bot: DATABASE_URL {url} already holds data (6 entries, ")

    back = tmp_path / "after.sqlite3"
    said = (await cli(back, "migrate", "to-sqlite", cwd=tmp_path, database_url=url)).said
    assert f"from DATABASE_URL into DATABASE_PATH {back} in " in said
    assert (await cli(back, "export", str(third), cwd=tmp_path)).code == 0
    assert third.read_bytes() == first.read_bytes()
    # The copy is a working store: new rows get new ids after the copied ones.
    moved = await Store.open(url)
    try:
        later = await moved.suggestions.add("diana", FACT, 4343, "another", None, limit=5, window=TTL)
        assert later.id == 2
    finally:
        await moved.close()


@postgres_only
async def test_search_gives_the_same_hits_in_the_same_order_as_sqlites_fts5(seeded: Store, tmp_path: Path) -> None:
    """Every word of the canon's facts, its first three letters, and it after "citadel": the same hits
    in the same order from PostgreSQL (tsvector and bm25 in SQL) as from SQLite (FTS5's bm25)."""
    sqlite = await Store.open(tmp_path / "fts5.sqlite3")
    try:
        await load_canon(sqlite, DEFAULT_CANON_DIR)
        words = {
            word
            for entry in await sqlite.entries.all()
            for fact in await sqlite.facts.for_entry(entry.slug)
            for word in f"{fact.value} {fact.note}".split()
            if word.isalpha()
        }
        assert {"Møller", "Cécile", "Priyanka"} <= words  # letters FTS5 folds and letters it keeps
        queries = sorted({q for word in words for q in (word, word[:3], f"citadel {word}")})
        differing = [q for q in queries if await seeded.facts.search(q, 25) != await sqlite.facts.search(q, 25)]
        assert differing == []
        assert len(await seeded.facts.search("citadel", 25)) == 14  # many hits, ordered by rank
    finally:
        await sqlite.close()


def test_each_sqlite_schema_version_has_its_postgresql_twin() -> None:
    """PostgreSQL's migrations are numbered by the SQLite schema version they reach: a new SQLite
    migration (0015, say) needs migrations/postgresql/0015_*.sql too, or stores on PostgreSQL would report
    an older schema, and exports from them would not import the same."""
    assert latest_pg_schema() == latest_schema()
    assert pg_migrations()[0][0] == 14  # SQLite's 0001-0014 at once


@postgres_only
async def test_processes_starting_together_on_an_empty_database_migrate_it_once(tmp_path: Path) -> None:
    url = new_database(tmp_path)
    stores = await asyncio.gather(*(Store.open(url) for _ in range(4)))
    try:
        assert [await store.schema_version() for store in stores] == [latest_schema()] * 4
        assert await stores[0].facts.count() == 0
        assert [await store.migrate() for store in stores] == [latest_schema()] * 4  # nothing left to apply
    finally:
        await asyncio.gather(*(store.close() for store in stores))


def server_port() -> int:
    assert SERVER_URL is not None
    return int(dict(parse_qsl(urlsplit(SERVER_URL).query))["port"])


async def test_an_unreachable_database_url_is_one_line_without_its_password() -> None:
    url = f"postgresql://citadel:{PASSWORD}@127.0.0.1:{free_port()}/citadel"
    with pytest.raises(StoreError) as refused:
        await Store.open(url)
    line = str(refused.value)
    assert "\n" not in line and PASSWORD not in line
    assert line.startswith(f"DATABASE_URL postgresql://citadel:***@127.0.0.1:{urlsplit(url).port}/citadel cannot be reached (")
    assert line.endswith("check that PostgreSQL runs there and the host and port are right.")


@postgres_only
async def test_a_refused_password_is_one_line_without_it(tmp_path: Path) -> None:
    url = f"postgresql://{PASSWORD_USER}:wrong-{PASSWORD}@127.0.0.1:{server_port()}/{TEST_DATABASE}"
    run = await cli(tmp_path / "unused.sqlite3", "ask", "citadel", "diana", cwd=tmp_path, database_url=url)
    assert run.code == 2 and run.out == ""
    assert run.err == (
        f"citadel-bot: DATABASE_URL {masked(url)} refused the user and password (password authentication failed "
        f'for user "{PASSWORD_USER}"): check both in DATABASE_URL.\n'
    )
    assert PASSWORD not in run.err and masked(url) == url.replace(f"wrong-{PASSWORD}", "***")


async def test_backups_of_a_postgresql_store_are_refused_in_one_line_naming_pg_dump(tmp_path: Path) -> None:
    url = f"postgresql://citadel:{PASSWORD}@127.0.0.1:{free_port()}/citadel"  # refused before connecting
    for command in ("backup", "restore"):
        run = await cli(tmp_path / "unused.sqlite3", command, str(tmp_path / "copy.sqlite3"), cwd=tmp_path,
                        database_url=url)  # fmt: skip
        assert (run.code, run.out) == (2, "")
        assert run.err == (
            f"citadel-bot: `{command}` copies a SQLite file; the store is PostgreSQL's (DATABASE_URL): back it up "
            "and restore it with pg_dump and pg_restore (or `python -m bot export`, which works on either).\n"
        )
    assert files(tmp_path) == []  # nothing written
    run = await cli(tmp_path / "unused.sqlite3", "migrate", "to-postgresql", cwd=tmp_path)
    assert (run.code, run.out) == (2, "") and run.err.startswith("citadel-bot: migrate needs DATABASE_URL: set it")


def test_a_database_url_that_is_not_postgresql_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"DATABASE_URL": f"mysql://root:{PASSWORD}@db/citadel"}, env_file=Path("/nonexistent"))
    assert str(refused.value) == (
        "DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/database), not mysql: for "
        "a SQLite file set DATABASE_PATH instead."
    )
    settings = load_settings({"DATABASE_URL": f"postgres://u:{PASSWORD}@db/citadel"}, env_file=Path("/nonexistent"))
    assert settings.database == f"postgres://u:{PASSWORD}@db/citadel" and PASSWORD not in repr(settings)
    with pytest.raises(ConfigError, match=r"^BACKUP_DIR copies a SQLite file"):
        load_settings(
            {"DATABASE_URL": "postgresql://db/citadel", "BACKUP_DIR": "/tmp/backups"}, env_file=Path("/nonexistent")
        )
