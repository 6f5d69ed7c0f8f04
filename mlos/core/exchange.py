"""One inference request's tensors on their way to a plugin process and back.

:func:`exchange` is the one place where the core decides how tensor bytes travel:

* inputs that point into a client's shared-memory region (a :class:`~mlos.core.shm.Binding`)
  are read from it;
* inputs of at least the threshold go through a block of the plugin's segment pool
  (:mod:`mlos.core.arena`) when the plugin takes shared memory, and outputs expected to be that
  large get room reserved in the same block (the requested output carries the block's
  `shared_memory_*` parameters); everything else travels inline in the SMI message;
* outputs the client asked to receive in its own region are written there, and the response
  names them with the same parameters instead of carrying their bytes.

A request with no shared memory anywhere is forwarded untouched. Every answer is checked
against the model's declared outputs (:func:`mlos.validation.check_infer_response`) before any
of it is delivered: a plugin that answers with a wrong name, datatype, shape or size gets the
call failed with an internal error that names it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlos.core.arena import Arenas, Block, SegmentPool, align
from mlos.core.dataplane import Attachments
from mlos.core.plugins import PluginEntry
from mlos.core.shm import Binding
from mlos.errors import DeadlineExceeded, InternalError, MLOSError, Unavailable
from mlos.validation import check_contents_size, check_infer_response
from mlos.wire.shared_memory import set_ref_parameters
from mlos.wire.tensors import DATATYPES
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["Hop", "attach", "exchange"]


@dataclass(frozen=True, slots=True)
class Hop:
    """The way one request takes into a plugin process: the process's client, the plugin's
    label (named in errors), its segment pool (None when it takes no shared memory) and the
    size from which tensors travel through the pool."""

    client: smi_ipc.PluginClient
    plugin: str
    pool: SegmentPool | None
    threshold: int

    @classmethod
    def into(cls, target: PluginEntry, client: smi_ipc.PluginClient, arenas: Arenas) -> Hop:
        """The hop into `client`, a process of the plugin `target`."""
        info = target.info
        label = target.label
        pool = arenas.pool(label, info is not None and info.capabilities.shared_memory)
        return cls(client, label, pool, arenas.threshold)

    @property
    def large_from(self) -> int:
        """The size from which an input is read into the pool (0: never)."""
        return self.threshold if self.pool is not None else 0


@dataclass(slots=True)
class _Slot:
    """Room for an output inside the request's block."""

    offset: int
    size: int


