"""A tiny wait-until-something-changed helper shared by the fake's records and the server."""

# The waits take a deadline (`timeout`) that their TimeoutError names, with what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Changes:
    """Wakes waiters whenever the owner says its state changed.

    An asyncio.Condition would need its lock held to notify, which the synchronous request handlers
    cannot do; a list of futures resolved by ``notify`` needs nothing.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        """Return the first truthy value of ``predicate()``, re-checked after every change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake Discord: timed out after {timeout:.1f}s waiting for {what}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)
