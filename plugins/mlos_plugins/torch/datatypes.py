"""PyTorch dtypes as Open Inference Protocol datatypes, and arrays ⇄ tensors at the seam.

Every datatype but BYTES has a torch dtype. BF16 tensors travel as their raw 16-bit patterns
in `uint16` arrays (see `mlos.wire.tensors`); they are reinterpreted, not converted, both ways.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from mlos.errors import InvalidArgument

__all__ = ["DATATYPES", "datatype_for", "dtype_for", "to_array", "to_tensor"]

Array = npt.NDArray[Any]

#: Open Inference Protocol datatype → torch dtype.
DATATYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "UINT8": torch.uint8,
    "UINT16": torch.uint16,
    "UINT32": torch.uint32,
    "UINT64": torch.uint64,
    "INT8": torch.int8,
    "INT16": torch.int16,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "FP16": torch.float16,
    "FP32": torch.float32,
    "FP64": torch.float64,
    "BF16": torch.bfloat16,
}
_BY_DTYPE = {dtype: name for name, dtype in DATATYPES.items()}


def datatype_for(dtype: torch.dtype) -> str | None:
    """The datatype for a torch dtype, or None when MLOS cannot serve it."""
    return _BY_DTYPE.get(dtype)


def dtype_for(datatype: str, where: str) -> torch.dtype:
    """The torch dtype for a datatype; InvalidArgument for BYTES and unknown names."""
    try:
        return DATATYPES[datatype]
    except KeyError:
        raise InvalidArgument(
            f"{where}: PyTorch has no tensor type for {datatype}; the torch plugin serves "
            f"{', '.join(DATATYPES)}"
        ) from None


def to_tensor(array: Array, datatype: str, device: str) -> torch.Tensor:
    """A tensor holding a copy of `array` (request buffers are read-only and not ours)."""
    if array.dtype.kind == "O":
        raise InvalidArgument("the torch plugin cannot take BYTES tensors")
    tensor = torch.from_numpy(np.array(array, copy=True, order="C"))
    if datatype == "BF16":
        tensor = tensor.view(torch.bfloat16)
    return tensor if device == "cpu" else tensor.to(device)


def to_array(tensor: Any, name: str) -> Array:
    """An output tensor as a numpy array (BF16 as raw `uint16` bit patterns)."""
    if not isinstance(tensor, torch.Tensor):
        raise InvalidArgument(f"output {name!r} is a {type(tensor).__name__}, not a tensor")
    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.view(torch.uint16)
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    array: Array = tensor.numpy()
    return array
