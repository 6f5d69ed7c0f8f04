"""SavedModels served by TensorFlow's v1 loader: one signature run in a `tf.compat.v1.Session`.

`load_session` reads the MetaGraph with `tf.compat.v1.saved_model.loader.load` into a graph of
its own, restores the variables into one session and finalizes the graph, so nothing can add
operations to it later. The signature's inputs and outputs are `TensorInfo`s: each key becomes a
tensor of the model, fed or fetched by the graph tensor it names (``serving_default_x:0``,
``StatefulPartitionedCall:0``...). Only dense tensors are served; a signature with sparse or
composite tensors is refused.

Every inference of the model runs in the one session (`Session.run` may be called from several
threads at once). `SharedSession.close` waits for the runs in flight, then closes the session,
so an unload never pulls the session out from under a running call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import TensorSpec
from mlos_plugins.tensorflow.datatypes import datatype_for, dims, from_tensor
from mlos_plugins.tensorflow.runner import Array, Runner

__all__ = ["SharedSession", "load_session"]

_BF16 = tf.bfloat16.as_numpy_dtype


class SharedSession:
    """A `tf.compat.v1.Session` run by many threads and closed once none is running."""

    def __init__(self, session: Any) -> None:
        """Share `session`, which this object now owns."""
        self._session = session
        self._state = threading.Condition()
        self._running = 0
        self._closed = False

    def run(self, fetches: Mapping[str, str], feed: Mapping[str, Array]) -> dict[str, Any]:
        """Fetch `fetches` (key → tensor name) with `feed` (tensor name → array)."""
        with self._state:
            if self._closed:
                raise NotFound("the model was unloaded; its session is closed")
            self._running += 1
        try:
            result: dict[str, Any] = self._session.run(dict(fetches), feed_dict=dict(feed))
            return result
        finally:
            with self._state:
                self._running -= 1
                if not self._running:
                    self._state.notify_all()

    def close(self) -> None:
        """Refuse new runs, wait for those in flight, close the session. Idempotent."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._state.wait_for(lambda: not self._running)
        self._session.close()


def _spec(key: str, info: Any, role: str, where: Path, signature: str) -> TensorSpec:
    if info.WhichOneof("encoding") != "name":
        raise InvalidArgument(
            f"{where}: signature {signature!r} {role} {key!r} is a sparse or composite tensor; "
            "MLOS serves dense tensors only"
        )
    dtype = tf.as_dtype(info.dtype)
    datatype = datatype_for(dtype)
    if datatype is None:
        raise InvalidArgument(
            f"{where}: {role} {key!r} has dtype {dtype.name}, which MLOS cannot serve"
        )
    shape = tf.TensorShape(info.tensor_shape)
    return TensorSpec(key, datatype, dims(None if shape.rank is None else shape.as_list()))


def _open(directory: Path, tags: Sequence[str], threads: int) -> tuple[Any, Any, Any]:
    """A graph, a session holding the restored variables, and the MetaGraph loaded."""
    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(session, list(tags), str(directory))
        graph.finalize()
    except BaseException:
        session.close()
        raise
    return graph, session, meta


def load_session(directory: Path, tags: Sequence[str], signature: str, threads: int) -> Runner:
    """Load the MetaGraph tagged `tags` and serve its `signature` through one session.

    `threads` sizes the session's operator pool; TensorFlow creates that pool once per
    process, so it must be the size the process's other models use.
    """
    graph, session, meta = _open(directory, tags, threads)
    shared = SharedSession(session)
    try:
        definition = meta.signature_def[signature]
        inputs = tuple(
            _spec(key, info, "input", directory, signature)
            for key, info in definition.inputs.items()
        )
        outputs = tuple(
            _spec(key, info, "output", directory, signature)
            for key, info in definition.outputs.items()
        )
    except BaseException:
        shared.close()
        raise
    feeds = [
        (spec.name, definition.inputs[spec.name].name, spec.datatype == "BF16")
        for spec in inputs
    ]
    fetches = {key: info.name for key, info in definition.outputs.items()}

    def run(arrays: Mapping[str, Array]) -> dict[str, Array]:
        feed: dict[str, Array] = {}
        fed_by: dict[str, str] = {}
        for key, tensor, bf16 in feeds:
            array = arrays[key]
            if bf16:
                array = array.view(_BF16)
            if tensor in feed and not np.array_equal(feed[tensor], array):
                raise InvalidArgument(
                    f"inputs {fed_by[tensor]!r} and {key!r} feed the same tensor {tensor} "
                    "and must be equal"
                )
            feed[tensor] = array
            fed_by[tensor] = key
        result = shared.run(fetches, feed)
        return {key: from_tensor(value, key) for key, value in result.items()}

    return Runner(
        "tensorflow_savedmodel", inputs, outputs, run, close=shared.close, holds=[graph, shared]
    )
