"""Read a model file's input/output signature through its framework.

ONNX models are read with ``onnx`` (graph inputs minus initializers). Other formats need their
framework; when it is not installed :class:`SignatureUnavailable` says so, and callers report
"could not check" rather than "valid".
"""

from __future__ import annotations

import importlib.util
import pathlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ONNX_DATATYPES",
    "Signature",
    "SignatureUnavailable",
    "TensorSpec",
    "guess_format",
    "read_signature",
]

# onnx.TensorProto element types → Open Inference Protocol datatypes.
ONNX_DATATYPES: dict[int, str] = {
    1: "FP32", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
    8: "BYTES", 9: "BOOL", 10: "FP16", 11: "FP64", 12: "UINT32", 13: "UINT64", 16: "BF16",
}

_FRAMEWORK_MODULE = {
    "torchscript": ("torch", "pytorch", "torch"),
    "torch_export": ("torch", "pytorch", "torch"),
    "saved_model": ("tensorflow", "tensorflow", "tensorflow"),
    "keras": ("tensorflow", "tensorflow", "tensorflow"),
    "tflite": ("tensorflow", "tensorflow", "tensorflow"),
}


class SignatureUnavailable(Exception):
    """The signature cannot be read here (framework missing or format not inspectable)."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, OIP datatype and shape (-1 for a dynamic dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Manifest form."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of a model, plus format details found on the way."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    framework_version: str | None = None
    """The framework version the file itself records, when it records one."""
    opset: int | None = None


def _onnx_tensor(value_info: Any) -> TensorSpec:
    tensor_type = value_info.type.tensor_type
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
        for d in tensor_type.shape.dim
    )
    datatype = ONNX_DATATYPES.get(tensor_type.elem_type, f"ONNX_TYPE_{tensor_type.elem_type}")
    return TensorSpec(value_info.name, datatype, dims)


def _read_onnx(path: pathlib.Path) -> Signature:
    try:
        import onnx
    except ImportError as exc:
        raise SignatureUnavailable(
            "onnx is not installed (pip install 'mlos[onnx]')") from exc
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others
        raise ValueError(f"{path.name} is not a readable ONNX model: {exc}") from exc
    initializers = {init.name for init in model.graph.initializer}
    inputs = tuple(_onnx_tensor(v) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_onnx_tensor(v) for v in model.graph.output)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    # The file records its opset, not the version of the library that wrote it; the onnx
    # library installed here says nothing about the model, so no framework version is given.
    return Signature(inputs, outputs, None, opset)


def read_signature(path: pathlib.Path, fmt: str) -> Signature:
    """Signature of the model at ``path`` in format ``fmt`` (manifest ``framework.format``).

    Raises :class:`SignatureUnavailable` when it cannot be read here, ``ValueError`` when the
    file is not a model of that format.
    """
    if fmt == "onnx":
        return _read_onnx(path)
    if fmt in _FRAMEWORK_MODULE:
        module, framework, extra = _FRAMEWORK_MODULE[fmt]
        if importlib.util.find_spec(module) is None:
            raise SignatureUnavailable(
                f"{framework} is not installed, so the {fmt} signature was not checked "
                f"(pip install 'mlos[{extra}]')")
        raise SignatureUnavailable(f"reading {framework} {fmt} signatures is not supported yet")
    raise SignatureUnavailable(f"format {fmt!r} has no signature reader")


def guess_format(path: pathlib.Path) -> tuple[str, str]:
    """``(framework, format)`` guessed from a model file's name."""
    suffix = path.suffix.lower()
    table = {
        ".onnx": ("onnx", "onnx"), ".pt": ("pytorch", "torchscript"),
        ".jit": ("pytorch", "torchscript"), ".torchscript": ("pytorch", "torchscript"),
        ".pt2": ("pytorch", "torch_export"), ".keras": ("tensorflow", "keras"),
        ".tflite": ("tensorflow", "tflite"),
    }
    if path.is_dir() and (path / "saved_model.pb").exists():
        return ("tensorflow", "saved_model")
    return table.get(suffix, ("custom", "custom"))
