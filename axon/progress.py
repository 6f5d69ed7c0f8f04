"""Progress reporting: the ``(done, total)`` callback the library calls, and its helpers.

The library never draws anything; long operations (download, upload, pack, unpack) call a
:data:`Progress` callback with bytes done and bytes in all, and the CLI turns that into one bar.
:class:`Tally` sums several concurrent tasks (parallel ranges, parallel packages) into one
report; :class:`ReadProgress` reports what is read from a file (an upload's body).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["Progress", "ReadProgress", "Tally"]

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all); may be called from several threads via Tally."""


class Tally:
    """One progress report for many tasks: each task reports its own ``(done, total)``."""

    def __init__(self, sink: Progress | None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._tasks: dict[int, tuple[int, int]] = {}

    def task(self) -> Progress:
        """A callback for one more task."""
        with self._lock:
            key = len(self._tasks)
            self._tasks[key] = (0, 0)

        def report(done: int, total: int) -> None:
            with self._lock:
                self._tasks[key] = (done, total)
                done_all = sum(d for d, _ in self._tasks.values())
                total_all = sum(t for _, t in self._tasks.values())
                if self._sink is not None:
                    self._sink(done_all, total_all)

        return report


class ReadProgress:
    """A binary file whose reads are reported; ``len()`` is what is left to read."""

    def __init__(self, handle: BinaryIO, size: int, progress: Progress | None) -> None:
        self._handle, self._size, self._progress = handle, size, progress
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        """Read like the file, then report."""
        chunk = self._handle.read(size)
        self.done += len(chunk)
        if self._progress is not None:
            self._progress(self.done, self._size)
        return chunk

    def __len__(self) -> int:
        return self._size - self.done
