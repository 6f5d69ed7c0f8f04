"""Printing for the CLI: tables, JSON, sizes, progress bars and error lines."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm import tqdm

__all__ = ["Output", "human_bytes"]


def human_bytes(count: int) -> str:
    """``1536`` → ``1.5 KiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


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
        cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for index, row in enumerate(cells):
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
                  file=self.out)
            if index == 0:
                print("  ".join("-" * w for w in widths), file=self.out)

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
