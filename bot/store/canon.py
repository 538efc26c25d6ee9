"""The store's side of the canon: what each canon file said when it was last loaded (bot/canon.py loads it)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict

from bot.facts import Entry, Fact
from bot.store.database import Database, Transaction
from bot.store.facts import canon_fact_content


class CanonSnapshots:
    """`store.canon`: the digest of every loaded canon file, and the facts each gave, so an unchanged
    file is skipped and a changed one is compared fact by fact."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def digests(self) -> dict[str, str]:
        return {
            row["name"]: row["digest"]
            for row in await self._db.fetchall("SELECT name, digest FROM canon_files")
        }

    async def snapshot(self, tx: Transaction, name: str) -> dict[tuple[str, str], dict[str, str | bool]]:
        """(field, key) -> what the file `name` said of that fact when it was last loaded."""
        rows = await tx.fetchall("SELECT field, key, fact FROM canon_facts WHERE file = ?", (name,))
        # Snapshots from before spoilers were recorded have no flag: none of those facts was one.
        return {(row["field"], row["key"]): {"spoiler": False, **json.loads(row["fact"])} for row in rows}

    async def save_snapshot(
        self, tx: Transaction, name: str, digest: str, entry: Entry, facts: Iterable[Fact]
    ) -> None:
        await tx.execute("DELETE FROM canon_facts WHERE file = ?", (name,))
        await tx.execute(
            "INSERT INTO canon_files (name, digest, entry) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, entry = excluded.entry",
            (name, digest, json.dumps(asdict(entry), ensure_ascii=False)),
        )
        await tx.executemany(
            "INSERT INTO canon_facts (file, field, key, fact) VALUES (?, ?, ?, ?)",
            [(name, f.field, f.key, json.dumps(canon_fact_content(f), ensure_ascii=False)) for f in facts],
        )
