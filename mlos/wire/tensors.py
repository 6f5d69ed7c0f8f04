"""Tensors on the wire: Open Inference Protocol datatypes, raw contents and numpy.

An SMI `Tensor` carries its elements as raw little-endian bytes in row-major order. BYTES
tensors (strings) carry each element as a 4-byte little-endian length followed by the bytes —
the same serialization as Triton's binary tensor extension, so raw contents pass between
transports and plugins without re-encoding.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument
from mlos_generated import smi_pb2

__all__ = [
    "ATTACH_FROM",
    "DATATYPES",
    "Array",
    "byte_size",
    "datatype_of",
    "decode_bytes",
    "element_count",
    "element_size",
    "encode_bytes",
    "from_json_data",
    "from_numpy",
    "numpy_dtype",
    "raw_contents",
    "raw_view",
    "to_array",
    "to_json_data",
    "to_numpy",
]

_LENGTH = struct.Struct("<I")
_STRING_KINDS = ("O", "S", "U")

Array = npt.NDArray[Any]
"""A numpy array of any dtype, as tensors travel in and out of the Python API."""

ATTACH_FROM = 64 * 1024
"""Inputs of at least this many bytes are passed beside a request instead of inside it: a
transport that already holds a large input in a buffer of its own (a REST body, a gRPC
`raw_input_contents` entry) hands it to the core as it is, since setting a protobuf bytes field
copies it, and reading it back copies it again."""

# Datatype name → numpy dtype (little-endian). BF16 has no numpy dtype of its own; it travels
# as raw 2-byte elements and plugins that support it convert it themselves.
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BF16": np.dtype("<u2"),
    "BYTES": np.dtype(object),
}

_BY_KIND: dict[tuple[str, int], str] = {
    (dtype.kind, dtype.itemsize): name
    for name, dtype in DATATYPES.items()
    if name not in ("BF16", "BYTES")
}


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    """The numpy dtype for an Open Inference Protocol datatype name."""
    try:
        return DATATYPES[datatype]
    except KeyError:
        raise InvalidArgument(f"unknown datatype {datatype!r}") from None


def datatype_of(array: npt.NDArray[Any]) -> str:
    """The Open Inference Protocol datatype name for a numpy array."""
    kind = array.dtype.kind
    if kind in ("O", "S", "U"):
        return "BYTES"
    try:
        return _BY_KIND[(kind, array.dtype.itemsize)]
    except KeyError:
        raise InvalidArgument(f"numpy dtype {array.dtype} has no datatype") from None


def element_size(datatype: str) -> int | None:
    """Bytes per element, or None for BYTES whose elements vary in size."""
    if datatype == "BYTES":
        return None
    return numpy_dtype(datatype).itemsize


def element_count(shape: Sequence[int]) -> int:
    """Number of elements in a tensor of `shape` (1 for a scalar)."""
    return math.prod(shape)


def byte_size(datatype: str, shape: Sequence[int]) -> int | None:
    """Bytes the raw contents must have, or None for BYTES."""
    size = element_size(datatype)
    return None if size is None else size * element_count(shape)


def encode_bytes(elements: Iterable[Any]) -> bytes:
    """Serialize BYTES elements (bytes or str) as length-prefixed raw contents."""
    parts: list[bytes] = []
    for element in elements:
        data = element.encode() if isinstance(element, str) else bytes(element)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_bytes(raw: bytes | memoryview, count: int | None = None) -> list[bytes]:
    """Parse length-prefixed BYTES contents; raise InvalidArgument when malformed.

    When `count` is given the contents must hold exactly that many elements.
    """
    view = memoryview(raw)
    elements: list[bytes] = []
    offset = 0
    while offset < len(view):
        if offset + 4 > len(view):
            raise InvalidArgument("BYTES contents end inside an element length")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise InvalidArgument("BYTES contents end inside an element")
        elements.append(bytes(view[offset : offset + length]))
        offset += length
    if count is not None and len(elements) != count:
        raise InvalidArgument(f"BYTES contents hold {len(elements)} elements, shape needs {count}")
    return elements


def to_numpy(tensor: smi_pb2.Tensor) -> npt.NDArray[Any]:
    """The tensor's contents as a numpy array of its shape (BYTES become an object array)."""
    shape = tuple(tensor.shape)
    count = element_count(shape)
    if tensor.datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = decode_bytes(tensor.contents, count)
        return array.reshape(shape)
    dtype = numpy_dtype(tensor.datatype)
    expected = dtype.itemsize * count
    if len(tensor.contents) != expected:
        raise InvalidArgument(
            f"tensor {tensor.name!r}: {len(tensor.contents)} bytes of contents, "
            f"shape {list(shape)} of {tensor.datatype} needs {expected}"
        )
    return np.frombuffer(tensor.contents, dtype=dtype).reshape(shape)


