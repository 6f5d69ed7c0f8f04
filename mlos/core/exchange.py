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

A request with no shared memory anywhere is forwarded untouched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mlos.core.arena import Block, SegmentPool, align
from mlos.core.shm import Binding
from mlos.errors import DeadlineExceeded, InternalError, MLOSError, Unavailable
from mlos.shared_memory import set_ref_parameters
from mlos.tensors import element_size
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["exchange"]


@dataclass(slots=True)
class _Slot:
    """Room for an output inside the request's block."""

    offset: int
    size: int


async def exchange(
    client: smi_ipc.PluginClient,
    request: smi_pb2.InferRequest,
    metadata: smi_pb2.ModelMetadata,
    *,
    pool: SegmentPool | None,
    binding: Binding | None,
    threshold: int,
    timeout: float,
) -> smi_pb2.InferResponse:
    """Run `request` in the plugin behind `client`, moving tensors as the module describes."""
    sources = binding.inputs if binding is not None else {}
    large: list[tuple[smi_pb2.Tensor, memoryview | bytes]] = []
    for tensor in request.inputs:
        data = sources.get(tensor.name, tensor.contents)
        if pool is not None and len(data) >= threshold and element_size(tensor.datatype):
            large.append((tensor, data))
        elif tensor.name in sources:
            tensor.contents = bytes(data)
            tensor.ClearField("shared_memory")
    slots = _output_sizes(request, metadata, threshold) if pool is not None else {}
    if not large and not slots:
        response = await client.infer(request, timeout=timeout)
        return _deliver(response, binding, None, {})

    assert pool is not None
    need = sum(align(len(data)) for _, data in large) + sum(align(n) for n in slots.values())
    block = pool.acquire(need)
    if block is None:  # the pool is full: everything inline
        for tensor, data in large:
            if tensor.name in sources:
                tensor.contents = bytes(data)
                tensor.ClearField("shared_memory")
        response = await client.infer(request, timeout=timeout)
        return _deliver(response, binding, None, {})

    reuse = False
    try:
        offset = 0
        for tensor, data in large:
            size = len(data)
            block.view[offset : offset + size] = data
            tensor.ClearField("contents")
            tensor.shared_memory.CopyFrom(
                smi_pb2.SharedMemoryRef(region=block.name, offset=offset, byte_size=size)
            )
            offset += align(size)
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
        return _deliver(response, binding, block, reserved)
    except asyncio.CancelledError:
        reuse = False
        raise
    finally:
        pool.release(block, reuse=reuse)


def _output_sizes(
    request: smi_pb2.InferRequest, metadata: smi_pb2.ModelMetadata, threshold: int
) -> dict[str, int]:
    """Bytes expected for each wanted output of fixed-size type, where at least `threshold`.

    A leading dynamic dimension is taken to be the batch of the first input; outputs with any
    other dynamic dimension get no room reserved (they come back inline when they do not fit).
    """
    batch = 0
    first = metadata.inputs[0].shape if metadata.inputs else ()
    if request.inputs and request.inputs[0].shape and first and first[0] == -1:
        batch = int(request.inputs[0].shape[0])
    wanted = {o.name for o in request.outputs}
    sizes: dict[str, int] = {}
    for spec in metadata.outputs:
        if wanted and spec.name not in wanted:
            continue
        size = element_size(spec.datatype) if spec.datatype != "BYTES" else None
        if size is None:
            continue
        for index, dim in enumerate(spec.shape):
            if dim >= 0:
                size *= dim
            elif index == 0 and batch > 0:
                size *= batch
            else:
                size = 0
                break
        if size >= threshold:
            sizes[spec.name] = size
    return sizes


def _deliver(
    response: smi_pb2.InferResponse,
    binding: Binding | None,
    block: Block | None,
    reserved: dict[str, _Slot],
) -> smi_pb2.InferResponse:
    """Take outputs out of the block, and into the client's regions where it asked."""
    targets = binding.outputs if binding is not None else {}
    for tensor in response.outputs:
        data: memoryview | bytes = tensor.contents
        in_block = tensor.HasField("shared_memory")
        if in_block:
            data = _from_block(tensor, block, reserved.get(tensor.name))
        target = targets.get(tensor.name)
        if target is not None:
            ref = target.write(data, f"output {tensor.name!r}")
            tensor.ClearField("contents")
            tensor.shared_memory.CopyFrom(ref)
            set_ref_parameters(tensor.parameters, ref)
        elif in_block:
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
