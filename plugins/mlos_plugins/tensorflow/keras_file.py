"""Keras ``.keras`` files, loaded in safe mode and run as one traced `tf.function`.

`keras.saving.load_model(..., safe_mode=True)` refuses to deserialise Python lambdas, so a
``.keras`` file cannot run code of its own while it loads. The model must have defined inputs
(a functional or sequential model); tensors are named by its input names and output names.
Inference calls the model with ``training=False`` inside a `tf.function` traced once for
inputs of any batch size, which is much faster than eager calls or `Model.predict`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

from mlos.errors import InvalidArgument
from mlos.sdk.base import TensorSpec
from mlos_plugins.tensorflow.datatypes import (
    DATATYPES,
    datatype_for,
    dims,
    from_tensor,
    to_tensor,
)
from mlos_plugins.tensorflow.runner import Array, Runner

__all__ = ["load_keras"]


def _spec(name: str, dtype: Any, shape: Any, role: str, file: Path) -> TensorSpec:
    datatype = datatype_for(dtype)
    if datatype is None:
        raise InvalidArgument(f"{file}: {role} {name!r} has dtype {dtype}, which MLOS cannot serve")
    return TensorSpec(name, datatype, dims(list(shape)))


def load_keras(file: Path) -> Runner:
    """Load a ``.keras`` file as a runner."""
    if keras.backend.backend() != "tensorflow":
        raise InvalidArgument(
            f"Keras runs on {keras.backend.backend()!r} here; the tensorflow plugin needs "
            "KERAS_BACKEND=tensorflow"
        )
    model = keras.saving.load_model(str(file), compile=False, safe_mode=True)
    try:
        symbolic_inputs = list(model.inputs)
        symbolic_outputs = list(model.outputs)
    except (AttributeError, ValueError):
        symbolic_inputs = []
        symbolic_outputs = []
    if not symbolic_inputs:
        raise InvalidArgument(
            f"{file} is a Keras model without defined inputs (a subclassed model); export it "
            "as a SavedModel with model.export() instead"
        )
    inputs = tuple(
        _spec(tensor.name, tensor.dtype, tensor.shape, "input", file) for tensor in symbolic_inputs
    )
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(symbolic_outputs):
        names = [tensor.name for tensor in symbolic_outputs]
    outputs = tuple(
        _spec(name, tensor.dtype, tensor.shape, "output", file)
        for name, tensor in zip(names, symbolic_outputs, strict=True)
    )
    signature = [
        tf.TensorSpec([None if dim < 0 else dim for dim in spec.shape], DATATYPES[spec.datatype])
        for spec in inputs
    ]
    single = len(inputs) == 1

    def forward(*tensors: Any) -> Any:
        result = model(tensors[0] if single else list(tensors), training=False)
        return tf.nest.flatten(result)

    call = tf.function(forward, input_signature=signature)

    types = [(spec.name, spec.datatype) for spec in inputs]
    output_names = [spec.name for spec in outputs]

    def run(arrays: Mapping[str, Array]) -> dict[str, Array]:
        results = call(*(to_tensor(arrays[name], datatype) for name, datatype in types))
        return {
            name: from_tensor(value, name)
            for name, value in zip(output_names, results, strict=True)
        }

    return Runner(
        "tensorflow_keras", inputs, outputs, run,
        properties={"keras_version": keras.__version__}, holds=[model, call],
    )