async def exchange(
    hop: Hop,
    request: smi_pb2.InferRequest,
    metadata: smi_pb2.ModelMetadata,
    *,
    binding: Binding | None,
    attachments: Attachments | None = None,
    timeout: float,
    batch: int,
) -> smi_pb2.InferResponse:
    """Run `request` in the plugin process `hop` leads to, moving tensors as the module
    describes.

    `batch` is the leading dimension of the first input (1 when it has none).
    """
    client, plugin, pool, threshold = hop.client, hop.plugin, hop.pool, hop.threshold
    sources: Attachments = binding.inputs if binding is not None else _NONE
    if attachments:
        sources = {**sources, **attachments} if sources else attachments
    large: dict[str, memoryview | bytes] = {}
    slots: dict[str, int] = _NONE
    block: Block | None = None
    if pool is not None and (sources or _maybe_large(metadata, threshold, batch)):
        for tensor in request.inputs:
            nbytes = _nbytes(tensor)
            if nbytes >= threshold:
                # Read once: the request check left the size of these contents to this read.
                data = sources.get(tensor.name)
                if data is None:
                    data = tensor.contents
                check_contents_size(tensor, data, nbytes)
                large[tensor.name] = data
        slots = _output_sizes(request, metadata, threshold)
        if large or slots:
            block = pool.acquire(_room(large.values(), slots))
    if block is None:  # nothing large, no pool, or the pool is full: everything inline
        if sources:
            for tensor in request.inputs:
                if tensor.name in sources:
                    tensor.contents = bytes(sources[tensor.name])
                    tensor.ClearField("shared_memory")
        response = await client.infer(request, timeout=timeout)
        check_infer_response(response, request, metadata, batch=batch, plugin=plugin)
        if binding is not None:
            return _deliver(response, binding, None, _NONE)
        for tensor in response.outputs:
            if tensor.HasField("shared_memory"):
                _from_block(tensor, None, None)  # raises: the plugin was given no room
        return response

    assert pool is not None
    reuse = False
    try:
        offset = 0
        for tensor in request.inputs:
            data = large.get(tensor.name)
            if data is not None:
                size = len(data)
                block.view[offset : offset + size] = data
                tensor.ClearField("contents")
                tensor.shared_memory.CopyFrom(
                    smi_pb2.SharedMemoryRef(region=block.name, offset=offset, byte_size=size)
                )
                offset += align(size)
            elif tensor.name in sources:
                tensor.contents = bytes(sources[tensor.name])
                tensor.ClearField("shared_memory")
        reserved: dict[str, _Slot] = {}
        if slots and not request.outputs:
            request.outputs.extend(smi_pb2.RequestedOutput(name=o.name) for o in metadata.outputs)
        for output in request.outputs:
            size = slots.get(output.name, 0)
            if size:
                reserved[output.name] = _Slot(offset, size)
                ref = smi_pb2.SharedMemoryRef(region=block.name, offset=offset, byte_size=size)
                set_ref_parameters(output.parameters, ref)
                offset += align(size)
        try:
            response = await client.infer(request, timeout=timeout)
        except (DeadlineExceeded, Unavailable):
            raise  # the plugin may still write into the block: never hand it out again
        except MLOSError:
            reuse = True
            raise
        reuse = True
        check_infer_response(response, request, metadata, batch=batch, plugin=plugin)
        return _deliver(response, binding, block, reserved)
    except asyncio.CancelledError:
        reuse = False
        raise
    finally:
        pool.release(block, reuse=reuse)


_NONE: dict[str, Any] = {}


def attach(
    request: smi_pb2.InferRequest, attachments: Attachments, large_from: int
) -> Attachments:
    """The attachments :func:`exchange` takes from as they are; the others (and every one when
    `large_from` is 0: no shared memory) become their inputs' contents here.

    An attachment stays apart when its input is at least `large_from` bytes by its shape —
    the inputs that the request check leaves for `exchange` to measure.
    """
    kept: dict[str, bytes | memoryview] = {}
    for tensor in request.inputs:
        data = attachments.get(tensor.name)
        if data is None:
            continue
        if large_from and _nbytes(tensor) >= large_from:
            kept[tensor.name] = data
        else:
            tensor.contents = bytes(data)
    return kept


_ITEMSIZE = {name: dtype.itemsize for name, dtype in DATATYPES.items() if name != "BYTES"}


def _nbytes(tensor: smi_pb2.Tensor) -> int:
    """Bytes of a checked input of fixed-size type (0 for BYTES), without touching its data."""
    itemsize = _ITEMSIZE.get(tensor.datatype, 0)
    return itemsize * math.prod(tensor.shape) if itemsize else 0


def _room(large: Iterable[memoryview | bytes], slots: dict[str, int]) -> int:
    """Bytes of block the large inputs and the reserved outputs need."""
    return sum(align(len(data)) for data in large) + sum(align(n) for n in slots.values())


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a model's metadata says about the sizes of its tensors, for one threshold."""

    threshold: int
    #: Per output of fixed-size type whose shape is static but for a leading dynamic dimension:
    #: its name, its bytes (per batch entry when batched), whether it is batched.
    outputs: list[tuple[str, int, bool]]
    #: Whether the first input has a leading dynamic (batch) dimension.
    batch_input: bool
    #: Batches smaller than this have no tensor of at least `threshold` bytes; 0: unknown.
    small_below: int


_plans: dict[int, tuple[smi_pb2.ModelMetadata, _Plan]] = {}


