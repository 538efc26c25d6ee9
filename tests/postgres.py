"""A throwaway PostgreSQL cluster for the tests: `python -m tests.postgres COMMAND...` starts one in a
temporary folder (as the `postgres` user when run as root: PostgreSQL refuses to run as root), runs
COMMAND with CITADEL_TEST_DATABASE_URL pointing at it, then stops it and removes the folder.

Without PostgreSQL's programs (initdb, pg_ctl) on PATH it says so in one line and exits 0: the suite's
PostgreSQL run is skipped, nothing fails. `.ci/run` runs pytest through it after the SQLite run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncpg

from tests.engines import URL_ENV
from tests.harness import free_port

NO_POSTGRES = (
    "PostgreSQL run skipped: no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin (apt-get install "
    "postgresql), then run `python -m tests.postgres python -m pytest`."
)
# A password user on 127.0.0.1, for the tests of a refused password (the socket trusts everyone).
PASSWORD_USER, PASSWORD = "citadel_pw", "s3cret-Pa55word"
# A test cluster trades durability for speed: nothing here outlives the run.
FAST = ("fsync=off", "full_page_writes=off", "synchronous_commit=off", "max_connections=400", "shared_buffers=64MB")


def bindir() -> Path | None:
    """Where PostgreSQL's server programs are: on PATH, or Debian's /usr/lib/postgresql/<version>/bin
    (which the postgresql package does not put on PATH)."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _as_postgres(command: list[str]) -> list[str]:
    where = bindir()
    assert where is not None
    command = [str(where / command[0]), *command[1:]]
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """A running cluster for the length of the block: its superuser's URL (over its unix socket)."""
    folder = Path(tempfile.mkdtemp(prefix="citadel-pg-"))
    data = folder / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        quiet = {"stdout": subprocess.DEVNULL, "check": True}
        subprocess.run(
            _as_postgres(
                ["initdb", "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                 "--auth-local=trust", "--auth-host=scram-sha-256"]
            ),
            **quiet,
        )  # fmt: skip
        port = free_port()
        options = " ".join(
            [f"-p {port}", f"-k {folder}", "-c listen_addresses=127.0.0.1", *(f"-c {o}" for o in FAST)]
        )
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]),
            **quiet,
        )
        try:
            url = f"postgresql://postgres@/postgres?host={folder}&port={port}"
            asyncio.run(_admin(url, f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'"))
            yield url
        finally:
            subprocess.run(
                _as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]), **quiet
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def main(command: Sequence[str]) -> int:
    if not command:
        print("usage: python -m tests.postgres COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if bindir() is None:
        print(NO_POSTGRES)
        return 0
    with cluster() as url:
        return subprocess.run(list(command), env={**os.environ, URL_ENV: url}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
