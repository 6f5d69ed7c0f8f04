"""Printing for the CLI: tables, JSON, sizes, progress bars and error lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm import tqdm

from mlos.columns import aligned

__all__ = ["Output"]


@dataclass
class Output:
    """Where and how a command prints."""

    json: bool = False
    progress: bool = True
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)

    def line(self, text: str = "") -> None:
        """A line of human output (suppressed with ``--json``)."""
        if not self.json:
            print(text, file=self.out)

    def note(self, text: str) -> None:
        """A line to stderr (kept out of machine-readable stdout)."""
        print(text, file=self.err)

    def data(self, payload: Any) -> None:
        """The JSON document for ``--json``."""
        if self.json:
            print(json.dumps(payload, indent=2, sort_keys=True, default=str), file=self.out)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A plain aligned table (human mode only)."""
        if self.json:
            return
        print(aligned(headers, rows), file=self.out)

    def progress_bar(self, label: str) -> ProgressBar | None:
        """A byte progress bar on stderr, when enabled and stderr is a terminal."""
        if self.json or not self.progress or not self.err.isatty():
            return None
        return ProgressBar(label, self.err)


class ProgressBar:
    """Adapts ``tqdm`` to the ``(done, total)`` callback the library calls."""

    def __init__(self, label: str, stream: IO[str]) -> None:
        self._bar: tqdm[Any] | None = None
        self._label, self._stream = label, stream

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, initial=done, unit="B", unit_scale=True,
                             unit_divisor=1024, desc=self._label, file=self._stream,
                             leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.close()
