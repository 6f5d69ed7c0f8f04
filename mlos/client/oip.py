"""Open Inference Protocol bodies on the client side: numpy in, request body out; and back.

With `binary=True` the request is Triton's binary tensor data extension: the JSON header, then
each input's raw contents (little-endian, row-major; BYTES elements 4-byte length prefixed), with
`Inference-Header-Content-Length` giving the header's length; the server is asked for binary
outputs too. With `binary=False` tensors travel as JSON `data` lists. Either way the response is
decoded from whatever the server sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlos import tensors
from mlos.client.base import Array
from mlos.errors import InternalError, InvalidArgument, MLOSError
from mlos.rest.encoding import dumps, loads

__all__ = [
    "HEADER_LENGTH",
    "BodyParts",
    "decode_response",
    "encode_request",
    "raw_contents",
    "to_array",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
_STRING_KINDS = ("O", "S", "U")
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


def _raw_view(name: str, array: Array, datatype: str) -> bytes | memoryview:
    """Like :func:`raw_contents`, but the array's own memory when it already is those bytes."""
    if datatype not in ("BYTES", "BF16"):
        dtype = tensors.numpy_dtype(datatype)
        if array.dtype == dtype and array.flags.c_contiguous and array.dtype.kind not in "OSU":
            return array.reshape(-1).data.cast("B")
    return raw_contents(name, array, datatype)


def raw_contents(name: str, array: Array, datatype: str) -> bytes:
    """The raw contents of input `name` (`array`) sent as `datatype`."""
    if datatype == "BYTES":
        if array.dtype.kind not in _STRING_KINDS:
            raise InvalidArgument(
                f"input {name!r}: BYTES needs strings or bytes, not {array.dtype}"
            )
        return tensors.encode_bytes(array.reshape(-1).tolist())
    if datatype == "BF16" and array.dtype.kind == "f":
        # Floats are rounded to bfloat16; uint16 arrays are taken as bfloat16 bit patterns.
        return tensors.from_json_data("BF16", array.shape, array)
    try:
        return np.ascontiguousarray(array, dtype=tensors.numpy_dtype(datatype)).tobytes()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"input {name!r} cannot be sent as {datatype}: {exc}") from None


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
            raw = _raw_view(name, array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = tensors.to_json_data(datatype, raw_contents(name, array, datatype))
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


def to_array(datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> Array:
    """Raw contents as a numpy array of `shape` (BYTES: an object array of `bytes`).

    Arrays of fixed-size datatypes share the response's memory and are read-only; BF16 comes
    back as its uint16 bit patterns.
    """
    count = tensors.element_count(shape)
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = tensors.decode_bytes(raw, count)
        return array.reshape(tuple(shape))
    dtype = tensors.numpy_dtype(datatype)
    if len(raw) != dtype.itemsize * count:
        raise InvalidArgument(
            f"{len(raw)} bytes do not hold shape {list(shape)} of {datatype}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(shape))


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
            arrays[output["name"]] = to_array(datatype, shape, raw)
        return arrays
    except (MLOSError, ValueError, KeyError, TypeError) as exc:
        message = exc.message if isinstance(exc, MLOSError) else str(exc)
        raise InternalError(f"malformed inference response: {message}") from exc
