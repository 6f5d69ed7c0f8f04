"""Tiny TensorFlow models for the tests, in every format the tensorflow plugin serves.

`save_keras_formats` writes one Keras network (4 → 8 → 3, softmax, seeded weights) as a
SavedModel (`Model.export`), a ``.keras`` file and a ``.tflite`` file, and returns it so tests
can compare with TensorFlow's own output. The other builders write SavedModels that exercise
strings, names with ``:`` and the TF1 loader.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

__all__ = ["save_keras_formats", "save_strings_v2", "save_tf1"]


def keras_net() -> Any:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(hidden)
    return keras.Model(inputs, outputs)


def save_keras_formats(root: Path) -> tuple[Any, dict[str, Path]]:
    """The network, and its SavedModel directory, .keras file and .tflite file."""
    model = keras_net()
    paths = {
        "savedmodel": root / "savedmodel",
        "keras": root / "net.keras",
        "tflite": root / "net.tflite",
    }
    model.save(paths["keras"])
    model.export(str(paths["savedmodel"]), verbose=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    paths["tflite"].write_bytes(converter.convert())
    return model, paths


class _Upper(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def upper(self, text: Any) -> dict[str, Any]:
        return {"upper": tf.strings.upper(text), "length": tf.strings.length(text)}


def save_strings_v2(path: Path) -> Path:
    """A TF2 SavedModel: BYTES `text` → BYTES `upper` and INT32 `length`."""
    module = _Upper()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.upper})
    return path


def save_tf1(path: Path, build: Callable[[], Any]) -> Path:
    """A SavedModel written by the TF1 builder, with the signature `build` returns."""
    shutil.rmtree(path, ignore_errors=True)
    graph = tf.Graph()
    with graph.as_default():
        signature = build()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature}
            )
            builder.save()
    return path


def colon_names() -> Any:
    """TF1 signature keyed "a:0" (FP32 [-1, 2]) and "text" (BYTES) → "y:0" and "upper"."""
    a = tf.compat.v1.placeholder(tf.float32, [None, 2], name="a")
    text = tf.compat.v1.placeholder(tf.string, [None], name="text")
    weights = tf.compat.v1.Variable([[1.0], [2.0]], name="w")
    y = tf.matmul(a, weights, name="y")
    upper = tf.strings.upper(text, name="up")
    return tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
        {"a:0": a, "text": text}, {"y:0": y, "upper": upper}
    )


def shared_feed() -> Any:
    """Two signature inputs that feed one tensor: the TF2 loader cannot read this model."""
    a = tf.compat.v1.placeholder(tf.float32, [None, 2], name="a")
    return tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
        {"x": a, "x_again": a}, {"y": a * 2}
    )
