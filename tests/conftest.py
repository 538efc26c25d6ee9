"""Shared fixtures: real SQLite files in tmp_path and a private copy of the shipped canon."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.canon import load_canon
from bot.config import DEFAULT_CANON_DIR
from bot.store import Store


@pytest.fixture
def canon_dir(tmp_path: Path) -> Path:
    """A copy of data/canon that a test may change."""
    return Path(shutil.copytree(DEFAULT_CANON_DIR, tmp_path / "canon"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "citadel.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
async def seeded(store: Store, canon_dir: Path) -> Store:
    await load_canon(store, canon_dir)
    return store
