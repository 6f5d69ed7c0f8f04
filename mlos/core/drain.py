"""Calls in flight on one plugin process, so that a process being replaced can be drained.

The engine counts every inference it routes to a plugin process from the moment the process
is chosen until the answer is back. A hot swap (:mod:`mlos.core.upgrade`) switches the route
to the new process and then waits until the old one's count reaches zero before stopping it.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["InFlight"]


class InFlight:
    """A count of calls in flight, with a wait for it to reach zero."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        """One more call in flight."""
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        """One call finished (answered, failed or cancelled)."""
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until no call is in flight, at most `timeout` seconds; whether it got there."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self.count == 0
