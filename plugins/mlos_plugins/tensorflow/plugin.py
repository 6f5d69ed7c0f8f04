"""The tensorflow plugin: SavedModel directories, Keras ``.keras`` files and ``.tflite`` files."""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import tensorflow as tf

from mlos import __version__
from mlos.errors import InvalidArgument
from mlos.sdk.base import ModelPlugin, ModelSpec
from mlos.sdk.options import DEFAULT_MAX_BATCH_SIZE
from mlos_plugins.tensorflow.datatypes import DATATYPES
from mlos_plugins.tensorflow.model import TensorFlowModel
from mlos_plugins.tensorflow.options import TensorFlowConfig
from mlos_plugins.tensorflow.runner import Runner
from mlos_plugins.tensorflow.savedmodel import is_saved_model, load_saved_model
from mlos_plugins.tensorflow.tflite import is_tflite, load_tflite

__all__ = ["TensorFlowPlugin", "model_path"]

log = logging.getLogger(__name__)

ACCEPTED = (
    "the tensorflow plugin loads SavedModel directories (with saved_model.pb), Keras .keras "
    "files and .tflite files"
)
#: Loading errors that mean "this is not a model TensorFlow can read".
BAD_MODEL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    TypeError,
    KeyError,
    tf.errors.OpError,
)


def model_path(path: Path) -> Path:
    """The model a path names: a SavedModel directory, a .keras or a .tflite file."""
    if path.is_file():
        if path.name in ("saved_model.pb", "saved_model.pbtxt"):
            return path.parent
        return path
    if not path.is_dir():
        raise InvalidArgument(f"{path}: no such file or directory")
    if is_saved_model(path):
        return path
    found = sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".keras", ".tflite")
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidArgument(f"{path} is a directory without a TensorFlow model; {ACCEPTED}")
    raise InvalidArgument(
        f"{path} holds several models ({', '.join(p.name for p in found)}); name the file"
    )


class TensorFlowPlugin(ModelPlugin):
    """Serves TensorFlow models: SavedModel (TF2 or TF1), Keras and TFLite.

    Model `config` options are listed in `mlos_plugins.tensorflow.options`.

    A model registered with `instance_count` N is loaded once and shared: up to N calls run
    on it at once (TensorFlow's functions are thread-safe and its thread pools are the
    process's; a TFLite interpreter still runs one call at a time).
    """

    name: ClassVar[str] = "tensorflow"
    version: ClassVar[str] = __version__
    formats: ClassVar[tuple[str, ...]] = ("savedmodel", "keras", "tflite")
    # A SavedModel directory holds saved_model.pb: the core picks this plugin for a directory
    # holding a file with one of these extensions.
    file_extensions: ClassVar[tuple[str, ...]] = (".keras", ".tflite", ".pb", ".pbtxt")
    datatypes: ClassVar[tuple[str, ...]] = tuple(DATATYPES)
    max_concurrency: ClassVar[int] = 2
    instance_kind: ClassVar[str] = "shared"
    max_batch_size: ClassVar[int] = DEFAULT_MAX_BATCH_SIZE

    def __init__(self) -> None:
        """Quiet TensorFlow's Python logging; the first model loaded sizes its thread pools.

        The objects TensorFlow's import created live as long as the process, so they are
        moved out of the garbage collector's sight (`gc.freeze`): the collection that each
        unload runs then takes milliseconds instead of a third of a second.
        """
        tf.get_logger().setLevel(logging.ERROR)
        self._threads: int | None = None
        gc.freeze()

    def close(self) -> None:
        """Hide every object from the collector before the process exits (a faster exit)."""
        gc.freeze()

    def _process_threads(self, wanted: int) -> int:
        """Size TensorFlow's process-wide pools once; later models share them."""
        if self._threads is None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(wanted)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                log.warning("TensorFlow's thread pools were sized before the first model load")
            self._threads = tf.config.threading.get_intra_op_parallelism_threads() or wanted
        elif wanted != self._threads:
            log.warning(
                "intra_op_threads=%d: TensorFlow models share this process's pools of %d",
                wanted, self._threads,
            )
        return self._threads

    def load(self, spec: ModelSpec) -> TensorFlowModel:
        """Load `spec.path`; all-or-nothing."""
        config = TensorFlowConfig.parse(spec.config)
        path = model_path(Path(spec.path))
        try:
            runner = self._open(path, config)
        except InvalidArgument:
            raise
        except BAD_MODEL_ERRORS as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise InvalidArgument(
                f"{path}: TensorFlow {tf.__version__} cannot load it: "
                f"{' '.join(message.split())[:500]}"
            ) from exc
        try:
            return TensorFlowModel(runner, spec, path, config)
        except BaseException as exc:
            runner.close()
            del runner
            raise exc.with_traceback(None) from exc.__cause__

    def _open(self, path: Path, config: TensorFlowConfig) -> Runner:
        if path.is_dir():
            # TF1 sessions run on the same process-wide operator pool as TF2 functions: the
            # first session or eager context sizes it, so a session is given that size.
            threads = self._process_threads(config.intra_op_threads)
            runner = load_saved_model(path, replace(config, intra_op_threads=threads))
            runner.properties["intra_op_threads"] = str(threads)
            return runner
        if path.suffix.lower() == ".tflite" or is_tflite(path):
            return load_tflite(path, config.signature, config.intra_op_threads)
        if path.suffix.lower() == ".keras":
            from mlos_plugins.tensorflow.keras_file import load_keras

            threads = self._process_threads(config.intra_op_threads)
            runner = load_keras(path)
            runner.properties["intra_op_threads"] = str(threads)
            return runner
        raise InvalidArgument(f"{path} is not a TensorFlow model; {ACCEPTED}")
