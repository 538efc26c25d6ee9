"""The one place that decides what "now" is. Code takes a clock, so tests can move time.

A clock is called for the current time, and can sleep until a moment (or until woken early): the
announcement scheduler sleeps on it, so a test that moves a ManualClock wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real time: an aware datetime in UTC."""
    return datetime.now(UTC)


class Timer(Protocol):
    """A clock the scheduler can also sleep on."""

    def __call__(self) -> datetime: ...

    async def sleep_until(self, when: datetime | None, wake: asyncio.Event) -> None: ...


async def stop_task(task: asyncio.Task[None], *, grace: float = 5.0) -> None:
    """Cancel `task` and return once it has ended; cancelled again should anything it awaits swallow the
    first cancellation (so stopping a scheduler can never hang the bot's shutdown)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=grace)
    if not task.cancelled():
        task.result()  # an error it ended with is raised here, not lost


class SystemClock:
    """The real clock."""

    def __call__(self) -> datetime:
        return utc_now()

    async def sleep_until(self, when: datetime | None, wake: asyncio.Event) -> None:
        """Return at `when` (never, if None) or as soon as `wake` is set, whichever comes first."""
        delay = None if when is None else max(0.0, (when - self()).total_seconds())
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives
        # as its timer fires, and then the task it was meant to stop sleeps on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wake.wait()


class ManualClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def __call__(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment
        self._moved.set()

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    async def sleep_until(self, when: datetime | None, wake: asyncio.Event) -> None:
        while not wake.is_set() and (when is None or self._now < when):
            self._moved.clear()
            waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._moved.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
