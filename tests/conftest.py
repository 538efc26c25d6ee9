"""Shared fixtures: a real store on this run's engine (SQLite files in tmp_path, or PostgreSQL: see\ntests/engines.py) and a private copy of the shipped canon."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.canon import load_canon
from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import DEFAULT_CANON_DIR, Settings
from bot.store import Store
from tests.engines import ENGINE, POSTGRES, new_database
from tests.fake_discord import FakeDiscord, openapi
from tests.harness import make_fake, make_settings, running_bot
from tests.web_support import AXE, CHROMIUM, NO_AXE, NO_CHROMIUM


def pytest_configure(config: pytest.Config) -> None:
    if openapi.SPEC_PATH is not None and not openapi.SPEC_PATH.is_file():
        raise pytest.UsageError(f"{openapi.SPEC_ENV}={openapi.SPEC_PATH}: no such file")


def pytest_report_header() -> str:
    return f"store engine: {ENGINE}" + ("" if POSTGRES else " (for PostgreSQL: python -m tests.postgres python -m pytest)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Without Discord's spec, one line says how to check request bodies against it; without Chromium
    or axe-core, one line each says how to run the browser tests and the accessibility checks."""
    if openapi.SPEC_PATH is None:
        terminalreporter.write_line(openapi.SPEC_OFF)
    if not CHROMIUM.is_file():
        terminalreporter.write_line(NO_CHROMIUM)
    elif not AXE.is_file():
        terminalreporter.write_line(NO_AXE)


@pytest.fixture
def canon_dir(tmp_path: Path) -> Path:
    """A copy of data/canon that a test may change."""
    return Path(shutil.copytree(DEFAULT_CANON_DIR, tmp_path / "canon"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A new, empty store on the engine of this run (tests/engines.py)."""
    opened = await Store.open(new_database(tmp_path))
    yield opened
    await opened.close()


@pytest.fixture
async def seeded(store: Store, canon_dir: Path) -> Store:
    await load_canon(store, canon_dir)
    return store


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord on loopback, with discord.py pointed at it."""
    async with make_fake() as server:
        # With the spec (DISCORD_OPENAPI_SPEC, or ../shared beside the checkout as in CI), every request
        # body is checked against it.
        assert (server.spec is not None) == (openapi.SPEC_PATH is not None)
        with server.point_discord_py_here():
            yield server
        # Whatever a test did, Discord would have accepted every request the bot sent.
        assert server.invalid_requests == []
        assert server.unknown_routes == []
        assert server.errors == []


@pytest.fixture
def settings(tmp_path: Path, canon_dir: Path, fake: FakeDiscord) -> Settings:
    return make_settings(tmp_path, canon_dir, fake)


@pytest.fixture
def clock() -> ManualClock | None:
    """The bot's clock: the real one. A module whose tests move time overrides this with a ManualClock."""
    return None


@pytest.fixture
async def bot(settings: Settings, fake: FakeDiscord, clock: ManualClock | None) -> AsyncIterator[CitadelBot]:
    async with running_bot(settings, fake, clock) as running:
        yield running
