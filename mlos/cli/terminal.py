"""Printing that the `mlos` and `axon` commands share: lines, aligned tables and fields, sizes.

Both print for people by default and, with `--json`, one JSON document on stdout and nothing
else there; :class:`Terminal` is the part of their `Output` that does not depend on which
command prints (`mlos.cli.output.Output`, `axon.cli.output.Output`). It imports nothing of MLOS
but `mlos.columns`, so the `axon` command pays nothing for it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from mlos.columns import aligned, human_bytes

__all__ = ["Terminal", "human_bytes"]


@dataclass
class Terminal:
    """Where one command prints, and whether for people or (with `--json`) for scripts."""

    json: bool = False
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)

    def line(self, text: str = "") -> None:
        """A line for people (nothing with `--json`)."""
        if not self.json:
            print(text, file=self.out)

    def table(
        self, headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = ""
    ) -> None:
        """An aligned table with a header row (nothing with `--json`); `empty`, when given, is
        the line printed instead of a table without rows."""
        if self.json:
            return
        rows = list(rows)
        print(empty if empty and not rows else aligned(headers, rows), file=self.out)

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """`key: value` lines with aligned values (nothing with `--json`)."""
        if self.json:
            return
        items = [(key, str(value)) for key, value in pairs]
        width = max((len(key) for key, _ in items), default=0) + 1
        for key, value in items:
            print(f"{key + ':':<{width}} {value}".rstrip(), file=self.out)
