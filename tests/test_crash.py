"""A process killed with SIGKILL in the middle of edits leaves each fact with its old or its new value, never half."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.canon import load_canon
from bot.store import Store

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


def state(path: Path) -> tuple[str, str, int, str, int]:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        value, revision_id = db.execute(
            "SELECT value, revision_id FROM facts WHERE field = 'schedule' "
            "AND entry_id = (SELECT id FROM entries WHERE slug = 'diana')"
        ).fetchone()
        last_id, last_new = db.execute(
            "SELECT id, json_extract(new, '$.value') FROM revisions WHERE field = 'schedule' "
            "AND entry_id = (SELECT id FROM entries WHERE slug = 'diana') ORDER BY id DESC LIMIT 1"
        ).fetchone()
        total = db.execute("SELECT count(*) FROM revisions WHERE field = 'schedule'").fetchone()[0]
        return value, last_new, revision_id, str(last_id), total
    finally:
        db.close()


def edit_until_killed(path: Path, round_: int, rng: random.Random) -> int:
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
    path = tmp_path / "crash.sqlite3"
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
