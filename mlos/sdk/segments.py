"""The plugin side of large tensors in shared memory: the core's segments, mapped and cached.

The core puts large inputs into segments it owns and names them in `Tensor.shared_memory`; it
reserves room for large outputs through the `shared_memory_*` parameters of a requested
output (see :mod:`mlos.core.exchange`). The plugin host maps each segment once, builds numpy
arrays directly over the mapped bytes (no copy), and writes outputs into the room reserved for
them. Only segments named like the core's own (:data:`mlos.wire.shared_memory.INTERNAL_PREFIX`) are
ever opened; a direct channel's client regions are mapped by the channel and attached here
under their names (:mod:`mlos.sdk.regions`).
"""

from __future__ import annotations

import mmap
import os
from collections import OrderedDict
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument
from mlos.wire.shared_memory import SHM_DIR, is_internal, pop_ref
from mlos.wire.tensors import decode_bytes, element_count, numpy_dtype
from mlos_generated import smi_pb2

__all__ = ["SegmentMap"]

Array = npt.NDArray[Any]

MAX_MAPPINGS = 64


class SegmentMap:
    """The core's segments this process has mapped, least recently used dropped first."""

    def __init__(self, capacity: int = MAX_MAPPINGS) -> None:
        self.capacity = capacity
        self._mappings: OrderedDict[str, mmap.mmap] = OrderedDict()
        self._attached: dict[str, mmap.mmap] = {}

    def attach(self, name: str, mapping: mmap.mmap) -> None:
        """Resolve `name` to `mapping` (a region mapped elsewhere) until it is detached."""
        self._attached[name] = mapping

    def detach(self, name: str) -> None:
        """Forget an attached region (arrays over it keep it mapped until they go)."""
        self._attached.pop(name, None)

    def mapping(self, name: str) -> mmap.mmap:
        """The whole segment `name`, mapped read-write."""
        attached = self._attached.get(name)
        if attached is not None:
            return attached
        found = self._mappings.get(name)
        if found is not None:
            self._mappings.move_to_end(name)
            return found
        if "/" in name or not is_internal(name):
            raise InvalidArgument(f"shared memory segment {name!r} is not one of the core's")
        try:
            fd = os.open(SHM_DIR / name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise InvalidArgument(
                f"cannot open shared memory segment {name!r}: {exc.strerror}"
            ) from None
        try:
            found = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        self._mappings[name] = found
        while len(self._mappings) > self.capacity:
            # Dropped, not closed: arrays over it keep the mapping alive until they go.
            self._mappings.popitem(last=False)
        return found

    def _bytes(self, ref: smi_pb2.SharedMemoryRef, what: str) -> tuple[mmap.mmap, int, int]:
        mapping = self.mapping(ref.region)
        if ref.offset + ref.byte_size > len(mapping):
            raise InvalidArgument(f"{what}: shared memory reference runs past its segment")
        return mapping, ref.offset, ref.byte_size

    def array(self, tensor: smi_pb2.Tensor) -> Array:
        """The input `tensor` points at, as an array over the segment (not a copy)."""
        mapping, offset, size = self._bytes(tensor.shared_memory, f"input {tensor.name!r}")
        shape = tuple(tensor.shape)
        if tensor.datatype == "BYTES":
            elements = decode_bytes(
                memoryview(mapping)[offset : offset + size], element_count(shape)
            )
            array = np.empty(len(elements), dtype=object)
            array[:] = elements
            return array.reshape(shape)
        dtype = numpy_dtype(tensor.datatype)
        count = element_count(shape)
        if count * dtype.itemsize != size:
            raise InvalidArgument(
                f"input {tensor.name!r}: {size} bytes of shared memory for shape {list(shape)}"
            )
        return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape)

    def place(
        self, output: smi_pb2.RequestedOutput, array: Array, datatype: str
    ) -> smi_pb2.Tensor | None:
        """Write `array` into the room reserved for `output`; None when it has none or too little.

        The reserved room arrives as `shared_memory_*` parameters, which are taken out of
        `output` here.
        """
        ref = pop_ref(output.parameters, f"output {output.name!r}")
        array = np.asarray(array)
        if ref is None or datatype == "BYTES" or array.dtype.kind in "OSU":
            return None
        dtype = numpy_dtype(datatype)
        size = dtype.itemsize * array.size
        if size > ref.byte_size:
            return None
        mapping, offset, _ = self._bytes(ref, f"output {output.name!r}")
        target = np.frombuffer(mapping, dtype=dtype, count=array.size, offset=offset)
        np.copyto(target.reshape(array.shape), array, casting="unsafe")
        return smi_pb2.Tensor(
            name=output.name,
            datatype=datatype,
            shape=array.shape,
            shared_memory=smi_pb2.SharedMemoryRef(region=ref.region, offset=offset, byte_size=size),
        )

    def close(self) -> None:
        """Forget every mapping."""
        self._mappings.clear()
        self._attached.clear()
