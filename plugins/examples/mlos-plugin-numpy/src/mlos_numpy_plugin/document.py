"""The model file: a JSON document declaring inputs, constants and output expressions.

::

    {
      "inputs":    [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
      "constants": {"w": {"file": "w.npy"}, "b": [0.1, 0.2, 0.3]},
      "outputs":   [
        {"name": "scores", "datatype": "FP32", "shape": [-1, 3],
         "expr": "softmax(x @ w + b, axis=-1)"},
        {"name": "label", "datatype": "INT64", "shape": [-1], "expr": "argmax(scores, axis=-1)"}
      ]
    }

A constant is a JSON number or (nested) list, or ``{"file": "name.npy"}`` naming a ``.npy``
file in the model's directory, read without pickle. Outputs are computed in order, and an
expression may use the inputs, the constants and the outputs before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlos.errors import InvalidArgument
from mlos.sdk.base import TensorSpec
from mlos.wire.tensors import DATATYPES
from mlos_numpy_plugin.expression import Array, Compiled, compile_expression

__all__ = ["DATATYPES_SERVED", "Document", "read_document"]

#: Datatypes this plugin serves: every numeric one (not BYTES, not BF16).
DATATYPES_SERVED = tuple(name for name in DATATYPES if name not in ("BYTES", "BF16"))
MAX_FILE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed, compiled model."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    constants: dict[str, Array]
    expressions: tuple[Compiled, ...]


def _tensor(item: Any, where: str) -> TensorSpec:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise InvalidArgument(f"{where}: a tensor needs a name")
    datatype = item.get("datatype")
    if datatype not in DATATYPES_SERVED:
        raise InvalidArgument(
            f"{where}: datatype {datatype!r} is not one of {', '.join(DATATYPES_SERVED)}"
        )
    shape = item.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
    ):
        raise InvalidArgument(f"{where}: shape must be a list of integers >= -1")
    return TensorSpec(item["name"], datatype, tuple(shape))


def _constant(name: str, value: Any, directory: Path) -> Array:
    if isinstance(value, dict):
        file = value.get("file")
        if not isinstance(file, str) or set(value) != {"file"}:
            raise InvalidArgument(f"constant {name!r}: expected {{\"file\": \"name.npy\"}}")
        path = (directory / file).resolve()
        if directory.resolve() not in path.parents:
            raise InvalidArgument(f"constant {name!r}: {file} is outside the model's directory")
        try:
            array: Array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"constant {name!r}: cannot read {file}: {exc}") from None
        return array
    try:
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return array
    except ValueError as exc:
        raise InvalidArgument(f"constant {name!r}: {exc}") from None
    raise InvalidArgument(f"constant {name!r} must be numbers")


def read_document(path: Path) -> Document:
    """Read, check and compile the model file at `path`."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise InvalidArgument(f"{path} is larger than {MAX_FILE} bytes")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(f"{path} is not a JSON model file: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{path}: the model file must hold a JSON object")
    inputs = tuple(_tensor(t, f"inputs[{i}]") for i, t in enumerate(document.get("inputs", [])))
    raw_outputs = document.get("outputs", [])
    if not inputs or not isinstance(raw_outputs, list) or not raw_outputs:
        raise InvalidArgument(f"{path}: a model needs inputs and outputs")
    raw_constants = document.get("constants", {})
    if not isinstance(raw_constants, dict):
        raise InvalidArgument(f"{path}: constants must be an object")
    constants = {name: _constant(name, value, path.parent) for name, value in
                 raw_constants.items()}
    names = {spec.name for spec in inputs} | set(constants)
    outputs, expressions = [], []
    for index, item in enumerate(raw_outputs):
        where = f"outputs[{index}]"
        spec = _tensor(item, where)
        if spec.name in names:
            raise InvalidArgument(f"{where}: the name {spec.name!r} is taken")
        expression = item.get("expr")
        if not isinstance(expression, str):
            raise InvalidArgument(f"{where}: an output needs an expression (expr)")
        expressions.append(compile_expression(expression, frozenset(names), where))
        outputs.append(spec)
        names.add(spec.name)
    return Document(inputs, tuple(outputs), constants, tuple(expressions))
