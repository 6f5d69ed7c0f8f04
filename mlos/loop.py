"""The event loop MLOS processes run on: uvloop when installed, asyncio's own otherwise.

:func:`run` also applies the allocator settings of :mod:`mlos.memory`: it is what the core and
every plugin host run in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from mlos.memory import keep_freed_memory

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for the fastest available event loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a fresh loop from `loop_factory()`, with the server
    allocator settings (:func:`mlos.memory.keep_freed_memory`)."""
    keep_freed_memory()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
