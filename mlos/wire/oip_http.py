"""Inference bodies of the Open Inference Protocol over HTTP, on both sides of the wire.

Requests and responses are JSON with tensor elements in `data`, or — with Triton's binary tensor
data extension — JSON followed by raw tensor bytes: a tensor whose parameters carry
`binary_data_size` takes that many bytes from the binary part, in the order of the tensors.
Raw bytes are exactly SMI's `Tensor.contents` (little-endian, row-major; BYTES elements with a
4-byte length prefix), so binary tensors pass through without conversion.

Output format: an output listed in the request with the parameter `binary_data` follows it;
any other follows the request parameter `binary_data_output` (default false, JSON).

Shared memory (Triton's extension): an input or requested output whose parameters carry
`shared_memory_region` passes them through for the core to resolve; an output the core wrote
into a region comes back with those parameters and no data.

The server decodes requests into SMI messages (:func:`decode_request`) and encodes responses
(:func:`encode_response`); a client encodes numpy inputs (:func:`encode_request`: with
`binary=True` the JSON header is followed by each input's raw contents, which large arrays
reference instead of copying) and decodes the response into arrays (:func:`decode_response`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlos.errors import InternalError, InvalidArgument, MLOSError
from mlos.wire import shared_memory, tensors
from mlos.wire.encoding import SERIALIZES_NUMPY, dumps, loads
from mlos.wire.tensors import ATTACH_FROM, Array
from mlos_generated import smi_pb2

__all__ = [
    "BINARY_DATA",
    "BINARY_DATA_OUTPUT",
    "BINARY_DATA_SIZE",
    "HEADER_LENGTH",
    "PARTS_FROM",
    "BodyParts",
    "OutputFormat",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "parameter_value",
    "set_parameter",
]

BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"
HEADER_LENGTH = "Inference-Header-Content-Length"

_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """Which outputs a response returns as binary data."""

    binary_default: bool = False
    binary: Mapping[str, bool] = field(default_factory=dict)

    def is_binary(self, name: str) -> bool:
        """Whether the output named `name` goes into the binary part."""
        return self.binary.get(name, self.binary_default)


def set_parameter(target: smi_pb2.Parameter, value: Any, where: str) -> None:
    """Store a JSON parameter value (bool, integer, number or string) in an SMI Parameter."""
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        if value <= _INT64_MAX:
            target.int64_param = value
        elif value <= _UINT64_MAX:
            target.uint64_param = value
        else:
            raise InvalidArgument(f"{where}: {value} does not fit 64 bits")
    elif isinstance(value, float):
        target.double_param = value
    elif isinstance(value, str):
        target.string_param = value
    else:
        raise InvalidArgument(f"{where}: a parameter is a string, a number or a boolean")


def parameter_value(parameter: smi_pb2.Parameter) -> Any:
    """The JSON value of an SMI Parameter (None when unset)."""
    choice = parameter.WhichOneof("choice")
    return None if choice is None else getattr(parameter, choice)


def _parameters(source: Mapping[str, smi_pb2.Parameter]) -> dict[str, Any]:
    return {key: parameter_value(value) for key, value in source.items()}


def _whole(value: Any, where: str) -> int:
    """A JSON number that must be a whole number from 0 to 2**63 - 1 (`4.0` counts as 4)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT64_MAX:
        raise InvalidArgument(f"{where}: {value!r} is not a whole number from 0 to 2**63 - 1")
    return value


