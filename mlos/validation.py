"""Checks an inference request against a model's metadata before anything runs.

Used by the core (so a bad request is answered before it crosses into a plugin process) and by
the plugin host (so a plugin driven directly over SMI gets the same typed answers).
"""

from __future__ import annotations

from mlos.errors import InvalidArgument
from mlos.tensors import DATATYPES, byte_size, decode_bytes, element_count
from mlos_generated import smi_pb2

__all__ = ["check_infer_request"]


def check_infer_request(request: smi_pb2.InferRequest, metadata: smi_pb2.ModelMetadata) -> None:
    """Raise InvalidArgument naming the first problem: names, datatypes, shapes, sizes, outputs."""
    model = f"model {metadata.name!r}"
    expected = {spec.name: spec for spec in metadata.inputs}
    seen: set[str] = set()
    for tensor in request.inputs:
        spec = expected.get(tensor.name)
        if spec is None:
            known = ", ".join(sorted(expected)) or "none"
            raise InvalidArgument(f"{model} has no input {tensor.name!r} (inputs: {known})")
        if tensor.name in seen:
            raise InvalidArgument(f"input {tensor.name!r} is given twice")
        seen.add(tensor.name)
        _check_tensor(tensor, spec, metadata.max_batch_size)
    missing = [name for name in expected if name not in seen]
    if missing:
        raise InvalidArgument(f"{model} needs input(s) {', '.join(repr(m) for m in missing)}")
    if request.outputs:
        outputs = {spec.name for spec in metadata.outputs}
        for wanted in request.outputs:
            if wanted.name not in outputs:
                known = ", ".join(sorted(outputs))
                raise InvalidArgument(f"{model} has no output {wanted.name!r} (outputs: {known})")


def _check_tensor(
    tensor: smi_pb2.Tensor, spec: smi_pb2.TensorMetadata, max_batch_size: int
) -> None:
    name = tensor.name
    if tensor.datatype != spec.datatype:
        if tensor.datatype not in DATATYPES:
            raise InvalidArgument(f"input {name!r}: unknown datatype {tensor.datatype!r}")
        raise InvalidArgument(
            f"input {name!r} has datatype {tensor.datatype}, the model expects {spec.datatype}"
        )
    shape = list(tensor.shape)
    wanted = list(spec.shape)
    if any(dim < 0 for dim in shape):
        raise InvalidArgument(f"input {name!r}: shape {shape} has a negative dimension")
    if len(shape) != len(wanted) or any(
        want not in (-1, dim) for dim, want in zip(shape, wanted, strict=True)
    ):
        raise InvalidArgument(f"input {name!r} has shape {shape}, the model expects {wanted}")
    if max_batch_size > 0 and shape and shape[0] > max_batch_size:
        raise InvalidArgument(
            f"input {name!r}: batch of {shape[0]} exceeds the model's maximum of {max_batch_size}"
        )
    if tensor.HasField("shared_memory"):
        size = tensor.shared_memory.byte_size
        needed = byte_size(tensor.datatype, shape)
        if needed is not None and size != needed:
            raise InvalidArgument(
                f"input {name!r}: shared memory holds {size} bytes, shape {shape} needs {needed}"
            )
        return
    needed = byte_size(tensor.datatype, shape)
    if needed is None:
        decode_bytes(tensor.contents, element_count(shape))
    elif len(tensor.contents) != needed:
        raise InvalidArgument(
            f"input {name!r} has {len(tensor.contents)} bytes of data, "
            f"shape {shape} of {tensor.datatype} needs {needed}"
        )
