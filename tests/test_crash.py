"""A process killed with SIGKILL in the middle of edits leaves each fact with its old or its new value, never half."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from bot.canon import load_canon
from bot.store import Store
from tests.engines import new_database
from tests.store_probe import select

ROOT = Path(__file__).resolve().parents[1]

# Edits one fact as fast as it can, printing the number of each edit once it is committed.
EDITOR = """
import asyncio, sys
from bot.facts import Fact
from bot.store import Store

async def main(path, round_):
    store = await Store.open(path)
    n = 0
    while True:
        n += 1
        fact = Fact("schedule", f"round {round_} edit {n}", "https://example.org/crash", "2026-11-24")
        await store.facts.edit("diana", "schedule", "", fact, "crash-test")
        print(n, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def state(where: Path | str) -> tuple[str, str, int, str, int]:
    if isinstance(where, Path):
        with closing(sqlite3.connect(where)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [(value, revision_id)] = select(
        where,
        "SELECT value, revision_id FROM facts WHERE field = 'schedule' "
        "AND entry_id = (SELECT id FROM entries WHERE slug = 'diana')",
    )
    [(last_id, last_new)] = select(
        where,
        "SELECT id, new FROM revisions WHERE field = 'schedule' "
        "AND entry_id = (SELECT id FROM entries WHERE slug = 'diana') ORDER BY id DESC LIMIT 1",
    )
    [(total,)] = select(where, "SELECT count(*) FROM revisions WHERE field = 'schedule'")
    return str(value), json.loads(str(last_new))["value"], int(revision_id), str(last_id), int(total)


def edit_until_killed(path: Path | str, round_: int, rng: random.Random) -> int:
    """Run the editor, kill it with SIGKILL somewhere inside an edit; the number of the last edit it printed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-c", EDITOR, str(path), str(round_)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    wanted, printed = rng.randint(5, 60), 0
    while printed < wanted:
        line = child.stdout.readline()
        assert line, "the editing process died on its own"
        printed = int(line)
    time.sleep(
        rng.random() / 500
    )  # simulates, not synchronises: the kill lands somewhere inside a later edit
    child.send_signal(signal.SIGKILL)
    child.wait()
    return max([printed, *(int(line) for line in child.stdout.read().split())])


async def test_sigkill_during_edits_leaves_old_or_new_never_half(tmp_path: Path, canon_dir: Path) -> None:
    path = new_database(tmp_path, "crash")
    store = await Store.open(path)
    await load_canon(store, canon_dir)
    await store.close()
    rng = random.Random(20261124)

    for round_ in range(1, 6):
        _, _, _, _, revisions_before = state(path)
        printed = edit_until_killed(path, round_, rng)

        value, last_new, revision_id, last_id, revisions = state(path)
        committed = revisions - revisions_before
        # The kill may land after a commit and before its print: one more than printed, never fewer.
        assert committed in (printed, printed + 1), (committed, printed)
        assert value == last_new == f"round {round_} edit {committed}"
        assert str(revision_id) == last_id