def _plan(metadata: smi_pb2.ModelMetadata, threshold: int) -> _Plan:
    """The plan for `metadata`, computed once per metadata message and threshold."""
    cached = _plans.get(id(metadata))
    if cached is not None and cached[0] is metadata and cached[1].threshold == threshold:
        return cached[1]
    outputs: list[tuple[str, int, bool]] = []
    small_below = sys.maxsize
    for specs, is_output in ((metadata.inputs, False), (metadata.outputs, True)):
        for spec in specs:
            itemsize = _ITEMSIZE.get(spec.datatype, 0)
            if not itemsize:
                continue  # BYTES never travels through the pool
            shape = list(spec.shape)
            batched = bool(shape) and shape[0] == -1
            rest = shape[1:] if batched else shape
            if any(dim < 0 for dim in rest):
                small_below = 0 if not is_output else small_below
                continue
            size = itemsize * math.prod(rest)
            if is_output:
                outputs.append((spec.name, size, batched))
            if not batched and size >= threshold:
                small_below = 0
            elif batched and size:
                small_below = min(small_below, -(-threshold // size))
    first = list(metadata.inputs[0].shape) if metadata.inputs else []
    plan = _Plan(threshold, outputs, bool(first) and first[0] == -1, small_below)
    if len(_plans) >= 1024:
        _plans.clear()
    _plans[id(metadata)] = (metadata, plan)
    return plan


def _maybe_large(metadata: smi_pb2.ModelMetadata, threshold: int, batch: int) -> bool:
    """False when no tensor of a request of `batch` can reach `threshold` bytes."""
    plan = _plan(metadata, threshold)
    return not plan.small_below or (batch if plan.batch_input else 1) >= plan.small_below


def _output_sizes(
    request: smi_pb2.InferRequest, metadata: smi_pb2.ModelMetadata, threshold: int
) -> dict[str, int]:
    """Bytes expected for each wanted output of fixed-size type, where at least `threshold`.

    A leading dynamic dimension is taken to be the batch of the first input; outputs with any
    other dynamic dimension get no room reserved (they come back inline when they do not fit).
    """
    plan = _plan(metadata, threshold)
    if not plan.outputs:
        return _NONE
    batch = 0
    if plan.batch_input and request.inputs and request.inputs[0].shape:
        batch = int(request.inputs[0].shape[0])
    wanted = {o.name for o in request.outputs} if request.outputs else None
    sizes: dict[str, int] = {}
    for name, size, batched in plan.outputs:
        if batched:
            size *= batch
        if size >= threshold and (wanted is None or name in wanted):
            sizes[name] = size
    return sizes


def _deliver(
    response: smi_pb2.InferResponse,
    binding: Binding | None,
    block: Block | None,
    reserved: dict[str, _Slot],
) -> smi_pb2.InferResponse:
    """Take outputs out of the block, and into the client's regions where it asked."""
    targets = binding.outputs if binding is not None else _NONE
    for tensor in response.outputs:
        in_block = tensor.HasField("shared_memory")
        target = targets.get(tensor.name) if targets else None
        if not in_block and target is None:
            continue
        data = _from_block(tensor, block, reserved.get(tensor.name)) if in_block else None
        if target is not None:
            ref = target.write(tensor.contents if data is None else data, f"output {tensor.name!r}")
            tensor.ClearField("contents")
            tensor.shared_memory.CopyFrom(ref)
            set_ref_parameters(tensor.parameters, ref)
        elif data is not None:
            tensor.contents = bytes(data)
            tensor.ClearField("shared_memory")
    return response


def _from_block(tensor: smi_pb2.Tensor, block: Block | None, slot: _Slot | None) -> memoryview:
    """The bytes of an output the plugin wrote into the room reserved for it."""
    ref = tensor.shared_memory
    if (
        block is None
        or slot is None
        or ref.region != block.name
        or ref.offset != slot.offset
        or ref.byte_size > slot.size
    ):
        raise InternalError(
            f"the plugin returned output {tensor.name!r} in shared memory it was not given"
        )
    if not block.intact():
        raise InternalError("the plugin changed the size of a shared memory segment")
    return block.view[ref.offset : ref.offset + ref.byte_size]
