"""Tiny TensorFlow models for the tests, in every format the tensorflow plugin serves.

`save_keras_formats` writes one Keras network (4 → 8 → 3, softmax, seeded weights) as a
SavedModel (`Model.export`), a ``.keras`` file and a ``.tflite`` file, and returns it so tests
can compare with TensorFlow's own output. The other builders write SavedModels that exercise
strings, names with ``:`` and the TF1 loader: `save_tf1_dense` writes a TF1 graph through the
TF1 builder, `save_slot_export` a TF2 export whose object graph the TF2 loader cannot restore.
Both return their weights so the tests can compute the expected outputs with numpy.
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
import numpy as np
import numpy.typing as npt
import tensorflow as tf

__all__ = [
    "Dense",
    "save_keras_formats",
    "save_slot_export",
    "save_strings_v2",
    "save_tf1",
    "save_tf1_dense",
]


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


def datatypes() -> Any:
    """TF1 signature over several datatypes: BF16 ``h`` [-1], BOOL ``b`` [-1], UINT8 ``u``
    [-1, -1] → BF16 ``double`` (2h), FP16 ``half`` (h), BOOL ``not``, INT32 ``sum`` (of rows)."""
    h = tf.compat.v1.placeholder(tf.bfloat16, [None], name="h")
    b = tf.compat.v1.placeholder(tf.bool, [None], name="b")
    u = tf.compat.v1.placeholder(tf.uint8, [None, None], name="u")
    return tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
        {"h": h, "b": b, "u": u},
        {
            "double": h * 2,
            "half": tf.cast(h, tf.float16),
            "not": tf.logical_not(b),
            "sum": tf.reduce_sum(tf.cast(u, tf.int32), axis=1),
        },
    )


def shared_feed() -> Any:
    """Two signature inputs that feed one tensor: the TF2 loader cannot read this model."""
    a = tf.compat.v1.placeholder(tf.float32, [None, 2], name="a")
    return tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
        {"x": a, "x_again": a}, {"y": a * 2}
    )


class Dense:
    """Weights of a 4 → `hidden` (relu) → 3 network, and its outputs computed with numpy."""

    def __init__(self, hidden: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = rng.standard_normal((4, hidden)).astype(np.float32)
        self.b1 = rng.standard_normal(hidden).astype(np.float32)
        self.w2 = (rng.standard_normal((hidden, 3)) / np.sqrt(hidden)).astype(np.float32)
        self.b2 = rng.standard_normal(3).astype(np.float32)

    def __call__(self, x: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[Any]]:
        """The expected ``logits`` (FP32 [n, 3]) and ``label`` (INT64 [n]) for inputs `x`."""
        hidden = np.maximum(x @ self.w1 + self.b1, 0)
        logits = hidden @ self.w2 + self.b2
        return {"logits": logits, "label": logits.argmax(axis=1).astype(np.int64)}


def save_tf1_dense(path: Path, hidden: int = 8, seed: int = 0) -> tuple[Path, Dense]:
    """A pure TF1 export (graph + `SavedModelBuilder`, no object graph) of a `Dense` network.

    Signature ``serving_default``: ``x`` FP32 [-1, 4] → ``logits`` FP32 [-1, 3] and ``label``
    INT64 [-1]; the weights are variables restored from the export's checkpoint. An ``x`` that
    holds NaN or Inf fails at run time with the message "x holds NaN or Inf".
    """
    weights = Dense(hidden, seed)

    def build() -> Any:
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        w1 = tf.compat.v1.Variable(weights.w1, name="w1")
        b1 = tf.compat.v1.Variable(weights.b1, name="b1")
        w2 = tf.compat.v1.Variable(weights.w2, name="w2")
        b2 = tf.compat.v1.Variable(weights.b2, name="b2")
        finite = tf.debugging.check_numerics(x, "x holds NaN or Inf")
        logits = tf.matmul(tf.nn.relu(tf.matmul(finite, w1) + b1), w2) + b2
        label = tf.argmax(logits, axis=1, output_type=tf.int64)
        return tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
            {"x": x}, {"logits": logits, "label": label}
        )

    return save_tf1(path, build), weights


class _Trained(tf.Module):
    """A `Dense` network that took one step of a TF1-style (slot-holding) Adam optimizer."""

    def __init__(self, weights: Dense) -> None:
        super().__init__()
        self.w1 = tf.Variable(weights.w1)
        self.b1 = tf.Variable(weights.b1)
        self.w2 = tf.Variable(weights.w2)
        self.b2 = tf.Variable(weights.b2)
        self.optimizer = tf.compat.v1.train.AdamOptimizer(0.01)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def serve(self, x: Any) -> dict[str, Any]:
        hidden = tf.nn.relu(tf.matmul(x, self.w1) + self.b1)
        logits = tf.matmul(hidden, self.w2) + self.b2
        return {"logits": logits, "label": tf.argmax(logits, axis=1, output_type=tf.int64)}


def save_slot_export(path: Path, hidden: int = 8, seed: int = 1) -> tuple[Path, Dense]:
    """A TF2 export whose object graph holds optimizer slots the TF2 loader cannot restore.

    The module trains one step with `tf.compat.v1.train.AdamOptimizer`, so its saved object
    graph lists the optimizer (revived as a plain object) with slot variables; restoring it,
    `tf.saved_model.load` fails with ``'_UserObject' object has no attribute 'add_slot'``.
    Returns the trained weights; the signature is the one `save_tf1_dense` writes.
    """
    shutil.rmtree(path, ignore_errors=True)
    module = _Trained(Dense(hidden, seed))
    variables = [module.w1, module.b1, module.w2, module.b2]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(module.serve(tf.ones([2, 4]))["logits"] ** 2)
    module.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    trained = Dense(hidden, seed)
    trained.w1, trained.b1, trained.w2, trained.b2 = (v.numpy() for v in variables)
    return path, trained
