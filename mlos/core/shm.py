"""Client shared-memory regions: Triton's system shared-memory extension, in the core.

A client creates a POSIX shared-memory object, registers a byte range of it under a name, and
then points input and output tensors into that range instead of sending their bytes::

    regions.register("in", key="/input0", offset=0, byte_size=1 << 20)
    binding = regions.bind(request)   # resolves every reference; None when there is none
    ...                               # binding.inputs: bytes to read; binding.outputs: targets
    binding.release()                 # when the request is done

The registry maps exactly the registered range and nothing else, and every tensor reference is
checked against it: a client cannot read or write outside the range it registered. Because a
client may shrink its object after registering it (and touching a mapped page past the end of
the file would kill the server with SIGBUS), every access first checks the object's size.
Regions are unmapped on unregister — after the last request using them is done — and on close.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from dataclasses import dataclass
from typing import Any

from mlos.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from mlos.wire.shared_memory import (
    BYTE_SIZE,
    OFFSET,
    REGION,
    is_internal,
    map_segment,
    open_segment,
    pop_ref,
    segment_path,
)
from mlos_generated import smi_pb2

__all__ = ["Binding", "OutputTarget", "Region", "RegionStatus", "SystemSharedMemory"]


@dataclass(frozen=True, slots=True)
class RegionStatus:
    """A registered region as Triton's status call reports it."""

    name: str
    key: str
    offset: int
    byte_size: int

    def to_proto(self) -> smi_pb2.SharedMemoryRegion:
        """As the SMI message."""
        return smi_pb2.SharedMemoryRegion(
            name=self.name, key=self.key, offset=self.offset, byte_size=self.byte_size
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON object of Triton's HTTP status response."""
        return {
            "name": self.name,
            "key": self.key,
            "offset": self.offset,
            "byte_size": self.byte_size,
        }


class Region:
    """One registered region: bytes [offset, offset + byte_size) of a client's object, mapped."""

    def __init__(self, status: RegionStatus, fd: int, mapping: mmap.mmap, start: int) -> None:
        self.status = status
        self._fd = fd
        self._mapping = mapping
        self._view = memoryview(mapping)[start : start + status.byte_size]
        self.users = 0
        self.retired = False

    def view(self, offset: int, byte_size: int, where: str) -> memoryview:
        """The bytes a tensor reference names, after checking them against the region."""
        name = self.status.name
        if offset + byte_size > self.status.byte_size or (
            offset and offset >= self.status.byte_size
        ):
            raise InvalidArgument(
                f"{where}: offset {offset} + byte size {byte_size} is outside shared memory region "
                f"{name!r} ({self.status.byte_size} bytes)"
            )
        if os.fstat(self._fd).st_size < self.status.offset + self.status.byte_size:
            raise InvalidArgument(
                f"{where}: shared memory region {name!r} shrank after it was registered"
            )
        return self._view[offset : offset + byte_size]

    def close(self) -> None:
        """Unmap the region and close its descriptor."""
        self._view.release()
        with contextlib.suppress(BufferError):
            self._mapping.close()  # a view still alive keeps the mapping until it is dropped
        with contextlib.suppress(OSError):
            os.close(self._fd)


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """Where an output goes: a client region and the reference that names its bytes there."""

    region: Region
    ref: smi_pb2.SharedMemoryRef

    def write(self, data: memoryview | bytes, where: str) -> smi_pb2.SharedMemoryRef:
        """Copy `data` into the region; the reference to the bytes written."""
        if len(data) > self.ref.byte_size:
            raise InvalidArgument(
                f"{where} needs {len(data)} bytes; shared memory region {self.ref.region!r} "
                f"was given {self.ref.byte_size} for it"
            )
        self.region.view(self.ref.offset, len(data), where)[:] = data
        return smi_pb2.SharedMemoryRef(
            region=self.ref.region, offset=self.ref.offset, byte_size=len(data)
        )


class Binding:
    """The client regions one inference request reads and writes, held until it is done.

    `inputs` maps an input's name to the bytes it points at; `outputs` maps a requested output's
    name to where it is to be written. A region unregistered meanwhile stays mapped until
    :meth:`release`.
    """

    def __init__(self) -> None:
        self.inputs: dict[str, memoryview] = {}
        self.outputs: dict[str, OutputTarget] = {}
        self._held: list[Region] = []

    def hold(self, region: Region) -> None:
        """Keep `region` mapped until release."""
        region.users += 1
        self._held.append(region)

    def release(self) -> None:
        """Let go of every region; unmap those unregistered meanwhile."""
        self.inputs.clear()
        self.outputs.clear()
        for region in self._held:
            region.users -= 1
            if region.retired and region.users == 0:
                region.close()
        self._held.clear()


class SystemSharedMemory:
    """Registered system shared-memory regions, by name."""

    def __init__(self) -> None:
        self._regions: dict[str, Region] = {}

    def register(self, name: str, key: str, offset: int, byte_size: int) -> Region:
        """Map `byte_size` bytes of the object `key` from `offset` under `name`."""
        if not name:
            raise InvalidArgument("a shared memory region needs a name")
        if name in self._regions:
            raise AlreadyExists(f"shared memory region {name!r} is registered already")
        if offset < 0 or byte_size <= 0:
            raise InvalidArgument(
                f"shared memory region {name!r}: offset must be ≥ 0 and byte_size > 0"
            )
        path = segment_path(key)
        if is_internal(key):
            raise InvalidArgument(f"shared memory key {key!r} is reserved for MLOS itself")
        fd = open_segment(path, key)
        try:
            size = os.fstat(fd).st_size
            if offset + byte_size > size:
                raise InvalidArgument(
                    f"failed to register shared memory region {name!r}: offset {offset} + "
                    f"byte_size {byte_size} exceeds the {size} bytes of {key!r}"
                )
            try:
                # Back every page now, so a write into a full /dev/shm fails here, not with SIGBUS.
                os.posix_fallocate(fd, offset, byte_size)
            except OSError as exc:
                raise ResourceExhausted(
                    f"failed to register shared memory region {name!r}: {exc.strerror}"
                ) from None
            mapping, start = map_segment(fd, offset, byte_size)
        except BaseException:
            os.close(fd)
            raise
        status = RegionStatus(name, key, offset, byte_size)
        region = self._regions[name] = Region(status, fd, mapping, start)
        return region

    def status(self, name: str = "") -> list[RegionStatus]:
        """One region's status, or every region's when `name` is empty."""
        if not name:
            return [region.status for region in self._regions.values()]
        return [self._get(name).status]

    def unregister(self, name: str = "") -> None:
        """Forget one region (unknown names succeed), or all when `name` is empty."""
        names = [name] if name else list(self._regions)
        for each in names:
            region = self._regions.pop(each, None)
            if region is not None:
                region.retired = True
                if region.users == 0:
                    region.close()

    def release(self, region: Region) -> None:
        """Unregister `region` if it is still the one registered under its name."""
        name = region.status.name
        if self._regions.get(name) is region:
            self.unregister(name)

    def close(self) -> None:
        """Unregister every region."""
        self.unregister()

    def _get(self, name: str) -> Region:
        try:
            return self._regions[name]
        except KeyError:
            raise NotFound(f"unable to find system shared memory region {name!r}") from None

    # -- inference ----------------------------------------------------------------------------

    def bind(self, request: smi_pb2.InferRequest) -> Binding | None:
        """Resolve the request's shared-memory references; None when it has none.

        Inputs and requested outputs may name a region in their parameters (Triton's
        `shared_memory_region`, `shared_memory_offset`, `shared_memory_byte_size`) or in
        `Tensor.shared_memory`; the parameters are moved into `Tensor.shared_memory`, and
        removed from requested outputs, so that what reaches a plugin names no client region.
        """
        for tensor in request.inputs:
            if tensor.parameters or tensor.HasField("shared_memory"):
                break
        else:
            for output in request.outputs:
                if output.parameters:
                    break
            else:
                return None  # the common case, decided without building anything
        binding = Binding()
        try:
            for tensor in request.inputs:
                where = f"input {tensor.name!r}"
                ref = _take_ref(tensor.parameters, where)
                if ref is not None:
                    tensor.shared_memory.CopyFrom(ref)
                elif tensor.HasField("shared_memory"):
                    ref = tensor.shared_memory
                else:
                    continue
                if tensor.contents:
                    raise InvalidArgument(f"{where} has both data and shared memory")
                region = self._get(ref.region)
                binding.inputs[tensor.name] = region.view(ref.offset, ref.byte_size, where)
                binding.hold(region)
            for output in request.outputs:
                where = f"output {output.name!r}"
                ref = _take_ref(output.parameters, where)
                if ref is None:
                    continue
                region = self._get(ref.region)
                region.view(ref.offset, ref.byte_size, where)
                binding.outputs[output.name] = OutputTarget(region, ref)
                binding.hold(region)
        except BaseException:
            binding.release()
            raise
        return binding if binding.inputs or binding.outputs else None


def _take_ref(parameters: Any, where: str) -> smi_pb2.SharedMemoryRef | None:
    """The reference in `parameters`, taken out of them; None when they name no region."""
    if not parameters or (
        REGION not in parameters and BYTE_SIZE not in parameters and OFFSET not in parameters
    ):
        return None
    return pop_ref(parameters, where)
