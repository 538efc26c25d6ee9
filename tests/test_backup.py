"""`python -m bot backup` and `restore`, the lock that tells a running bot, and the bot's rotating
backups (BackupSchedule), on real SQLite files and real `python -m bot` processes.

Refusals are checked as the operator meets them: exit code 2, one line on stderr, and the target's
bytes the same before and after."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import open_store
from bot.backup import BackupSchedule, backup_name, latest_schema
from bot.canon import load_canon
from bot.clock import ManualClock
from bot.config import DEFAULT_CANON_DIR, Settings
from bot.facts import Fact
from bot.render import Style, to_text
from bot.running import hold, in_use, lock_path
from bot.services import Catalogue
from bot.store import Store, migrations, sql_statements
from bot.store.servers import GuildSettings
from tests.engines import POSTGRES
from tests.fake_discord import FakeDiscord
from tests.harness import ROOT, TOKEN, bot_process, finished, make_settings, running_bot
from tests.store_probe import select

# SQLite's online backup of a running bot's store: a PostgreSQL store is backed up with pg_dump.
BACKS_UP_SQLITE = pytest.mark.skipif(POSTGRES, reason="SQLite's online backup; PostgreSQL's is pg_dump")

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ASKED_AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # "now" for the answers compared
LATEST = latest_schema()


# --- helpers: the CLI, a process holding the lock, looks into SQLite files -------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The one line on stderr of a refusal (asserted to be exactly one, and nothing on stdout)."""
        assert self.code == 2, (self.code, self.out, self.err)
        assert self.out == "", self.out
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        return lines[0]

    @property
    def said(self) -> str:
        """The one line on stdout of a success (and nothing on stderr)."""
        assert self.code == 0, (self.code, self.out, self.err)
        assert self.err == "", self.err
        lines = self.out.splitlines()
        assert len(lines) == 1, self.out
        return lines[0]


async def cli(
    database_path: Path, *args: str, cwd: Path, canon_dir: Path = DEFAULT_CANON_DIR, database_url: str | None = None
) -> Run:
    """`python -m bot <args>` as the operator runs it, with DATABASE_PATH and CANON_DIR set (and no .env),
    and DATABASE_URL when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "HOME_GUILD_IDS", "BACKUP_DIR")}
    env.update(
        DATABASE_PATH=str(database_path), CANON_DIR=str(canon_dir), LOG_LEVEL="INFO", PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url or "",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


HOLDER = """
import sys
from pathlib import Path
from bot.running import hold
with hold(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it
"""


@asynccontextmanager
async def held_by_another_process(database_path: Path) -> AsyncIterator[None]:
    """A separate process holding the store's lock as a running bot does, until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(database_path), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"held\n"
        yield
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 30)


def sqlite(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True))


def integrity(path: Path) -> list[str]:
    with sqlite(path) as db:
        return [row[0] for row in db.execute("PRAGMA integrity_check")]