def _decode_input(
    spec: Mapping[str, Any],
    tensor: smi_pb2.Tensor,
    binary: memoryview,
    offset: int,
    attachments: dict[str, memoryview],
) -> int:
    """Fill `tensor` from one request input; return the offset after its binary data.

    Large binary data is not copied into the tensor but added to `attachments`."""
    name: str = spec["name"]
    datatype: str = spec["datatype"]
    shape = [_whole(dim, f"input {name!r}: shape") for dim in spec["shape"]]
    tensor.name = name
    tensor.datatype = datatype
    tensor.shape.extend(shape)
    size: int | None = None
    for key, value in (spec.get("parameters") or {}).items():
        if key == BINARY_DATA_SIZE:
            size = _whole(value, f"input {name!r}: binary_data_size")
        else:
            set_parameter(tensor.parameters[key], value, f"input {name!r} parameter {key!r}")
    if size is not None:
        if "data" in spec:
            raise InvalidArgument(f"input {name!r} has both data and binary_data_size")
        end = offset + size
        if end > len(binary):
            raise InvalidArgument(
                f"input {name!r}: binary_data_size {size} runs past the end of the body "
                f"({len(binary) - offset} bytes left)"
            )
        if size >= ATTACH_FROM:
            attachments[name] = binary[offset:end]  # handed to the core as it is, no copy
        else:
            tensor.contents = bytes(binary[offset:end])
        return end
    if "data" not in spec:
        if shared_memory.REGION in tensor.parameters:
            return offset  # the core reads it from the region
        raise InvalidArgument(f"input {name!r} has neither data nor binary_data_size")
    tensor.contents = tensors.from_json_data(datatype, shape, spec["data"])
    return offset


def decode_request(
    document: Mapping[str, Any] | None,
    binary_part: memoryview,
    model_name: str,
    model_version: str = "",
) -> tuple[smi_pb2.InferRequest, dict[str, memoryview], OutputFormat]:
    """The SMI request for a validated inference body (its JSON `document` and the binary part
    that follows it), its attachments (large binary inputs, as views of the body: see
    :data:`mlos.wire.tensors.ATTACH_FROM`), and how to format the response."""
    document = document or {}
    request = smi_pb2.InferRequest(
        model_name=model_name, model_version=model_version, id=document.get("id", "")
    )
    binary_default = False
    for key, value in (document.get("parameters") or {}).items():
        if key == BINARY_DATA_OUTPUT:
            binary_default = bool(value)
        else:
            set_parameter(request.parameters[key], value, f"parameter {key!r}")

    offset = 0
    attachments: dict[str, memoryview] = {}
    for spec in document.get("inputs", ()):
        offset = _decode_input(spec, request.inputs.add(), binary_part, offset, attachments)
    if offset != len(binary_part):
        raise InvalidArgument(
            f"{len(binary_part) - offset} bytes of binary data follow the last input's data"
        )

    binary: dict[str, bool] = {}
    for spec in document.get("outputs", ()):
        output = request.outputs.add(name=spec["name"])
        for key, value in (spec.get("parameters") or {}).items():
            if key == BINARY_DATA:
                binary[output.name] = bool(value)
            else:
                where = f"output {output.name!r} parameter {key!r}"
                set_parameter(output.parameters[key], value, where)
    return request, attachments, OutputFormat(binary_default, binary)


def _json_data(tensor: smi_pb2.Tensor) -> Any:
    """Elements of an output for the JSON `data` field."""
    datatype = tensor.datatype
    if datatype in ("BYTES", "BF16"):
        return tensors.to_json_data(datatype, tensor.contents)
    dtype = tensors.numpy_dtype(datatype)
    if len(tensor.contents) % dtype.itemsize:
        raise InternalError(
            f"output {tensor.name!r}: {len(tensor.contents)} bytes "
            f"are not whole {datatype} elements"
        )
    if SERIALIZES_NUMPY and dtype.isnative:
        # The JSON encoder writes the array straight from its buffer.
        return np.frombuffer(tensor.contents, dtype=dtype)
    return tensors.to_json_data(datatype, tensor.contents)


def encode_response(
    response: smi_pb2.InferResponse, output_format: OutputFormat
) -> tuple[bytes, dict[str, str]]:
    """The HTTP body and headers (`Content-Type` among them) for an SMI inference response."""
    head: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version:
        head["model_version"] = response.model_version
    if response.id:
        head["id"] = response.id
    if response.parameters:
        head["parameters"] = _parameters(response.parameters)
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for tensor in response.outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        parameters = _parameters(tensor.parameters)
        if tensor.HasField("shared_memory"):
            pass  # written into the client's region; the parameters say where
        elif output_format.is_binary(tensor.name):
            parameters[BINARY_DATA_SIZE] = len(tensor.contents)
            chunks.append(tensor.contents)
        else:
            entry["data"] = _json_data(tensor)
        if parameters:
            entry["parameters"] = parameters
        outputs.append(entry)
    head["outputs"] = outputs
    encoded = dumps(head)
    if not chunks:
        return encoded, {"Content-Type": "application/json"}
    return b"".join((encoded, *chunks)), {
        "Content-Type": "application/octet-stream",
        HEADER_LENGTH: str(len(encoded)),
    }


