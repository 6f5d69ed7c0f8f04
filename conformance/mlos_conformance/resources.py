"""What a plugin process holds, read from outside with psutil: memory, descriptors, threads,
shared-memory segments, child processes and Unix sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

import psutil

__all__ = ["Usage", "bound_sockets", "growth", "measure", "mib", "mib_change", "settle"]

SHM_DIR = "/dev/shm"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Usage:
    """A snapshot of what one process holds."""

    rss: int
    fds: int
    threads: int
    # Entries of /dev/shm the process has open or mapped.
    shm: frozenset[str]

    def summary(self) -> str:
        """RSS, descriptors, threads and segments, in one line."""
        return (
            f"RSS {mib(self.rss)}, {self.fds} fds, {self.threads} threads, "
            f"{len(self.shm)} shm segments"
        )


def mib(size: int) -> str:
    """`size` bytes as "12.3 MiB"."""
    return f"{size / MIB:.1f} MiB"


def mib_change(change: int) -> str:
    """A change of `change` bytes as "+1.2 MiB" or "-0.4 MiB"."""
    return f"{change / MIB:+.1f} MiB"


def _shm_path(path: str) -> str | None:
    path = path.removesuffix(" (deleted)")
    return path if os.path.dirname(path) == SHM_DIR else None


def measure(process: psutil.Process) -> Usage:
    """What `process` holds now; raises `psutil.Error` when it is gone."""
    with process.oneshot():
        rss = process.memory_info().rss
        fds = process.num_fds()
        threads = process.num_threads()
        shm: set[str] = set()
        for opened in process.open_files():
            found = _shm_path(opened.path)
            if found is not None:
                shm.add(found)
        with contextlib.suppress(psutil.AccessDenied):
            for mapped in process.memory_maps(grouped=True):
                found = _shm_path(mapped.path)
                if found is not None:
                    shm.add(found)
    return Usage(rss, fds, threads, frozenset(shm))


def growth(before: Usage, after: Usage, rss_tolerance: int, threads: bool = True) -> list[str]:
    """What `after` holds beyond `before` (RSS beyond `rss_tolerance` bytes; threads only when
    `threads`); empty when none."""
    problems: list[str] = []
    grown = after.rss - before.rss
    if grown > rss_tolerance:
        problems.append(f"RSS grew {mib(grown)} (tolerance {mib(rss_tolerance)})")
    if after.fds > before.fds:
        problems.append(f"open file descriptors {before.fds} -> {after.fds}")
    if threads and after.threads > before.threads:
        problems.append(f"threads {before.threads} -> {after.threads}")
    extra = sorted(after.shm - before.shm)
    if extra:
        problems.append(f"shared-memory segments left mapped: {', '.join(extra)}")
    return problems


async def settle(
    process: psutil.Process,
    baseline: Usage,
    rss_tolerance: int,
    timeout: float,
    threads: bool = True,
) -> tuple[Usage, list[str]]:
    """Measure until `process` is back within `baseline`, or `timeout` seconds pass.

    Threads end and memory returns asynchronously after an unload, so a single measurement
    right away would blame a plugin for what it is still releasing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        usage = measure(process)
        problems = growth(baseline, usage, rss_tolerance, threads)
        if not problems or loop.time() >= deadline:
            return usage, problems
        await asyncio.sleep(0.05)


def bound_sockets(process: psutil.Process) -> list[str]:
    """Paths of the Unix sockets `process` has bound on the file system."""
    paths: list[str] = []
    with contextlib.suppress(psutil.Error):
        for connection in process.net_connections(kind="unix"):
            address = connection.laddr
            if isinstance(address, str) and address and not address.startswith("\0"):
                paths.append(address)
    return paths