def pragma(path: Path, name: str) -> object:
    with sqlite(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def rows(where: Path | str, sql: str) -> list[tuple[object, ...]]:
    """The rows `sql` reads from the store at `where` (a SQLite file, or a PostgreSQL URL)."""
    return select(where, sql)


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def inode_of(path: Path) -> int:
    return path.stat().st_ino


def contents(folder: Path, *leave_out: Path) -> dict[str, bytes]:
    """Every file in `folder` with its bytes (but `leave_out`)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p not in leave_out}


async def seeded_store(path: Path, canon_dir: Path = DEFAULT_CANON_DIR) -> None:
    """A store at `path` as the bot's first start leaves it: migrated and seeded with the canon."""
    store = await Store.open(path)
    try:
        await load_canon(store, canon_dir)
    finally:
        await store.close()


async def answers(settings: Settings, searches: tuple[str, ...] = ("Milan",)) -> dict[str, str]:
    """What `python -m bot ask citadel <slug>` prints for every entry (and `ask citadel search <words>`
    for `searches`, and `ask citadel about`), from the store in `settings`, seeded from its CANON_DIR if
    it is new: the same calls as `ask` (bot/__main__.py), at one fixed moment so relative dates agree."""
    store = await open_store(settings)
    try:
        catalogue = Catalogue(store, lambda: ASKED_AT)
        await catalogue.open()
        said = {}
        for entry in await store.entries.all():
            said[entry.slug] = to_text(
                await catalogue.entry_card(catalogue.resolve(entry.slug), ASKED_AT, Style.TEXT)
            )
        for words in searches:
            said[f"search {words}"] = to_text(await catalogue.search_card(words, Style.TEXT))
        said["about"] = to_text(await catalogue.about_card())
        catalogue.close()
        return said
    finally:
        await store.close()


# --- backup ------------------------------------------------------------------------------------------------


@BACKS_UP_SQLITE
async def test_a_backup_while_the_bot_runs_is_a_whole_checked_copy_of_the_store(
    settings: Settings, fake: FakeDiscord, tmp_path: Path
) -> None:
    process = bot_process(settings, TOKEN, tmp_path)  # the real bot, `python -m bot`, on the fake
    try:
        await fake.wait_for_ready(timeout=30)
        backups = tmp_path / "backups"
        backups.mkdir()
        target = backups / "monday.sqlite3"
        run = await cli(settings.database_path, "backup", str(target), cwd=tmp_path)
        assert re.fullmatch(
            rf"wrote {re.escape(str(target))}: a copy of {re.escape(str(settings.database_path))} "
            rf"\(\d+ kB, schema version {LATEST}\) in \d+\.\d\d s",
            run.said,
        ), run.said
        assert process.poll() is None  # the bot ran on throughout
        # It holds the store's lock (bot/__main__.py): a restore is refused, and the file is not replaced.
        assert in_use(settings.database_path)
        inode = inode_of(settings.database_path)
        run = await cli(settings.database_path, "restore", str(target), cwd=tmp_path)
        db = settings.database_path
        assert run.line == (
            f"citadel-bot: a bot is running on DATABASE_PATH {db} (it holds {db}.lock): stop every bot process "
            "that uses it, then restore again; nothing was changed."
        )
        assert inode_of(db) == inode
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await finished(process, tmp_path)
    assert process.returncode == 0, err
    # One file, complete and sound, with no journal beside it and no temporary file left over.
    assert files(backups) == ["monday.sqlite3"]
    assert integrity(target) == ["ok"]
    assert pragma(target, "journal_mode") == "delete"
    assert pragma(target, "user_version") == LATEST
    for table in ("entries", "facts", "revisions", "canon_facts"):
        sql = f"SELECT * FROM {table} ORDER BY rowid"
        assert rows(target, sql) == rows(settings.database_path, sql)
    assert len(rows(target, "SELECT id FROM entries")) == 6


@BACKS_UP_SQLITE
async def test_a_backup_taken_during_a_fan_out_restores_to_a_sound_store_that_answers_the_same(
    tmp_path: Path, canon_dir: Path
) -> None:
    """300 subscribed servers, a milestone post for each under way, a backup by `python -m bot backup`
    in the middle of it; the backup restored (`python -m bot restore`) into a new store passes
    integrity_check, answers every entry as the live store does, and a bot started on it finishes the
    fan-out with every server posted exactly once."""
    servers = 300
    clock = ManualClock(START)
    async with FakeDiscord(guilds=servers, token=TOKEN) as fake, running_fake(fake):
        settings = replace(make_settings(tmp_path, canon_dir, fake), home_guild_ids=(), announce_rate=1000.0)
        channels = {fake.guild(g).channel_id for g in fake.guild_ids}

        def posted() -> int:
            return sum(len(fake.messages.get(c, [])) for c in channels)

        backup = tmp_path / "during.sqlite3"
        async with running_bot(settings, fake, clock) as bot:
            for guild_id in fake.guild_ids:
                channel = fake.guild(guild_id).channel_id
                # Their language known (as an admin's /announce leaves it): one request to Discord per post.
                settings_ = GuildSettings(guild_id, channel_id=channel, updates=False, locale="en-US")
                await bot.store.servers.save(settings_)
            # A premiere 29.5 days away: the 30-day milestone is due at once for every server.
            fact = Fact("premiere", "2026-12-24", "https://example.org/date", "2026-11-20")
            await bot.store.facts.edit("season-2", "premiere", "", fact, "mod (1)")
            # A third of the way in, Discord slows down: the posts in flight wait while the backup is taken.
            await fake.wait_until(lambda: posted() >= servers // 3 or None, timeout=30, what="100 posts")
            slow = fake.hold_requests("/channels/*/messages", method="POST")
            run = await cli(settings.database_path, "backup", str(backup), cwd=tmp_path)
            assert run.said.startswith(f"wrote {backup}: ")
            slow.set()  # the posts in flight go through; then the bot stops, the fan-out unfinished
        before_restore = posted()
        assert servers // 3 <= before_restore < servers

        # The backup holds the whole fan-out: every delivery, some sent (each with the message Discord
        # made), the others still to send.
        assert integrity(backup) == ["ok"]
        sent = rows(backup, "SELECT channel_id, message_id FROM deliveries WHERE status = 'sent'")
        pending = rows(backup, "SELECT count(*) FROM deliveries WHERE status = 'pending'")[0][0]
        assert servers // 3 <= len(sent) < before_restore  # the posts in flight were sent after it
        assert len(sent) + pending == servers
        ids = {int(m["id"]) for c in channels for m in fake.messages.get(c, [])}
        assert {message_id for _, message_id in sent} <= ids

        restored = replace(settings, database_path=tmp_path / "restored" / "citadel.sqlite3")
        run = await cli(restored.database_path, "restore", str(backup), cwd=tmp_path)
        assert run.said == f"restored {restored.database_path} from {backup} ({run.said.split('(')[1]}"
        assert f"schema version {LATEST})" in run.said
        assert integrity(restored.database_path) == ["ok"]
        assert await answers(restored) == await answers(settings)

        # A bot started on the restored store (a minute and a half later: the old process's claims have
        # expired) finishes the fan-out: what the backup had not sent; what was sent after the backup was
        # taken Discord recognises by its nonce, so no server gets a second post.
        later = ManualClock(START + timedelta(seconds=90))
        async with running_bot(restored, fake, later) as bot:
            await bot.announcer.settled()
            assert await bot.store.outbox.status_counts() == {
                "pending": 0,
                "claimed": 0,
                "sent": servers,
                "failed": 0,
                "skipped": 0,
            }
        assert sorted(len(fake.messages.get(c, [])) for c in channels) == [1] * servers


@asynccontextmanager
async def running_fake(fake: FakeDiscord) -> AsyncIterator[None]:
    """discord.py pointed at `fake`; afterwards, Discord would have accepted every request."""
    with fake.point_discord_py_here():
        yield
    assert fake.invalid_requests == [] and fake.unknown_routes == [] and fake.errors == []


BACKUP_REFUSALS = dict(
    [
        ("no store", "DATABASE_PATH {db} does not exist: there is no store to back up; point DATABASE_PATH (in .env or the environment) at the bot's store."),
        ("no folder", "the folder {folder} does not exist: create it, or give the backup another path."),
        ("a folder", "{target} is a folder: give the backup a file name, such as {target}/citadel.sqlite3."),
        ("not a backup", "{target} exists and is not a SQLite database, so it is not overwritten: give the backup a new file name."),
        ("the store", "{target} is DATABASE_PATH itself: give the backup another file name."),
    ]
)  # fmt: skip


@pytest.mark.parametrize("case", list(BACKUP_REFUSALS))
async def test_a_backup_that_cannot_be_written_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    says = BACKUP_REFUSALS[case]
    db = tmp_path / "citadel.sqlite3"
    if case != "no store":
        await seeded_store(db)
    folder = tmp_path / "missing"
    target = {"no folder": folder / "b.sqlite3", "a folder": tmp_path, "the store": db}.get(
        case, tmp_path / "b.txt"
    )
    if case == "not a backup":
        target.write_text("my notes\n")
    before = contents(tmp_path)
    run = await cli(db, "backup", str(target), cwd=tmp_path)
    assert run.line == "citadel-bot: " + says.format(db=db, folder=folder, target=target)
    assert contents(tmp_path) == before


# --- restore -----------------------------------------------------------------------------------------------


def store_with_version(path: Path, version: int) -> None:
    """A store file at schema `version` with one entry: a backup made by an older (or newer) bot."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for number, migration in migrations():
            if number <= min(version, LATEST):
                for statement in sql_statements(migration.read_text(encoding="utf-8")):
                    db.execute(statement)
        db.execute(
            "INSERT INTO entries (slug, title, created_at, updated_at) "
            "VALUES ('old-times', 'Old times', '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')"
        )
        db.execute(f"PRAGMA user_version = {version}")


def damaged_copy(good: Path, path: Path) -> None:
    """`good` with its fourth and fifth pages overwritten, as a failing disk leaves a file."""
    data = bytearray(good.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[3 * page : 5 * page] = b"\xff" * (2 * page)
    path.write_bytes(bytes(data))


RESTORE_REFUSALS = dict(
    [
        ("running", "a bot is running on DATABASE_PATH {db} (it holds {db}.lock): stop every bot process that uses it, then restore again; nothing was changed."),
        ("missing", "{src} does not exist: give the path of a backup file."),
        ("a folder", "{src} is a folder: give the path of a backup file."),
        ("not a database", "{src} is not a SQLite database: give a file written by `python -m bot backup` (or BACKUP_DIR)."),
        ("not a store", "{src} is a SQLite database but not a citadel-bot store: give a file written by `python -m bot backup`."),
        ("damaged", "{src} fails SQLite's integrity check ("),
        ("newer", f"{{src}} has schema version {LATEST + 1}, newer than this code's {LATEST}: restore it with the newer citadel-bot that wrote it, or restore an older backup."),
        ("the store", "{src} is DATABASE_PATH itself: give the path of a backup file."),
    ]
)  # fmt: skip


@pytest.mark.parametrize("case", list(RESTORE_REFUSALS))
async def test_a_restore_is_refused_in_one_line_and_leaves_the_store_as_it_was(
    tmp_path: Path, case: str
) -> None:
    says = RESTORE_REFUSALS[case]
    db = tmp_path / "live" / "citadel.sqlite3"
    await seeded_store(db)
    backups = tmp_path / "backups"
    backups.mkdir()
    good = backups / "good.sqlite3"
    assert (await cli(db, "backup", str(good), cwd=tmp_path)).code == 0
    src = {"missing": backups / "nope.sqlite3", "a folder": backups, "the store": db}.get(
        case, backups / "b.sqlite3"
    )
    if case == "running":
        src = good
    elif case == "not a database":
        src.write_text("SQLite format 2, honestly\n")
    elif case == "not a store":
        with closing(sqlite3.connect(src, isolation_level=None)) as other:
            other.execute("CREATE TABLE notes (body TEXT)")
    elif case == "damaged":
        damaged_copy(good, src)
    elif case == "newer":
        store_with_version(src, LATEST + 1)
    before = contents(db.parent)
    if case == "running":
        async with held_by_another_process(db):
            assert in_use(db)
            run = await cli(db, "restore", str(src), cwd=tmp_path)
    else:
        run = await cli(db, "restore", str(src), cwd=tmp_path)
    line = run.line
    expected = "citadel-bot: " + says.format(db=db, src=src)
    if case == "damaged":
        assert line.startswith(expected) and line.endswith("): it is damaged; restore another backup."), line
    else:
        assert line == expected
    # Not a byte of the store changed, and nothing was added beside it (but the lock file of the process
    # that held it).
    assert contents(db.parent, lock_path(db)) == before
    assert lock_path(db).exists() == (case == "running")


async def test_restore_replaces_the_store_once_no_bot_holds_it_and_drops_the_old_write_ahead_log(
    tmp_path: Path,
) -> None:
    db = tmp_path / "citadel.sqlite3"
    await seeded_store(db)
    backup = tmp_path / "backup.sqlite3"
    assert (await cli(db, "backup", str(backup), cwd=tmp_path)).code == 0
    # After the backup, a process writes to the store and dies without a checkpoint: its write is only in
    # the store's -wal. The restore must not let that log be read with the restored file.
    crash = (
        "import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute('PRAGMA journal_mode = WAL'); "
        "db.execute(\"UPDATE entries SET title = 'Lost' WHERE slug = 'diana'\"); os._exit(0)"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", crash, str(db))
    assert await process.wait() == 0
    assert contents(tmp_path)["citadel.sqlite3-wal"] != b""

    async with held_by_another_process(db):
        assert (await cli(db, "restore", str(backup), cwd=tmp_path)).code == 2
    assert not in_use(db)
    run = await cli(db, "restore", str(backup), cwd=tmp_path)
    assert re.fullmatch(
        rf"restored {re.escape(str(db))} from {re.escape(str(backup))} \(\d+ kB, schema version {LATEST}\)",
        run.said,
    )
    assert files(tmp_path) == ["backup.sqlite3", "citadel.sqlite3", "citadel.sqlite3.lock"]
    assert integrity(db) == ["ok"]
    assert rows(db, "SELECT title FROM entries WHERE slug = 'diana'") == [("Citadel: Diana",)]
    assert rows(db, "SELECT * FROM facts ORDER BY id") == rows(backup, "SELECT * FROM facts ORDER BY id")


async def test_a_backup_from_an_older_schema_restores_and_migrates_when_the_bot_opens_it(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old.sqlite3"
    store_with_version(old, LATEST - 1)
    db = tmp_path / "live" / "citadel.sqlite3"
    run = await cli(db, "restore", str(old), cwd=tmp_path)
    assert run.said.endswith(
        f"schema version {LATEST - 1}); the bot migrates it to version {LATEST} when it starts"
    )
    store = await Store.open(db)
    try:
        assert await store.schema_version() == LATEST
        assert [e.slug for e in await store.entries.all()] == ["old-times"]
    finally:
        await store.close()


# --- the lock ----------------------------------------------------------------------------------------------


async def test_the_lock_tells_a_running_bot_and_is_shared_between_bot_processes(tmp_path: Path) -> None:
    db = tmp_path / "citadel.sqlite3"
    assert not in_use(db)
    assert not lock_path(db).exists()  # asking never creates the lock file
    async with held_by_another_process(db), held_by_another_process(db):  # two processes share it
        assert in_use(db)
        with hold(db):  # and a third, this one
            assert in_use(db)
    assert not in_use(db)  # gone with the processes that held it, however they ended


# --- rotating backups --------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@asynccontextmanager
async def schedule(
    store: Store, folder: Path, clock: ManualClock, every: timedelta = timedelta(hours=24), keep: int = 3
) -> AsyncIterator[BackupSchedule]:
    backups = BackupSchedule(store.path, folder, every, keep, clock)
    backups.start()
    try:
        yield backups
    finally:
        await backups.stop()


async def written(backups: BackupSchedule, count: int = 0, failures: int = 0) -> None:
    async with asyncio.timeout(30):
        await backups.wait(written=count, failures=failures)
        await backups.settled()


def stamp(moment: datetime) -> str:
    return backup_name(moment)


@BACKS_UP_SQLITE
async def test_rotating_backups_keep_the_newest_and_never_touch_other_files(
    seeded: Store, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.backup")
    folder = tmp_path / "backups"
    folder.mkdir()
    others = ["notes.txt", "citadel-manual.sqlite3", "citadel-20200101T000000Z.sqlite3.bak", ".hidden"]
    for name in others:
        (folder / name).write_text("keep me")
    day = timedelta(hours=24)
    async with schedule(seeded, folder, clock, keep=3) as backups:
        await written(backups, 1)  # none there yet: one at once
        assert files(folder) == sorted([*others, stamp(START)])
        for n in range(1, 6):  # five more days
            clock.advance(day)
            await written(backups, 1 + n)
            expected = [stamp(START + i * day) for i in range(max(0, n - 2), n + 1)]
            assert files(folder) == sorted([*others, *expected])
        assert backups.written == [folder / stamp(START + i * day) for i in range(6)]
        assert backups.next_at == START + 6 * day
    for name in others:
        assert (folder / name).read_text() == "keep me"
    newest = folder / stamp(START + 5 * day)
    assert integrity(newest) == ["ok"] and pragma(newest, "user_version") == LATEST
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 6
    assert infos[-1].getMessage().startswith(f"backup: wrote {newest} (")
    assert infos[-1].getMessage().endswith(f"; keeping the newest 3, removed {stamp(START + 2 * day)}")


@BACKS_UP_SQLITE
async def test_on_start_a_backup_is_taken_only_if_the_newest_is_older_than_the_interval(
    seeded: Store, tmp_path: Path, clock: ManualClock
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    recent = START - timedelta(hours=23)
    (folder / stamp(recent)).write_bytes(b"")
    async with schedule(seeded, folder, clock) as backups:
        async with asyncio.timeout(30):
            await backups.settled()
        assert backups.written == [] and backups.next_at == recent + timedelta(hours=24)
        clock.set(recent + timedelta(hours=24))
        await written(backups, 1)
        assert files(folder) == sorted([stamp(recent), stamp(recent + timedelta(hours=24))])

    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / stamp(START - timedelta(hours=25))).write_bytes(b"")
    async with schedule(seeded, stale, clock) as backups:
        await written(backups, 1)
        assert backups.written == [stale / stamp(clock())]


@BACKS_UP_SQLITE
async def test_a_failed_backup_warns_and_is_tried_again_within_the_hour(
    seeded: Store, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "backups"
    async with schedule(seeded, folder, clock) as backups:
        await written(backups, 1)  # it made the folder, and the first backup
        (folder / stamp(START)).unlink()
        folder.rmdir()  # the backup disk went away
        clock.advance(timedelta(hours=24))
        await written(backups, 1, failures=1)
        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert warning.getMessage() == (
            f"backup to BACKUP_DIR {folder} failed: the folder {folder} does not exist: create it, or give "
            "the backup another path."
        )
        assert backups.next_at == START + timedelta(hours=25)
        folder.mkdir()  # it is back
        clock.advance(timedelta(hours=1))
        await written(backups, 2, failures=1)
        assert files(folder) == [stamp(START + timedelta(hours=25))]
        assert backups.next_at == START + timedelta(hours=49)
