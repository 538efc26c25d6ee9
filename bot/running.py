"""Whether a bot is running on a store: an OS-level lock on `<DATABASE_PATH>.lock`.

Every bot process holds a shared lock on that file for its whole run (`hold`); several processes, one
per group of shards, share a store legitimately, so the lock is shared. `restore` and `import` replace
the store's file, which must never happen under a running bot: they take the lock exclusively
(`exclusive`), which fails at once while any bot holds it, and keep it until the file is in place, so
a bot starting meanwhile waits for them. `in_use` only asks.

The kernel releases the lock when the process ends, however it ends (a crash, SIGKILL), so a stale lock
file never blocks anything: the file's existence means nothing, only a lock on it does.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import ConfigError

log = logging.getLogger(__name__)


class InUse(Exception):
    """A bot process holds the store's lock."""

    def __init__(self, database_path: Path) -> None:
        super().__init__(str(database_path))
        self.database_path = database_path
        self.lock_path = lock_path(database_path)


def lock_path(database_path: Path) -> Path:
    """`<database_path>.lock`, beside the store."""
    return database_path.with_name(database_path.name + ".lock")


def _open(database_path: Path) -> int:
    path = lock_path(database_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextmanager
def hold(database_path: Path) -> Iterator[None]:
    """What a bot process keeps for its whole run: a shared lock on the store's lock file. Should a
    restore or an import be replacing the store right now, this waits until it is done (a blocking
    call: take it before the event loop has other work). ConfigError if the lock file cannot be made."""
    try:
        fd = _open(database_path)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the lock file {lock_path(database_path)} ({exc.strerror or exc}): the folder of "
            "DATABASE_PATH must exist and be writable by the bot."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s is being restored or imported; waiting for that to finish", database_path)
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def in_use(database_path: Path) -> bool:
    """Whether a bot process (or a restore or import) holds the store's lock right now."""
    try:
        fd = os.open(lock_path(database_path), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # no process ever locked it, so none holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if it was taken
    return False


@contextmanager
def exclusive(database_path: Path) -> Iterator[None]:
    """The store to oneself, for replacing its file: InUse at once if a bot holds it."""
    fd = _open(database_path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InUse(database_path) from None
        yield
    finally:
        os.close(fd)
