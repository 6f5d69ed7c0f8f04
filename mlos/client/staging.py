"""Large inputs through shared memory, for the clients of the local IPC socket.

A client of the IPC socket shares a machine with the server, so an input of at least
`threshold` bytes need not travel through the socket: the client writes it into a POSIX
shared-memory region it registered with the server (Triton's system shared-memory extension,
over IPC), and the request points into the region. Encoding the tensor into the message, the
socket's two copies and the server's parse give way to one copy here; the core then copies the
bytes once more, into the plugin's segment (docs/client.md has the numbers).

Each region

* is created by the client (``/dev/shm/mlos-client-<pid>-<random>``, owner-only), registered
  with `release_on_disconnect`, and its name unlinked as soon as the server has it open: nothing
  is left under ``/dev/shm`` whatever happens to either process, and the server unmaps the
  region when the connection closes;
* belongs to the connection it was registered on: after a reconnect, regions are made afresh;
* serves one call at a time (:class:`InputStaging` hands them out and takes them back).

When the server cannot register a region (it runs as another user, or sees another
``/dev/shm``), staging turns itself off and inputs travel inline, as they would without it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import mmap
import os
import secrets
import threading
from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeVar

import numpy as np
from google.protobuf.message import Message

from mlos.client.base import Array, Op
from mlos.errors import DeadlineExceeded, MLOSError, NotFound, Unavailable
from mlos.wire.method import Method
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["DEFAULT_THRESHOLD", "InputStaging", "Lease", "StagingRegion"]

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 64 * 1024
"""Inputs of at least this many bytes go through shared memory (the core's own threshold)."""
MIN_REGION = 1 << 20
MAX_REGIONS = 8
"""Regions one client keeps at most; calls beyond them send their inputs inline."""
_ALIGNMENT = 64
_SHM_DIR = "/dev/shm"
_REGISTER = smi_ipc.MLOS_REGISTER_SYSTEM_SHARED_MEMORY
_UNREGISTER = smi_ipc.MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY
T = TypeVar("T")


def _aligned(size: int) -> int:
    return -(-size // _ALIGNMENT) * _ALIGNMENT


class StagingRegion:
    """One client-owned region: its server-side name, its mapping, its connection."""

    def __init__(self, name: str, size: int, mapping: mmap.mmap, connection: object) -> None:
        self.name = name
        self.size = size
        self.mapping = mapping
        self.connection = connection

    def close(self) -> None:
        """Unmap it (the server unmaps its side when the connection closes)."""
        with contextlib.suppress(BufferError):
            self.mapping.close()  # an array over it that is still alive keeps it mapped


class Lease:
    """One call's use of a region: :meth:`place` writes inputs into it, one after another."""

    def __init__(self, region: StagingRegion, threshold: int) -> None:
        self.region = region
        self.threshold = threshold
        self._offset = 0

    def place(self, array: Array, dtype: np.dtype[Any]) -> smi_pb2.SharedMemoryRef | None:
        """Copy `array` (as `dtype`) into the region; its reference, or None to send it inline."""
        region = self.region
        nbytes = math.prod(array.shape) * dtype.itemsize
        offset = self._offset
        if offset + nbytes > region.size:
            return None
        target: np.ndarray[Any, Any] = np.ndarray(
            array.shape, dtype=dtype, buffer=region.mapping, offset=offset
        )
        np.copyto(target, array, casting="unsafe")
        self._offset = offset + _aligned(nbytes)
        return smi_pb2.SharedMemoryRef(region=region.name, offset=offset, byte_size=nbytes)


class InputStaging:
    """The shared-memory regions of one client, and the decision of when to use them."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.enabled = threshold > 0 and os.path.isdir(_SHM_DIR)
        self._free: list[StagingRegion] = []
        self._count = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._prefix = f"mlos-client-{os.getpid()}-{secrets.token_hex(4)}"

    def needed(self, inputs: Mapping[str, Array]) -> int:
        """Bytes of shared memory a call with these inputs uses (0: it sends them inline)."""
        if not self.enabled:
            return 0
        total = 0
        for value in inputs.values():
            if (
                type(value) is np.ndarray
                and value.nbytes >= self.threshold
                and value.dtype.kind not in "OSUV"
            ):
                total += _aligned(value.nbytes)
        return total

    def take(self, size: int, connection: object) -> Lease | None:
        """A free region of `size` bytes or more, registered on `connection` (None: none)."""
        with self._lock:
            for index, region in enumerate(self._free):
                if region.connection is connection and region.size >= size:
                    del self._free[index]
                    return Lease(region, self.threshold)
        return None

    def create(self, size: int) -> tuple[StagingRegion, smi_pb2.SharedMemoryRegion] | None:
        """A new region of at least `size` bytes and the request that registers it.

        None when the client has as many regions as it keeps, or the region cannot be made.
        Register it, then call :meth:`registered` or :meth:`failed`.
        """
        with self._lock:
            if self._count >= MAX_REGIONS:
                return None
            self._count += 1
        size = max(MIN_REGION, 1 << (size - 1).bit_length())
        name = f"{self._prefix}-{next(self._ids)}"
        path = os.path.join(_SHM_DIR, name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.ftruncate(fd, size)
                mapping = mmap.mmap(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(path)
            self._forget()
            self.enabled = False
            log.debug("inputs go inline: no shared memory region could be made (%s)", exc)
            return None
        region = StagingRegion(name, size, mapping, None)
        request = smi_pb2.SharedMemoryRegion(
            name=name, key=f"/{name}", offset=0, byte_size=size, release_on_disconnect=True
        )
        return region, request

    def evict(self) -> StagingRegion | None:
        """The smallest free region, given up so that a larger one can be made when the client
        has all it keeps (None: it has room, or every region is in use). Unregister it, then
        :meth:`discard` it."""
        with self._lock:
            if self._count < MAX_REGIONS or not self._free:
                return None
            region = min(self._free, key=lambda free: free.size)
            self._free.remove(region)
            return region

    def registered(self, region: StagingRegion, connection: object) -> Lease:
        """The server took the region on `connection`: unlink its name, lease it out."""
        self._unlink(region)
        region.connection = connection
        return Lease(region, self.threshold)

    def failed(self, region: StagingRegion, reason: str) -> None:
        """The server refused the region: drop it and send inputs inline from now on."""
        self.discard(region)
        self.enabled = False
        log.debug("inputs go inline: the server did not take a shared memory region (%s)", reason)

    def give_back(self, lease: Lease, connection: object) -> None:
        """The call that used the region is answered: keep it for the next call on
        `connection`, the client's connection now (a region of another is dropped)."""
        region = lease.region
        if region.connection is not connection:
            self.discard(region)
            return
        with self._lock:
            self._free.append(region)

    def acquire(
        self, size: int, connection: Callable[[], object]
    ) -> Generator[tuple[Method[Any, Any], Message], object, Lease | None]:
        """The steps to a region of `size` bytes, without I/O: the calls to make.

        A client makes each call it is given and sends its answer back into the generator, or
        throws the call's exception in; `connection()` is the client's connection as it is at
        that moment (a call may have opened a new one). The generator's value is the lease, or
        None to send the inputs inline.
        """
        lease = self.take(size, connection())
        if lease is not None:
            return lease
        made = self.create(size)
        evicted = self.evict() if made is None else None
        if evicted is not None:  # every region is too small: swap the smallest for a larger one
            with contextlib.suppress(MLOSError):
                yield _UNREGISTER, smi_pb2.SharedMemoryRegionRef(name=evicted.name)
            self.discard(evicted)
            made = self.create(size)
        if made is None:
            return None
        region, request = made
        try:
            yield _REGISTER, request
        except BaseException as exc:
            if isinstance(exc, MLOSError) and not isinstance(exc, Unavailable | DeadlineExceeded):
                self.failed(region, exc.message)  # the server cannot use it: go inline
                return None
            self.discard(region)  # the server is gone or slow: the call would fail the same
            raise
        return self.registered(region, connection())

    def staged(
        self, size: int, connection: Callable[[], object], build: Callable[[Lease | None], Op[T]]
    ) -> Generator[tuple[Method[Any, Any], Message], object, T]:
        """The steps of one call whose inputs take `size` bytes of a region, without I/O.

        The steps of :meth:`acquire`, then the call `build` makes with the lease. When no region
        is to be had, or the server did not know it (the connection was replaced under the
        call), the call `build` makes with None: the inputs inline. The generator's value is
        what the call's op reads from its answer.
        """
        lease = yield from self.acquire(size, connection)
        if lease is not None:
            op = build(lease)
            try:
                result = op.parse((yield op.request))
            except BaseException as exc:
                if not self.after_failure(lease, exc):
                    raise
            else:
                self.give_back(lease, connection())
                return result
        op = build(None)
        return op.parse((yield op.request))

    def after_failure(self, lease: Lease, exc: BaseException) -> bool:
        """The call that used `lease` failed with `exc`: drop the region (the server may still
        read it). Whether to send the call again with its inputs inline: the server did not
        know the region, because the connection was replaced under the call."""
        self.discard(lease.region)
        return isinstance(exc, NotFound) and lease.region.name in exc.message

    def discard(self, region: StagingRegion) -> None:
        """Forget a region that must not be used again (its call did not end cleanly)."""
        self._unlink(region)  # a region never registered still has its name
        region.close()
        self._forget()

    def reset(self) -> None:
        """Drop every free region (the connection they belong to is gone)."""
        with self._lock:
            free, self._free = self._free, []
            self._count -= len(free)
        for region in free:
            region.close()

    def _forget(self) -> None:
        with self._lock:
            self._count -= 1

    @staticmethod
    def _unlink(region: StagingRegion) -> None:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(_SHM_DIR, region.name))
