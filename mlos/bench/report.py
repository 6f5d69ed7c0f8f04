"""Latency samples → percentiles, a printed table and a JSON document."""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from mlos.columns import aligned

__all__ = ["Result", "machine", "median_of_rounds", "summarize", "table", "write_json"]


@dataclass(frozen=True, slots=True)
class Result:
    """One benchmarked operation on one path (protocol or raw)."""

    operation: str
    path: str
    concurrency: int
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rps: float


def summarize(
    operation: str, path: str, samples_s: list[float], wall_s: float, concurrency: int = 1
) -> Result:
    """Percentiles of latency samples (seconds) and requests per second over `wall_s`."""
    ordered = sorted(samples_s)

    def pick(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return Result(
        operation=operation,
        path=path,
        concurrency=concurrency,
        requests=len(ordered),
        p50_ms=round(pick(0.50), 4),
        p90_ms=round(pick(0.90), 4),
        p99_ms=round(pick(0.99), 4),
        mean_ms=round(statistics.fmean(ordered) * 1000, 4),
        throughput_rps=round(len(ordered) / wall_s, 1) if wall_s > 0 else 0.0,
    )


def median_of_rounds(rounds: list[list[Result]]) -> list[Result]:
    """For each measurement (operation, path, concurrency), the round with the median p50."""
    cells: dict[tuple[str, str, int], list[Result]] = {}
    for results in rounds:
        for result in results:
            cells.setdefault((result.operation, result.path, result.concurrency), []).append(result)
    chosen = []
    for results in cells.values():
        ordered = sorted(results, key=lambda r: r.p50_ms)
        chosen.append(ordered[(len(ordered) - 1) // 2])
    return chosen


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def table(results: list[Result]) -> str:
    """A fixed-width table of results."""
    header = ("operation", "path", "conc", "n", "p50 ms", "p90 ms", "p99 ms", "req/s")
    rows = [
        (
            r.operation,
            r.path,
            str(r.concurrency),
            str(r.requests),
            f"{r.p50_ms:.3f}",
            f"{r.p90_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.throughput_rps:.0f}",
        )
        for r in results
    ]
    return aligned(header, rows)


def write_json(path: Path, results: list[Result], extra: dict[str, Any]) -> None:
    """Write results with the machine description."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine(), **extra, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n")
