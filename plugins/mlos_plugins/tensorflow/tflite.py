"""TFLite flatbuffers (``.tflite``), run by the LiteRT interpreter or TensorFlow's own.

A model with signatures is served through a signature runner (``serving_default``, the only
one, or config ``signature``) and its tensors are named by the signature's keys. A model
without signatures is served through its raw input and output tensors, named as the file
names them (often with ``:``, as in ``serving_default_x:0``). Dynamic dimensions are taken
from each tensor's ``shape_signature``; an input of a new shape resizes the interpreter.

An interpreter runs one inference at a time, so each model holds a lock; the interpreter's
``num_threads`` is the model's ``intra_op_threads``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlos.errors import InvalidArgument
from mlos.sdk.base import TensorSpec
from mlos_plugins.tensorflow.datatypes import datatype_for, dims
from mlos_plugins.tensorflow.runner import Array, Runner

__all__ = ["TFLITE_MAGIC", "is_tflite", "load_tflite"]

#: The flatbuffer file identifier of TFLite models, at bytes 4-8.
TFLITE_MAGIC = b"TFL3"


def is_tflite(path: Path) -> bool:
    """Whether the file at `path` is a TFLite flatbuffer."""
    try:
        with open(path, "rb") as stream:
            return stream.read(8)[4:8] == TFLITE_MAGIC
    except OSError:
        return False


def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"


def _spec(detail: Mapping[str, Any], name: str, role: str, file: Path) -> TensorSpec:
    datatype = datatype_for(detail["dtype"])
    if datatype is None or datatype == "BF16":
        raise InvalidArgument(f"{file}: {role} {name!r} has dtype {detail['dtype']}")
    shape = detail.get("shape_signature")
    if shape is None or len(shape) != len(detail["shape"]):
        shape = detail["shape"]
    return TensorSpec(name, datatype, dims([int(d) for d in shape]))


def _signature(signatures: Mapping[str, Any], wanted: str | None, file: Path) -> str:
    names = sorted(signatures)
    if wanted is not None:
        if wanted not in signatures:
            raise InvalidArgument(
                f"{file} has no signature {wanted!r} (it has: {', '.join(names)})"
            )
        return wanted
    if "serving_default" in signatures:
        return "serving_default"
    if len(names) == 1:
        return names[0]
    raise InvalidArgument(
        f"{file} has several signatures ({', '.join(names)}); set config signature"
    )


def load_tflite(file: Path, signature: str | None, threads: int) -> Runner:
    """Load a ``.tflite`` file as a runner."""
    interpreter_class, library = _interpreter_class()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter warns that LiteRT replaces it
        try:
            interpreter = interpreter_class(model_path=str(file), num_threads=threads)
        except ValueError as exc:
            raise InvalidArgument(
                f"{file} is not a TFLite model the interpreter reads: {exc}"
            ) from None
    lock = threading.Lock()
    signatures = interpreter.get_signature_list()
    properties = {"interpreter": library, "intra_op_threads": str(threads)}
    if signatures:
        chosen = _signature(signatures, signature, file)
        runner = interpreter.get_signature_runner(chosen)
        input_details = runner.get_input_details()
        output_details = runner.get_output_details()
        inputs = tuple(_spec(d, key, "input", file) for key, d in input_details.items())
        outputs = tuple(_spec(d, key, "output", file) for key, d in output_details.items())
        properties["signature"] = chosen

        def run_signature(arrays: Mapping[str, Array]) -> dict[str, Array]:
            with lock:
                result = runner(**{key: np.ascontiguousarray(a) for key, a in arrays.items()})
                return {key: np.array(value, copy=True) for key, value in result.items()}

        return Runner("tensorflow_tflite", inputs, outputs, run_signature, properties,
                      holds=[interpreter, runner])
    if signature is not None:
        raise InvalidArgument(f"{file} has no signatures; leave config signature out")
    interpreter.allocate_tensors()
    in_details = interpreter.get_input_details()
    out_details = interpreter.get_output_details()
    inputs = tuple(_spec(d, d["name"], "input", file) for d in in_details)
    outputs = tuple(_spec(d, d["name"], "output", file) for d in out_details)
    shapes = {d["name"]: tuple(int(x) for x in d["shape"]) for d in in_details}

    def run_tensors(arrays: Mapping[str, Array]) -> dict[str, Array]:
        with lock:
            resized = False
            for detail in in_details:
                shape = arrays[detail["name"]].shape
                if shapes[detail["name"]] != shape:
                    interpreter.resize_tensor_input(detail["index"], list(shape))
                    shapes[detail["name"]] = shape
                    resized = True
            if resized:
                interpreter.allocate_tensors()
            for detail in in_details:
                array = np.ascontiguousarray(arrays[detail["name"]])
                interpreter.set_tensor(detail["index"], array)
            interpreter.invoke()
            return {d["name"]: np.array(interpreter.get_tensor(d["index"])) for d in out_details}

    return Runner("tensorflow_tflite", inputs, outputs, run_tensors, properties,
                  holds=[interpreter])
