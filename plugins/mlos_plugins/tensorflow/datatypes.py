"""TensorFlow dtypes as Open Inference Protocol datatypes, and arrays ⇄ tensors at the seam.

String tensors are BYTES both ways (TensorFlow strings are bytes already). BF16 tensors
travel as raw 16-bit patterns in `uint16` arrays and are bit-cast, not converted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mlos.errors import InvalidArgument
from mlos_plugins.tensorflow.runner import Array

__all__ = ["DATATYPES", "datatype_for", "dims", "from_tensor", "to_tensor"]

#: Open Inference Protocol datatype → TensorFlow dtype.
DATATYPES: dict[str, Any] = {
    "BOOL": tf.bool,
    "UINT8": tf.uint8,
    "UINT16": tf.uint16,
    "UINT32": tf.uint32,
    "UINT64": tf.uint64,
    "INT8": tf.int8,
    "INT16": tf.int16,
    "INT32": tf.int32,
    "INT64": tf.int64,
    "FP16": tf.float16,
    "FP32": tf.float32,
    "FP64": tf.float64,
    "BF16": tf.bfloat16,
    "BYTES": tf.string,
}
_BY_NAME = {tf.as_dtype(dtype).name: name for name, dtype in DATATYPES.items()}


def datatype_for(dtype: Any) -> str | None:
    """The datatype for a TensorFlow or numpy dtype (or its name), or None."""
    try:
        name = tf.as_dtype(dtype).name
    except TypeError:
        return None
    return _BY_NAME.get(name)


def dims(shape: Sequence[Any] | None) -> tuple[int, ...]:
    """A TensorFlow shape with unknown dimensions as -1; an unknown rank as ``(-1,)``."""
    if shape is None:
        return (-1,)
    return tuple(int(dim) if dim is not None and int(dim) >= 0 else -1 for dim in shape)


def to_tensor(array: Array, datatype: str) -> Any:
    """An eager tensor of `datatype` holding `array`."""
    if datatype == "BF16":
        return tf.bitcast(tf.constant(np.asarray(array, dtype="<u2")), tf.bfloat16)
    if datatype == "BYTES":
        return tf.constant(array, dtype=tf.string)
    return tf.constant(array)


def from_tensor(value: Any, name: str) -> Array:
    """An output tensor (eager, or a numpy value a session returned) as a numpy array."""
    if isinstance(value, tf.Tensor):
        if value.dtype == tf.bfloat16:
            value = tf.bitcast(value, tf.uint16)
        result: Array = value.numpy()
        return result
    array = np.asarray(value)
    if array.dtype.name == "bfloat16":
        return array.view("<u2")
    if array.dtype.kind not in "biufcOSU?":
        raise InvalidArgument(f"output {name!r} has dtype {array.dtype}, which MLOS cannot send")
    return array
