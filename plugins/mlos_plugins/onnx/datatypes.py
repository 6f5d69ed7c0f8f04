"""ONNX element types as Open Inference Protocol datatypes, and the conversions at the seam.

onnxruntime takes and returns numpy arrays for every type MLOS serves except two:

* ``tensor(string)`` wants Python `str` elements, while BYTES tensors arrive as `bytes`;
  `decode_strings` turns them into text (UTF-8), and string outputs go back as `str`, which
  the host encodes as UTF-8.
* ``tensor(bfloat16)`` has no numpy type in onnxruntime. BF16 tensors travel as their raw
  16-bit patterns in `uint16` arrays (see `mlos.wire.tensors`); `bf16_value` wraps such an array as
  an `OrtValue` without copying it and `bf16_array` copies an output `OrtValue` back out.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument

__all__ = [
    "ONNX_BFLOAT16",
    "ONNX_DATATYPES",
    "bf16_array",
    "bf16_value",
    "datatype_for",
    "decode_strings",
    "dims",
]

Array = npt.NDArray[Any]

#: onnxruntime's type string → Open Inference Protocol datatype.
ONNX_DATATYPES: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(bfloat16)": "BF16",
    "tensor(string)": "BYTES",
}

#: `onnx.TensorProto.BFLOAT16`.
ONNX_BFLOAT16 = 16

_UINT16 = np.dtype("<u2")


def datatype_for(onnx_type: str) -> str | None:
    """The datatype for an onnxruntime type string, or None when MLOS cannot serve it."""
    return ONNX_DATATYPES.get(onnx_type)


def dims(shape: Sequence[Any] | None) -> tuple[int, ...]:
    """An onnxruntime shape with symbolic or unknown dimensions as -1."""
    if not shape:
        return ()
    return tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in shape)


def decode_strings(name: str, array: Array) -> Array:
    """A BYTES input as onnxruntime's string tensor: an object array of `str`."""
    if array.dtype.kind == "U":
        return array
    try:
        if array.dtype.kind == "S":
            return np.char.decode(array, "utf-8").astype(object)
        text = [
            element.decode() if isinstance(element, bytes) else str(element)
            for element in array.reshape(-1).tolist()
        ]
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"input {name!r}: element is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "ONNX string tensors hold text"
        ) from None
    decoded = np.empty(len(text), dtype=object)
    decoded[:] = text
    return decoded.reshape(array.shape)


def bf16_value(ort: Any, name: str, array: Array) -> Any:
    """A BF16 input (raw `uint16` bit patterns) as an onnxruntime `OrtValue`, without a copy."""
    if array.dtype != _UINT16:
        if array.dtype.name != "bfloat16":  # an ml_dtypes array is fine too
            raise InvalidArgument(
                f"input {name!r}: BF16 data must be raw 16-bit patterns (uint16), not {array.dtype}"
            )
        array = array.view(_UINT16)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(array, ONNX_BFLOAT16)


def bf16_array(value: Any) -> Array:
    """A copy of a BF16 output `OrtValue` as a `uint16` array of its raw bit patterns."""
    shape = tuple(value.shape())
    count = math.prod(shape)
    if count == 0:
        return np.empty(shape, dtype=_UINT16)
    raw = (ctypes.c_uint16 * count).from_address(value.data_ptr())
    return np.frombuffer(raw, dtype=_UINT16).reshape(shape).copy()
