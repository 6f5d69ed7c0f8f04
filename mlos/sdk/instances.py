"""The instances of one model version in a plugin process (Triton's `instance_group`).

A model registered with `instance_count` N (N >= 1) is served by N instances: N copies of the
model (the plugin's `instance_kind` is "copies", the default: each loaded with its own
`ModelSpec.instance`) or one model shared by N (kind "shared"). Each call takes a free
instance, runs on one of N threads of the model's own (the frameworks release the GIL while
they compute, so N calls use N cores), and hands the instance back; a call that finds every
instance busy waits for the first one freed, in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from mlos.errors import NotFound
from mlos.sdk.base import Array, LoadedModel, ModelSpec

__all__ = ["Instances", "load_instances"]


def load_instances(
    load: Callable[[ModelSpec], LoadedModel], specs: Sequence[ModelSpec]
) -> list[LoadedModel]:
    """Load one model per spec, all or nothing: when one load fails, the copies already
    loaded are unloaded before the error propagates."""
    loaded: list[LoadedModel] = []
    try:
        for spec in specs:
            loaded.append(load(spec))
    except BaseException:
        for model in loaded:
            with contextlib.suppress(Exception):
                model.unload()
        raise
    return loaded


class Instances:
    """N instances of one model version and the threads that run them.

    `models[i]` is instance i: N distinct copies, or one model listed N times when shared.
    """

    def __init__(self, models: Sequence[LoadedModel], name: str) -> None:
        self.models = tuple(models)
        self._name = name
        self._closed = False
        self._free: deque[int] = deque(range(len(self.models)))
        self._waiting: deque[asyncio.Future[int]] = deque()
        self._pool = ThreadPoolExecutor(
            max_workers=len(self.models), thread_name_prefix=f"instance-{name}"
        )
        self.busiest = 0
        """Most instances that were busy at once (what tests and diagnostics read)."""

    @property
    def count(self) -> int:
        """How many instances serve the model."""
        return len(self.models)

    async def infer(
        self, inputs: Mapping[str, Array], outputs: Sequence[str]
    ) -> Mapping[str, Array]:
        """Run a call on a free instance (waiting for one), on the instances' threads.

        The instance is free again when its call has ended, not when the caller stops waiting:
        a call cancelled while it computes keeps its instance until the framework returns.
        """
        index = await self._acquire()
        loop = asyncio.get_running_loop()
        try:
            running = self._pool.submit(self.models[index].infer, inputs, outputs)
        except RuntimeError:  # the threads stopped: the model was unloaded meanwhile
            self._release(index)
            raise self._gone() from None

        def ended(_: Future[Mapping[str, Array]]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed first: nobody waits
                loop.call_soon_threadsafe(self._release, index)

        running.add_done_callback(ended)
        return await asyncio.wrap_future(running)

    def _gone(self) -> NotFound:
        return NotFound(f"model {self._name!r} is not loaded")

    async def _acquire(self) -> int:
        if self._closed:
            raise self._gone()
        if self._free:
            index = self._free.popleft()
        else:
            waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                index = await waiter
            except asyncio.CancelledError:
                # Handed an instance just as the caller went away: pass it on.
                if waiter.done() and not waiter.cancelled():
                    self._release(waiter.result())
                raise
        self.busiest = max(self.busiest, self.count - len(self._free))
        return index

    def _release(self, index: int) -> None:
        if self._closed:
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(index)
                return
        self._free.append(index)

    def close(self) -> None:
        """Take no more calls: the ones waiting for an instance fail with NotFound (on the event
        loop's thread; :meth:`unload` then waits for the running ones)."""
        self._closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(self._gone())

    def unload(self) -> None:
        """Unload every distinct model (after the last call) and stop the threads (blocking;
        after :meth:`close`)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        seen: set[int] = set()
        for model in self.models:
            if id(model) not in seen:
                seen.add(id(model))
                with contextlib.suppress(Exception):
                    model.unload()
