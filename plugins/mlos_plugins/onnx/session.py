"""Opening an onnxruntime session for a model path, and onnxruntime's errors made typed.

A model path is an ``.onnx`` file, or a directory holding ``model.onnx`` or exactly one
``.onnx`` file (external weight files beside it are found by onnxruntime). A file onnxruntime
cannot load is an `InvalidArgument` that says why; nothing of it stays in memory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from mlos.errors import InvalidArgument
from mlos_plugins.onnx.options import SessionConfig

__all__ = ["BAD_MODEL_ERRORS", "BAD_REQUEST_ERRORS", "model_file", "open_session", "ort_message"]

#: onnxruntime errors that mean "this file is not a model onnxruntime can run".
BAD_MODEL_ERRORS: tuple[type[BaseException], ...] = (
    ort_state.InvalidProtobuf,
    ort_state.InvalidGraph,
    ort_state.InvalidArgument,
    ort_state.NoSuchFile,
    ort_state.NoModel,
    ort_state.NotImplemented,
    ort_state.Fail,
)

#: onnxruntime errors of a run that mean "the inputs do not fit the model" (shape, type, name).
#: `ValueError` is what onnxruntime's Python layer raises for missing inputs.
BAD_REQUEST_ERRORS: tuple[type[BaseException], ...] = (ort_state.InvalidArgument, ValueError)

_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : [A-Z_]+ : ")
_MODEL_NAME = "model.onnx"


def ort_message(exc: BaseException) -> str:
    """onnxruntime's message without its ``[ONNXRuntimeError] : 2 : CODE :`` prefix."""
    return " ".join(_PREFIX.sub("", str(exc)).split())


def model_file(path: Path) -> Path:
    """The ONNX file a model path names; raise InvalidArgument when there is none or several."""
    if path.is_file():
        return path
    if path.is_dir():
        preferred = path / _MODEL_NAME
        if preferred.is_file():
            return preferred
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".onnx" and p.is_file())
        if len(found) == 1:
            return found[0]
        if not found:
            raise InvalidArgument(f"{path} is a directory without an .onnx file")
        names = ", ".join(p.name for p in found)
        raise InvalidArgument(
            f"{path} holds several .onnx files ({names}); name the file, or call it {_MODEL_NAME}"
        )
    raise InvalidArgument(f"{path}: no such file or directory")


def open_session(file: Path, config: SessionConfig) -> Any:
    """An `onnxruntime.InferenceSession` for `file`; raise InvalidArgument for a bad model."""
    options = config.session_options(ort)
    providers = config.providers(ort.get_available_providers())
    try:
        return ort.InferenceSession(str(file), sess_options=options, providers=providers)
    except BAD_MODEL_ERRORS as exc:
        raise InvalidArgument(
            f"{file} is not an ONNX model onnxruntime {ort.__version__} can load: "
            f"{ort_message(exc)}"
        ) from exc
