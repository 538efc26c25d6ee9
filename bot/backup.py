"""Consistent copies of the store while the bot runs (`python -m bot backup`), putting one back
(`python -m bot restore`), and the rotating backups the bot keeps in BACKUP_DIR (`BackupSchedule`).

A copy is made with SQLite's online backup API in one step, so it is one consistent snapshot even while
bot processes write (WAL mode: the copy reads, nobody waits). It is written to a temporary file beside
its destination, switched to a single-file journal mode, checked with `PRAGMA integrity_check`, flushed
to disk and only then renamed into place: a reader never sees half a copy, and a failed copy leaves
nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bot.clock import Timer, stop_task
from bot.running import InUse, exclusive
from bot.store.database import SQLITE_MAGIC, latest_schema

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0
# A rotating backup that failed (a full disk, a folder gone) is tried again this soon, or at its
# interval if that is shorter.
RETRY_AFTER = timedelta(hours=1)
BACKUP_NAME = re.compile(r"^citadel-(\d{8}T\d{6}Z)\.sqlite3$")
_STAMP = "%Y%m%dT%H%M%SZ"


class DataError(Exception):
    """An operator's data command refused or failed: the message is the one line they read (it names
    the setting or path and what to do), and nothing was changed."""


@dataclass(frozen=True)
class Copy:
    """A copy of a store that was written: where, how big, its schema version, how long it took."""

    path: Path
    size: int
    schema_version: int
    seconds: float


def human_size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{max(1, round(size / 1000))} kB"


def is_sqlite(path: Path) -> bool:
    """Whether the file starts with SQLite's header (an empty file is not a database)."""
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes to the database it reads (for a WAL database it may leave a
    -shm and an empty -wal beside it): for files that are not a live store, such as a backup."""
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def connect_store(path: Path) -> sqlite3.Connection:
    """A connection to the existing live store, as another bot process would have (it never creates the
    file); the last connection to close folds the write-ahead log in and removes it, as the bot does."""
    uri = path.resolve().as_uri() + "?mode=rw"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def integrity_problems(connection: sqlite3.Connection) -> list[str]:
    """What `PRAGMA integrity_check` finds wrong; [] for a sound database."""
    rows = connection.execute("PRAGMA integrity_check").fetchall()
    lines = [
        line.strip()
        for row in rows
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("*** in database")
    ]
    return [] if lines == ["ok"] else lines


def _problem_summary(problems: list[str]) -> str:
    more = len(problems) - 1
    return problems[0] + (f", and {more} more problem{'s' if more > 1 else ''}" if more > 0 else "")


def temp_beside(path: Path) -> Path:
    """A hidden temporary name in `path`'s folder (so the final rename stays on one file system); it
    never matches the rotating backups' names, so their rotation never touches one."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_database_files(path: Path) -> None:
    """`path` and what SQLite keeps beside it (journal, WAL, shared memory), if they exist."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_copy(source: sqlite3.Connection, temp: Path) -> tuple[int, list[str]]:
    """Copy `source` into the new file `temp` in one step of the backup API (one consistent snapshot),
    as a single file (journal mode DELETE), flushed to disk: its schema version and integrity problems."""
    remove_database_files(temp)
    target = sqlite3.connect(temp, isolation_level=None)
    try:
        source.backup(target)  # pages=-1: everything in one step, under one read transaction
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        version = int(target.execute("PRAGMA user_version").fetchone()[0])
        problems = integrity_problems(target)
    finally:
        target.close()
    _fsync(temp)
    return version, problems


def check_store(database_path: Path, what: str) -> None:
    """That there is a store at `database_path` to `what` (back up, export): DataError if not."""
    if not database_path.is_file():
        raise DataError(
            f"DATABASE_PATH {database_path} does not exist: there is no store to {what}; point DATABASE_PATH "
            "(in .env or the environment) at the bot's store."
        )
    if not is_sqlite(database_path):
        raise DataError(
            f"DATABASE_PATH {database_path} is not a SQLite database: point DATABASE_PATH at the bot's store."
        )


def write_backup(database_path: Path, target: Path) -> Copy:
    """A consistent copy of the store at `database_path` in `target`, even while bots write to it.
    DataError (nothing written) when it cannot be made."""
    started = time.perf_counter()
    check_store(database_path, "back up")
    if target.is_dir():
        raise DataError(
            f"{target} is a folder: give the backup a file name, such as {target / 'citadel.sqlite3'}."
        )
    if not target.parent.is_dir():
        raise DataError(
            f"the folder {target.parent} does not exist: create it, or give the backup another path."
        )
    if target.exists() and target.resolve() == database_path.resolve():
        raise DataError(f"{target} is DATABASE_PATH itself: give the backup another file name.")
    if target.exists() and not is_sqlite(target):
        raise DataError(
            f"{target} exists and is not a SQLite database, so it is not overwritten: give the backup a new file name."
        )
    temp = temp_beside(target)
    try:
        source = connect_store(database_path)
        try:
            version, problems = write_copy(source, temp)
        finally:
            source.close()
        if problems:
            raise DataError(
                f"the copy of DATABASE_PATH {database_path} fails SQLite's integrity check "
                f"({_problem_summary(problems)}): the store may be damaged; restore it from an earlier backup."
            )
        temp.replace(target)
        _fsync(target.parent, directory=True)
    except (OSError, sqlite3.Error) as exc:
        raise DataError(
            f"cannot write the backup {target} ({one_line_error(exc)}): check the free space and permissions "
            f"of {target.parent}; nothing was written."
        ) from exc
    finally:
        remove_database_files(temp)  # after a failure; the renamed copy no longer has this name
    return Copy(target, target.stat().st_size, version, time.perf_counter() - started)


def one_line_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def check_copy(path: Path) -> int:
    """That `path` is a sound citadel-bot store this code can run: its schema version, or DataError."""
    if not path.exists():
        raise DataError(f"{path} does not exist: give the path of a backup file.")
    if path.is_dir():
        raise DataError(f"{path} is a folder: give the path of a backup file.")
    if not is_sqlite(path):
        raise DataError(
            f"{path} is not a SQLite database: give a file written by `python -m bot backup` (or BACKUP_DIR)."
        )
    try:
        connection = connect_readonly(path)
        try:
            problems = integrity_problems(connection)
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            tables = {
                row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise DataError(
            f"{path} fails SQLite's integrity check ({one_line_error(exc)}): it is damaged; restore another backup."
        ) from exc
    if problems:
        raise DataError(
            f"{path} fails SQLite's integrity check ({_problem_summary(problems)}): it is damaged; restore another backup."
        )
    if version < 1 or "entries" not in tables:
        raise DataError(
            f"{path} is a SQLite database but not a citadel-bot store: give a file written by `python -m bot backup`."
        )
    latest = latest_schema()
    if version > latest:
        raise DataError(
            f"{path} has schema version {version}, newer than this code's {latest}: restore it with the newer "
            "citadel-bot that wrote it, or restore an older backup."
        )
    return version


def restore(source: Path, database_path: Path) -> Copy:
    """Replace the store at `database_path` with the backup `source`, atomically, once the backup is
    checked and while no bot runs on the store. DataError (the store untouched) when refused."""
    started = time.perf_counter()
    if database_path.exists() and source.exists() and source.resolve() == database_path.resolve():
        raise DataError(f"{source} is DATABASE_PATH itself: give the path of a backup file.")
    if database_path.is_dir():
        raise DataError(
            f"DATABASE_PATH {database_path} is a folder: give a file path such as data/citadel.sqlite3."
        )
    check_copy(source)  # before the lock: a refused source leaves not even a lock file behind
    try:
        with exclusive(database_path):
            return _replace_store(source, database_path, started)
    except InUse as exc:
        raise DataError(
            f"a bot is running on DATABASE_PATH {database_path} (it holds {exc.lock_path}): stop every bot "
            "process that uses it, then restore again; nothing was changed."
        ) from None


def _replace_store(source: Path, database_path: Path, started: float) -> Copy:
    temp = temp_beside(database_path)
    try:
        connection = connect_readonly(source)
        try:
            version, problems = write_copy(connection, temp)
        finally:
            connection.close()
        if problems:  # the source passed, so its copy should too; never put a damaged copy in place
            raise DataError(
                f"the copy of {source} fails SQLite's integrity check ({_problem_summary(problems)}); "
                "nothing was changed."
            )
        _retire_old_store(database_path)
        temp.replace(database_path)
        _fsync(database_path.parent, directory=True)
    except (OSError, sqlite3.Error) as exc:
        raise DataError(
            f"cannot write beside DATABASE_PATH {database_path} ({one_line_error(exc)}): check the free space "
            f"and permissions of {database_path.parent}; nothing was changed."
        ) from exc
    finally:
        remove_database_files(temp)
    return Copy(database_path, database_path.stat().st_size, version, time.perf_counter() - started)


def _retire_old_store(database_path: Path) -> None:
    """Before the new file takes the old one's name: fold the old store's write-ahead log into it (so
    the old file stays whole until the rename), then remove its -wal and -shm, which belong to it and
    must never be read with the new file."""
    if is_sqlite(database_path):
        with contextlib.suppress(sqlite3.Error):
            connection = sqlite3.connect(database_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{database_path}{suffix}").unlink(missing_ok=True)


# --- rotating backups ---------------------------------------------------------------------------------


def backup_name(moment: datetime) -> str:
    """`citadel-YYYYmmddTHHMMSSZ.sqlite3` for a backup taken at `moment`."""
    return f"citadel-{moment.astimezone(UTC).strftime(_STAMP)}.sqlite3"


def rotating_backups(directory: Path) -> list[tuple[datetime, Path]]:
    """The rotating backups in `directory`, oldest first: only files named like `backup_name`."""
    found = []
    for path in directory.iterdir():
        match = BACKUP_NAME.match(path.name)
        if match and path.is_file():
            found.append((datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC), path))
    return sorted(found)


class BackupSchedule:
    """The bot's own rotating backups: one at once if the newest in `directory` is older than `every`
    (or there is none), then one every `every`, keeping the newest `keep` (only files named
    `citadel-YYYYmmddTHHMMSSZ.sqlite3` are ever deleted). It sleeps on `clock`, so tests move a
    ManualClock; `wait(written=n)` returns once n backups were written, without sleeping.

    A backup that fails (a full disk, the folder gone) logs one WARNING and is tried again after
    RETRY_AFTER (or `every`, if shorter); the bot carries on."""

    def __init__(self, store_path: Path, directory: Path, every: timedelta, keep: int, clock: Timer) -> None:
        if every <= timedelta(0) or keep < 1:
            raise ValueError("a backup schedule needs a positive interval and keeps at least one backup")
        self.store_path = store_path
        self.directory = directory
        self.every = every
        self.keep = keep
        self.clock = clock
        self.written: list[Path] = []  # every backup this schedule wrote, in order
        self.failures = 0  # backups that failed
        self.next_at: datetime | None = None  # when the next one is due
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._asleep = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="backups")

    async def stop(self) -> None:
        """Stop; a backup being written is finished first (it is one SQLite step, then a rename)."""
        if self._task is not None:
            task, self._task = self._task, None
            await stop_task(task)

    async def wait(self, *, written: int = 0, failures: int = 0) -> None:
        """Until this schedule has written `written` backups and failed `failures` times, in all."""
        await self._until(lambda: len(self.written) >= written and self.failures >= failures)

    async def settled(self) -> None:
        """Until it sleeps with nothing due at the clock's current time (what tests wait on)."""
        await self._until(lambda: self._asleep and self.next_at is not None and self.next_at > self.clock())

    async def _until(self, reached: Callable[[], bool]) -> None:
        async with self._progress:
            await self._progress.wait_for(reached)

    async def _changed(self, *, asleep: bool) -> None:
        self._asleep = asleep
        async with self._progress:
            self._progress.notify_all()

    async def _run(self) -> None:
        newest = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            existing = await asyncio.to_thread(rotating_backups, self.directory)
            newest = existing[-1][0] if existing else None
        except OSError as exc:  # the backup itself will say what is wrong, as a warning
            log.warning("backup: cannot read BACKUP_DIR %s: %s", self.directory, exc)
        now = self.clock()
        # (A backup named in the future, after the clock was wrong, does not put the next one off.)
        self.next_at = min(newest + self.every, now + self.every) if newest is not None else now
        while True:
            await self._changed(asleep=True)
            await self.clock.sleep_until(self.next_at, self._wake)
            self._asleep = False
            now = self.clock()
            written = await _finish_in_thread(functools.partial(self._take, now))
            if written is None:
                self.failures += 1
            else:
                self.written.append(written)
            self.next_at = now + (self.every if written else min(self.every, RETRY_AFTER))

    def _take(self, now: datetime) -> Path | None:
        """One backup and the rotation after it (in a worker thread): the backup, None if it failed."""
        target = self.directory / backup_name(now)
        try:
            copy = write_backup(self.store_path, target)
        except DataError as exc:
            log.warning("backup to BACKUP_DIR %s failed: %s", self.directory, exc)
            return None
        removed = []
        try:
            for _, old in rotating_backups(self.directory)[: -self.keep]:
                old.unlink(missing_ok=True)
                removed.append(old.name)
        except OSError as exc:
            log.warning("backup: cannot remove old backups in BACKUP_DIR %s: %s", self.directory, exc)
        log.info(
            "backup: wrote %s (%s, schema version %d) in %.2f s; keeping the newest %d%s",
            target,
            human_size(copy.size),
            copy.schema_version,
            copy.seconds,
            self.keep,
            f", removed {', '.join(removed)}" if removed else "",
        )
        return target


T = TypeVar("T")


async def _finish_in_thread(work: Callable[[], T]) -> T:
    """Run `work` in a thread and return its result; cancelled meanwhile, it still waits for `work` to
    end (a backup is never left half-renamed by a stopping bot), then lets the cancellation through."""
    running = asyncio.ensure_future(asyncio.to_thread(work))
    cancelled = False
    while not running.done():
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return running.result()
