"""Allocator settings for MLOS server processes (the core and every plugin host).

Large tensors (hundreds of kilobytes and up) are allocated and freed on every request: the
received frame, the decoded message, the bytes handed to a framework. With glibc's defaults a
freed block at the top of the heap is returned to the kernel as soon as more than 128 KiB are
free there, so the next request maps those pages again and takes a page fault for each 4 KiB of
its tensor — on a virtual machine that alone costs about half a millisecond per megabyte.
:func:`keep_freed_memory` raises the thresholds so that a process keeps up to
:data:`TRIM_THRESHOLD` of freed heap for reuse, and allocations up to :data:`MMAP_THRESHOLD`
come from the heap instead of a fresh mapping each.

A user who sets glibc's own `MALLOC_TRIM_THRESHOLD_` or `MALLOC_MMAP_THRESHOLD_` keeps them.
Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

TRIM_THRESHOLD = 64 * 1024 * 1024
"""Freed heap a process keeps before returning memory to the kernel."""
MMAP_THRESHOLD = 32 * 1024 * 1024
"""Allocations below this come from the heap (glibc's largest allowed value)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Apply the thresholds to this process; whether they were applied."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _ENVIRONMENT):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
