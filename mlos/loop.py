"""The event loop MLOS processes run on: uvloop when installed, asyncio's own otherwise.

:func:`run` also applies the allocator settings of :mod:`mlos.memory`: it is what the core and
every plugin host run in.

**Busy polling.** Waking a process that sleeps in `epoll_wait` costs tens to hundreds of
microseconds on a virtual machine (the idle vCPU halts and must be woken by the host) — more
than a whole IPC call. :class:`BusyPoll` keeps the loop polling its sockets without sleeping for
a short window after activity: a call that expects an answer soon (the core waiting for a plugin,
a server that just answered a client who is likely to call again) calls :func:`keep_polling`.
Polling stops when the window passes with nothing to do, so an idle server uses no CPU.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from mlos.memory import keep_freed_memory

__all__ = [
    "PLUGIN_BUSY_POLL_ENV",
    "BusyPoll",
    "busy_poll_seconds",
    "keep_polling",
    "loop_factory",
    "run",
]

PLUGIN_BUSY_POLL_ENV = "MLOS_PLUGIN_BUSY_POLL_US"
"""How the core tells a plugin process its busy-poll window (microseconds)."""

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for the fastest available event loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class BusyPoll:
    """Keeps `loop` from sleeping for `window` seconds after each :meth:`touch`."""

    __slots__ = ("_deadline", "_loop", "_running", "window")

    def __init__(self, loop: asyncio.AbstractEventLoop, window: float) -> None:
        self._loop = loop
        self.window = max(0.0, window)
        self._deadline = 0.0
        self._running = False

    def touch(self) -> None:
        """Poll without sleeping until `window` seconds from now."""
        self._deadline = time.perf_counter() + self.window
        if not self._running:
            self._running = True
            self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        # A ready callback makes the loop poll with a zero timeout; rescheduling this one until
        # the deadline keeps it doing so.
        if time.perf_counter() < self._deadline:
            self._loop.call_soon(self._tick)
        else:
            self._running = False


_busy_poll: BusyPoll | None = None


def busy_poll_seconds(micros: str | int) -> float:
    """A busy-poll window given in microseconds, in seconds (0 for anything not a count)."""
    try:
        return max(0, min(int(micros), 1_000_000)) / 1e6
    except (TypeError, ValueError):
        return 0.0


def keep_polling() -> None:
    """Extend the running server's busy-poll window (nothing when busy polling is off)."""
    if _busy_poll is not None:
        _busy_poll.touch()


def run(main: Coroutine[Any, Any, T], *, busy_poll: float = 0.0) -> T:
    """Run `main` to completion on a fresh loop from `loop_factory()`, with the server
    allocator settings (:func:`mlos.memory.keep_freed_memory`) and, when `busy_poll` is
    positive, a busy-poll window of that many seconds (:func:`keep_polling`)."""
    global _busy_poll
    keep_freed_memory()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if busy_poll > 0:
            _busy_poll = BusyPoll(runner.get_loop(), busy_poll)
        try:
            return runner.run(main)
        finally:
            _busy_poll = None
