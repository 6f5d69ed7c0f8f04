"""The ONNX plugin: serves ``.onnx`` models with onnxruntime."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar

import onnxruntime as ort

from mlos import __version__
from mlos.sdk.base import ModelPlugin, ModelSpec
from mlos.sdk.options import DEFAULT_MAX_BATCH_SIZE
from mlos.wire.tensors import DATATYPES
from mlos_plugins.onnx.datatypes import ONNX_DATATYPES
from mlos_plugins.onnx.model import OnnxModel
from mlos_plugins.onnx.options import CUDA_PROVIDER, SessionConfig
from mlos_plugins.onnx.session import model_file, open_session

__all__ = ["OnnxPlugin"]


class OnnxPlugin(ModelPlugin):
    """Loads ONNX models into onnxruntime sessions, one per model version and instance.

    A model registered with `instance_count` N is N sessions (copies), each with the cores the
    model was granted split among them as intra-op threads (unless `intra_op_threads` is
    configured): two instances on two cores are two one-thread sessions, each running one
    call at a time on its own thread.

    Model `config` options are listed in `mlos_plugins.onnx.options`. Every Open Inference
    Protocol datatype is served: BYTES as ONNX strings (UTF-8) and BF16 as raw bit patterns.
    """

    name: ClassVar[str] = "onnx"
    version: ClassVar[str] = __version__
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    file_extensions: ClassVar[tuple[str, ...]] = (".onnx",)
    datatypes: ClassVar[tuple[str, ...]] = tuple(
        name for name in DATATYPES if name in ONNX_DATATYPES.values()
    )
    # Sessions run one intra-op thread by default, so requests side by side use the cores.
    max_concurrency: ClassVar[int] = max(2, os.cpu_count() or 2)
    max_batch_size: ClassVar[int] = DEFAULT_MAX_BATCH_SIZE
    gpu: ClassVar[bool] = CUDA_PROVIDER in ort.get_available_providers()

    def load(self, spec: ModelSpec) -> OnnxModel:
        """Open `spec.path` (a file, or a directory with one model); all-or-nothing."""
        config = SessionConfig.parse(spec.config)
        if "intra_op_threads" not in spec.config:
            threads = spec.instance_threads(config.intra_op_threads)
            config = dataclasses.replace(config, intra_op_threads=threads)
        file = model_file(Path(spec.path))
        session = open_session(file, config)
        try:
            return OnnxModel(session, spec, file, config)
        except BaseException as exc:
            # The traceback's frames still hold the session; drop them so that nothing of a
            # failed load outlives this call.
            del session
            raise exc.with_traceback(None) from exc.__cause__
