"""Timing one operation: `requests` calls spread over `concurrency` clients, each on its own
connection and thread, after an untimed warm-up; then whatever the calls created is removed,
untimed (`measure`). The focused benchmarks time one call in a loop (`call_times`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from mlos.bench.report import Result, summarize

__all__ = ["best_per_call_us", "call_times", "measure"]

S = TypeVar("S")


def _timed(session: S, call: Callable[[S, int], None], indices: Sequence[int]) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter
    for index in indices:
        started = clock()
        call(session, index)
        samples.append(clock() - started)
    return samples


def call_times(call: Callable[[], object], count: int, *, warmup: int = 0) -> list[float]:
    """Seconds each of `count` calls of `call` took, in order, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        call()
        samples.append(clock() - started)
    return samples


async def best_per_call_us(
    run: Callable[[], Awaitable[object]],
    calls: int,
    rounds: int,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Microseconds per call of `run`, from the fastest of `rounds` rounds of `calls` calls.

    `clock` is wall time by default; `time.process_time` counts the CPU the process spent.
    """
    best = float("inf")
    for _ in range(rounds):
        started = clock()
        for _ in range(calls):
            await run()
        best = min(best, (clock() - started) / calls * 1e6)
    return best


def measure(
    operation: str,
    path: str,
    open_session: Callable[[], S],
    call: Callable[[S, int], None],
    requests: int,
    *,
    concurrency: int = 1,
    warmup: int = 20,
    cleanup: Callable[[S, int], None] | None = None,
    close: Callable[[S], None] = lambda session: None,
) -> Result:
    """Latency percentiles and throughput of `call(session, i)` for `requests` distinct `i`.

    Warm-up calls get negative indices. `cleanup(session, i)` undoes call `i` (for example,
    removes what a registration created); it runs after the timed phase, so the throughput
    counts only the calls themselves.
    """
    sessions = [open_session() for _ in range(concurrency)]
    try:
        warm = [-1 - i for i in range(warmup)]
        _timed(sessions[0], call, warm)
        per_client = max(1, requests // concurrency)
        chunks = [range(c * per_client, (c + 1) * per_client) for c in range(concurrency)]
        if concurrency == 1:
            started = time.perf_counter()
            samples = [_timed(sessions[0], call, chunks[0])]
            wall = time.perf_counter() - started
        else:
            gate = threading.Barrier(concurrency + 1)

            def client(index: int) -> list[float]:
                gate.wait()
                return _timed(sessions[index], call, chunks[index])

            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                futures = [pool.submit(client, index) for index in range(concurrency)]
                gate.wait()
                started = time.perf_counter()
                samples = [future.result() for future in futures]
                wall = time.perf_counter() - started
        if cleanup is not None:
            for index in [*warm, *(i for chunk in chunks for i in chunk)]:
                cleanup(sessions[0], index)
    finally:
        for session in sessions:
            close(session)
    flat = [sample for chunk in samples for sample in chunk]
    return summarize(operation, path, flat, wall, concurrency)