# ----- the client side: numpy in, request body out; and back -------------------------------

PARTS_FROM = 1 << 16
"""Binary bodies of at least this many bytes are handed over as parts, not joined."""


@dataclass(frozen=True, slots=True)
class BodyParts:
    """A request body as the buffers it is made of: the JSON header, then each tensor's bytes.

    Large input arrays are referenced, not copied; a transport that can write several buffers
    at once (`socket.sendmsg`) sends them as they are, any other calls :meth:`joined`.
    """

    parts: tuple[bytes | memoryview, ...]
    size: int

    def joined(self) -> bytes:
        """The body as one bytes object."""
        return b"".join(self.parts)



def encode_request(
    inputs: Mapping[str, Any],
    outputs: Sequence[str] | None = None,
    *,
    binary: bool = True,
    datatypes: Mapping[str, str] | None = None,
) -> tuple[bytes | BodyParts, dict[str, str]]:
    """The body and headers of an inference request for `inputs` (name → array).

    A binary body of :data:`PARTS_FROM` bytes or more comes as :class:`BodyParts` (with its
    `Content-Length` among the headers), whose tensor parts may be views of the input arrays.
    """
    datatypes = datatypes or {}
    described: list[dict[str, Any]] = []
    chunks: list[bytes | memoryview] = []
    for name, value in inputs.items():
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        datatype = datatypes.get(name) or tensors.datatype_of(array)
        tensors.numpy_dtype(datatype)  # an unknown datatype is the caller's mistake
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = tensors.raw_view(name, array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            raw_bytes = tensors.raw_contents(name, array, datatype)
            entry["data"] = tensors.to_json_data(datatype, raw_bytes)
        described.append(entry)
    document: dict[str, Any] = {"inputs": described}
    if outputs:
        document["outputs"] = [{"name": n, "parameters": {"binary_data": binary}} for n in outputs]
    if binary:
        document["parameters"] = {"binary_data_output": True}
    head = dumps(document)
    if not binary:
        return head, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    size = len(head) + sum(len(chunk) for chunk in chunks)
    if size < PARTS_FROM:
        return b"".join((head, *chunks)), headers
    headers["Content-Length"] = str(size)
    return BodyParts((head, *chunks), size), headers



def decode_response(body: bytes, header_length: str | None) -> dict[str, Array]:
    """The outputs of an inference response body, by name."""
    try:
        if header_length is None:
            document, binary = loads(body), memoryview(b"")
        else:
            length = int(header_length)
            if not 0 <= length <= len(body):
                raise ValueError(f"{HEADER_LENGTH} {length} is outside the body")
            document, binary = loads(memoryview(body)[:length]), memoryview(body)[length:]
        offset = 0
        arrays: dict[str, Array] = {}
        for output in document["outputs"]:
            datatype, shape = output["datatype"], output["shape"]
            size = (output.get("parameters") or {}).get("binary_data_size")
            if size is None:
                raw: bytes | memoryview = tensors.from_json_data(datatype, shape, output["data"])
            else:
                if offset + size > len(binary):
                    raise ValueError(f"output {output['name']!r} runs past the end of the body")
                raw, offset = binary[offset : offset + size], offset + size
            arrays[output["name"]] = tensors.to_array(datatype, shape, raw)
        return arrays
    except (MLOSError, ValueError, KeyError, TypeError) as exc:
        message = exc.message if isinstance(exc, MLOSError) else str(exc)
        raise InternalError(f"malformed inference response: {message}") from exc
