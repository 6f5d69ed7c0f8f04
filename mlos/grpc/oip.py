"""Open Inference Protocol messages ↔ SMI messages: the one converter of the gRPC transport.

`inference.ModelInferRequest` carries tensor data in `raw_input_contents` (one entry per input,
in the layout of SMI's `Tensor.contents`) or as typed `contents`; the core takes
`smi.v1.InferRequest`. Raw contents pass through as they are; typed contents are packed into
raw little-endian bytes once, here. Responses always answer in `raw_output_contents`, one entry
per output.

An input whose parameters name a `shared_memory_region` carries no data of its own (Triton's
shared-memory extension): it takes no entry of `raw_input_contents`, and its parameters travel to
the core unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from mlos.errors import InvalidArgument
from mlos.wire.tensors import ATTACH_FROM, DATATYPES, encode_bytes
from mlos_generated import inference_pb2, smi_pb2

__all__ = ["SHARED_MEMORY_REGION", "infer_request", "infer_response", "typed_contents"]

SHARED_MEMORY_REGION = "shared_memory_region"
"""The input parameter that places a tensor's data in a registered shared-memory region."""

# Datatype → the InferTensorContents field that carries its elements, and that field's dtype.
_TYPED_FIELDS: dict[str, tuple[str, np.dtype[Any]]] = {
    "BOOL": ("bool_contents", np.dtype(np.bool_)),
    "INT8": ("int_contents", np.dtype("<i4")),
    "INT16": ("int_contents", np.dtype("<i4")),
    "INT32": ("int_contents", np.dtype("<i4")),
    "INT64": ("int64_contents", np.dtype("<i8")),
    "UINT8": ("uint_contents", np.dtype("<u4")),
    "UINT16": ("uint_contents", np.dtype("<u4")),
    "UINT32": ("uint_contents", np.dtype("<u4")),
    "UINT64": ("uint64_contents", np.dtype("<u8")),
    "FP32": ("fp32_contents", np.dtype("<f4")),
    "FP64": ("fp64_contents", np.dtype("<f8")),
    "BYTES": ("bytes_contents", np.dtype(object)),
}
_CONTENT_FIELDS = tuple(f.name for f in inference_pb2.InferTensorContents.DESCRIPTOR.fields)


def _copy_parameters(
    source: Mapping[str, Any], target: MutableMapping[str, Any], oneof: str
) -> None:
    """Copy a parameter map between the two protocols (same member names, other oneof name)."""
    for key, value in source.items():
        choice = value.WhichOneof(oneof)
        if choice is not None:
            setattr(target[key], choice, getattr(value, choice))


def typed_contents(name: str, datatype: str, contents: inference_pb2.InferTensorContents) -> bytes:
    """Raw contents for the typed `contents` of an input of `datatype`."""
    typed = _TYPED_FIELDS.get(datatype)
    if typed is None:
        if datatype in DATATYPES:
            raise InvalidArgument(
                f"input {name!r}: {datatype} elements travel only in raw_input_contents"
            )
        raise InvalidArgument(f"input {name!r}: unknown datatype {datatype!r}")
    field, wire = typed
    for other in _CONTENT_FIELDS:
        if other != field and len(getattr(contents, other)):
            raise InvalidArgument(
                f"input {name!r}: {datatype} elements go in contents.{field}, not {other}"
            )
    values = getattr(contents, field)
    if datatype == "BYTES":
        return encode_bytes(values)
    array = np.array(values, dtype=wire)
    dtype = DATATYPES[datatype]
    if dtype != wire:
        narrowed = array.astype(dtype)
        if not np.array_equal(narrowed, array):
            raise InvalidArgument(f"input {name!r}: a value does not fit {datatype}")
        array = narrowed
    return array.tobytes()


def infer_request(
    request: inference_pb2.ModelInferRequest,
    attachments: dict[str, bytes | memoryview] | None = None,
) -> smi_pb2.InferRequest:
    """The SMI request for an Open Inference Protocol request.

    Given `attachments`, large `raw_input_contents` entries go there instead of into the
    tensors (see :data:`mlos.core.dataplane.Attachments`).
    """
    out = smi_pb2.InferRequest(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    if request.parameters:
        _copy_parameters(request.parameters, out.parameters, "parameter_choice")
    raw = request.raw_input_contents
    needing = 0
    for spec in request.inputs:
        tensor = out.inputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        if spec.parameters:
            _copy_parameters(spec.parameters, tensor.parameters, "parameter_choice")
            if SHARED_MEMORY_REGION in spec.parameters:
                continue
        if spec.HasField("contents"):
            if raw:
                raise InvalidArgument(
                    f"input {spec.name!r} has typed contents in a request that uses "
                    "raw_input_contents; use one or the other"
                )
            tensor.contents = typed_contents(spec.name, spec.datatype, spec.contents)
            continue
        if needing < len(raw):
            data = raw[needing]
            if attachments is not None and len(data) >= ATTACH_FROM:
                attachments[spec.name] = data
            else:
                tensor.contents = data
        needing += 1
    if raw and needing != len(raw):
        raise InvalidArgument(
            f"raw_input_contents has {len(raw)} entries for {needing} inputs; "
            "give one entry per input, in the order of the inputs"
        )
    for wanted in request.outputs:
        output = out.outputs.add(name=wanted.name)
        if wanted.parameters:
            _copy_parameters(wanted.parameters, output.parameters, "parameter_choice")
    return out


def infer_response(response: smi_pb2.InferResponse) -> inference_pb2.ModelInferResponse:
    """The Open Inference Protocol response for an SMI response (data in raw_output_contents)."""
    out = inference_pb2.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id
    )
    if response.parameters:
        _copy_parameters(response.parameters, out.parameters, "choice")
    raw = out.raw_output_contents
    for tensor in response.outputs:
        output = out.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        if tensor.parameters:
            _copy_parameters(tensor.parameters, output.parameters, "choice")
        raw.append(tensor.contents)
    return out