def from_numpy(name: str, array: npt.NDArray[Any], datatype: str | None = None) -> smi_pb2.Tensor:
    """An SMI tensor holding `array` (strings and bytes become BYTES)."""
    datatype = datatype or datatype_of(array)
    if datatype == "BYTES":
        contents = encode_bytes(array.reshape(-1).tolist())
    else:
        dtype = numpy_dtype(datatype)
        contents = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return smi_pb2.Tensor(name=name, datatype=datatype, shape=array.shape, contents=contents)


def from_json_data(datatype: str, shape: Sequence[int], data: Any) -> bytes:
    """Raw contents from Open Inference Protocol JSON `data` (nested or flat lists)."""
    count = element_count(shape)
    if datatype == "BYTES":
        flat = np.asarray(data, dtype=object).reshape(-1)
        if flat.size != count:
            raise InvalidArgument(
                f"data holds {flat.size} elements, shape {list(shape)} needs {count}"
            )
        for element in flat:
            if not isinstance(element, str | bytes):
                raise InvalidArgument("BYTES data must be strings")
        return encode_bytes(flat.tolist())
    dtype = numpy_dtype(datatype)
    try:
        array = np.asarray(data, dtype=dtype if datatype != "BF16" else np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"data is not valid {datatype}: {exc}") from exc
    if array.size != count:
        raise InvalidArgument(
            f"data holds {array.size} elements, shape {list(shape)} needs {count}"
        )
    if datatype == "BF16":
        # Round to nearest even, keeping the top half of each float32.
        bits = array.astype("<f4").view("<u4")
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
        return bytes(rounded.tobytes())
    return bytes(array.tobytes())


def to_json_data(datatype: str, raw: bytes) -> list[Any]:
    """Flat JSON `data` for raw contents (BYTES elements become UTF-8 strings when they decode)."""
    if datatype == "BYTES":
        out: list[Any] = []
        for element in decode_bytes(raw):
            try:
                out.append(element.decode())
            except UnicodeDecodeError:
                out.append(element.decode("latin-1"))
        return out
    if datatype == "BF16":
        widened = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")
        return list(widened.tolist())
    return list(np.frombuffer(raw, dtype=numpy_dtype(datatype)).tolist())


def to_array(datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> Array:
    """Raw contents as a numpy array of `shape` (BYTES: an object array of `bytes`).

    Arrays of fixed-size datatypes share the response's memory and are read-only; BF16 comes
    back as its uint16 bit patterns.
    """
    count = element_count(shape)
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = decode_bytes(raw, count)
        return array.reshape(tuple(shape))
    dtype = numpy_dtype(datatype)
    if len(raw) != dtype.itemsize * count:
        raise InvalidArgument(
            f"{len(raw)} bytes do not hold shape {list(shape)} of {datatype}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(shape))

def raw_contents(name: str, array: Array, datatype: str) -> bytes:
    """The raw contents of input `name` (`array`) sent as `datatype`."""
    if datatype == "BYTES":
        if array.dtype.kind not in _STRING_KINDS:
            raise InvalidArgument(
                f"input {name!r}: BYTES needs strings or bytes, not {array.dtype}"
            )
        return encode_bytes(array.reshape(-1).tolist())
    if datatype == "BF16" and array.dtype.kind == "f":
        # Floats are rounded to bfloat16; uint16 arrays are taken as bfloat16 bit patterns.
        return from_json_data("BF16", array.shape, array)
    try:
        return np.ascontiguousarray(array, dtype=numpy_dtype(datatype)).tobytes()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"input {name!r} cannot be sent as {datatype}: {exc}") from None

def raw_view(name: str, array: Array, datatype: str) -> bytes | memoryview:
    """Like :func:`raw_contents`, but the array's own memory when it already is those bytes."""
    if datatype not in ("BYTES", "BF16"):
        dtype = numpy_dtype(datatype)
        if array.dtype == dtype and array.flags.c_contiguous and array.dtype.kind not in "OSU":
            return array.reshape(-1).data.cast("B")
    return raw_contents(name, array, datatype)
