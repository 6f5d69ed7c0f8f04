"""The core's own shared-memory segments, for large tensors between the core and plugins.

Each plugin process that declares `PluginCapabilities.shared_memory` gets a pool of segments
the core creates and owns. A request with large tensors takes one block from the pool, the core
copies the inputs into it and reserves room for the outputs, and the SMI request carries
`Tensor.shared_memory` references instead of bytes; the plugin host maps the block once (and
caches the mapping) and reads and writes it in place. Blocks go back to the pool after the
request and are reused, so a steady stream of requests creates no new segments.

Ownership is simple: the core creates every segment (named ``mlos-smi-<core pid>-<n>``) and
unlinks it when the plugin process stops or dies, or when the engine stops; a core that was
killed leaves segments behind that the next core to start removes (:func:`sweep`). Segments are
created owner-only; for a plugin that runs as another user they are handed to that user.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import mmap
import os
import secrets

from mlos.processes import pid_alive
from mlos.wire.shared_memory import INTERNAL_PREFIX, SHM_DIR

__all__ = ["Arenas", "Block", "SegmentPool", "sweep"]

log = logging.getLogger(__name__)

THRESHOLD = 64 * 1024
"""Tensors of at least this many bytes travel through shared memory."""
POOL_LIMIT = 256 * 1024 * 1024
"""Bytes of segments one plugin process may have at a time; beyond it tensors go inline."""
MIN_BLOCK = 256 * 1024
ALIGNMENT = 64

_sequence = itertools.count()
_token = secrets.token_hex(4)


def align(size: int) -> int:
    """`size` rounded up to the alignment of tensors inside a block."""
    return (size + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


class Block:
    """One shared-memory segment the core created, mapped read-write."""

    def __init__(self, size: int, owner: int = -1) -> None:
        self.name = f"{INTERNAL_PREFIX}{os.getpid()}-{_token}-{next(_sequence)}"
        self.size = size
        path = SHM_DIR / self.name
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o600)
        try:
            if owner >= 0:
                os.fchown(self._fd, owner, -1)  # a plugin running as another user maps it
            os.posix_fallocate(self._fd, 0, size)  # a full /dev/shm fails here, not with SIGBUS
            self.mapping = mmap.mmap(self._fd, size)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(self._fd)
            raise
        self.view = memoryview(self.mapping)
        self.linked = True

    def intact(self) -> bool:
        """Whether the segment still has its size (a plugin that shrank it would make reading
        it kill the core with SIGBUS)."""
        return os.fstat(self._fd).st_size == self.size

    def unlink(self) -> None:
        """Remove the segment's name; the memory lives on while a process maps it."""
        if self.linked:
            self.linked = False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(SHM_DIR / self.name)

    def destroy(self) -> None:
        """Unlink and unmap."""
        self.unlink()
        self.view.release()
        with contextlib.suppress(BufferError):
            self.mapping.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


class SegmentPool:
    """Blocks for one plugin process: power-of-two sizes, reused, at most `limit` bytes; owned
    by the user `owner` (-1: the server's)."""

    def __init__(self, limit: int = POOL_LIMIT, owner: int = -1) -> None:
        self.limit = limit
        self.owner = owner
        self.total = 0
        self.closed = False
        self._free: dict[int, list[Block]] = {}
        self._busy: dict[str, Block] = {}

    def acquire(self, nbytes: int) -> Block | None:
        """A block of at least `nbytes`, or None when the pool is full (send inline then)."""
        if self.closed:
            return None
        size = max(MIN_BLOCK, 1 << (nbytes - 1).bit_length())
        free = self._free.get(size)
        while free and not free[-1].intact():
            self.total -= size
            free.pop().destroy()
        if free:
            block = free.pop()
        else:
            if self.total + size > self.limit:
                self._evict(self.total + size - self.limit)
            if self.total + size > self.limit:
                return None
            try:
                block = Block(size, self.owner)
            except OSError as exc:
                log.warning("cannot create a shared memory segment of %d bytes: %s", size, exc)
                return None
            self.total += size
        self._busy[block.name] = block
        return block

    def release(self, block: Block, reuse: bool = True) -> None:
        """Give a block back; with `reuse` false (the plugin may still touch it) retire it."""
        self._busy.pop(block.name, None)
        if reuse and not self.closed:
            self._free.setdefault(block.size, []).append(block)
            return
        self.total -= block.size
        block.destroy()

    def _evict(self, needed: int) -> None:
        """Destroy free blocks, largest first, until `needed` bytes are released."""
        for size in sorted(self._free, reverse=True):
            blocks = self._free[size]
            while blocks and needed > 0:
                blocks.pop().destroy()
                self.total -= size
                needed -= size

    def close(self) -> None:
        """Unlink every segment now; unmap free ones now and busy ones when released."""
        self.closed = True
        for blocks in self._free.values():
            for block in blocks:
                block.destroy()
        self._free.clear()
        for block in self._busy.values():
            block.unlink()

    def names(self) -> list[str]:
        """Names of the segments that exist now (for tests and diagnostics)."""
        blocks = [b for free in self._free.values() for b in free] + list(self._busy.values())
        return sorted(b.name for b in blocks if b.linked)


class Arenas:
    """A segment pool per plugin process that takes shared memory."""

    def __init__(self, threshold: int = THRESHOLD, limit: int = POOL_LIMIT) -> None:
        self.threshold = threshold
        self.limit = limit
        self._pools: dict[str, SegmentPool] = {}
        self._owners: dict[str, int] = {}
        self.enabled = SHM_DIR.is_dir() and os.access(SHM_DIR, os.W_OK)

    def set_owner(self, plugin: str, uid: int) -> None:
        """The user a plugin's process runs as (-1: the server's), for its next segments."""
        if self._owners.get(plugin, -1) != uid:
            self.drop(plugin)
        if uid >= 0:
            self._owners[plugin] = uid
        else:
            self._owners.pop(plugin, None)

    def pool(self, plugin: str, supported: bool) -> SegmentPool | None:
        """The pool of a running plugin (created on first use); None when it cannot take one."""
        if not supported or not self.enabled:
            return None
        pool = self._pools.get(plugin)
        if pool is None:
            pool = self._pools[plugin] = SegmentPool(self.limit, self._owners.get(plugin, -1))
        return pool

    def drop(self, plugin: str) -> None:
        """The plugin process stopped or died: remove its segments."""
        pool = self._pools.pop(plugin, None)
        if pool is not None:
            pool.close()

    def close(self) -> None:
        """Remove every segment."""
        for plugin in list(self._pools):
            self.drop(plugin)


def sweep() -> list[str]:
    """Unlink segments left by MLOS cores that no longer run; return their names."""
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for path in SHM_DIR.glob(f"{INTERNAL_PREFIX}*"):
            pid = path.name.removeprefix(INTERNAL_PREFIX).split("-", 1)[0]
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return removed

