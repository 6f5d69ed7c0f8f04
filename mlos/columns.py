"""Text for people: rows in aligned columns and byte counts in binary units.

What the `mlos` and `axon` commands and the benchmarks print, written once::

    >>> print(aligned(["NAME", "STATE"], [("onnx", "ready")]))
    NAME  STATE
    ----  -----
    onnx  ready
    >>> human_bytes(1536)
    '1.5 KiB'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["aligned", "human_bytes"]


def aligned(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The rows under their headers, each column as wide as its widest cell, the headers
    underlined with dashes; cells are `str()`-ed and no line ends in spaces."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def human_bytes(count: int) -> str:
    """`1536` → `1.5 KiB`; below 1 KiB the exact count (`512 B`); TiB at most."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
