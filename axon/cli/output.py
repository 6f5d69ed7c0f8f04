"""Printing for the CLI: tables, JSON, sizes, progress bars and error lines."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import IO, Any

from tqdm import tqdm

from mlos.cli.terminal import Terminal, human_bytes

__all__ = ["Output", "human_bytes"]


@dataclass
class Output(Terminal):
    """Where and how an `axon` command prints (lines and tables: :class:`Terminal`)."""

    progress: bool = True

    def note(self, text: str) -> None:
        """A line to stderr (kept out of machine-readable stdout)."""
        print(text, file=self.err)

    def data(self, payload: Any) -> None:
        """The JSON document for ``--json``."""
        if self.json:
            print(json.dumps(payload, indent=2, sort_keys=True, default=str), file=self.out)

    def progress_bar(self, label: str) -> ProgressBar | None:
        """A byte progress bar on stderr, when enabled and stderr is a terminal."""
        if self.json or not self.progress or not self.err.isatty():
            return None
        return ProgressBar(label, self.err)


class ProgressBar:
    """Adapts ``tqdm`` to the ``(done, total)`` callback the library calls.

    Thread-safe (parallel downloads report from several threads); the total may grow as
    more work becomes known (the unpacking after a download).
    """

    def __init__(self, label: str, stream: IO[str]) -> None:
        self._bar: tqdm[Any] | None = None
        self._label, self._stream = label, stream
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._bar is None:
                self._bar = tqdm(total=total, initial=done, unit="B", unit_scale=True,
                                 unit_divisor=1024, desc=self._label, file=self._stream,
                                 leave=False)
            if total != self._bar.total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.close()
