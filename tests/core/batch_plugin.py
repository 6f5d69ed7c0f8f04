"""A plugin for the scheduler's tests: each execution tells what it saw.

A `.batch` file holds JSON options: `seconds` (how long each execution sleeps) and
`max_batch_size`. The model takes `x` FP32 [-1, 4] and answers `y = 2 * x` and three INT64
[-1, 1] outputs, the same on every row of one execution: `batch` (the rows the execution ran),
`seq` (the execution's number, from 1) and `running` (executions running at that moment).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.sdk import LoadedModel, ModelPlugin, ModelSpec, TensorSpec


class BatchProbe(LoadedModel):
    """y = 2 * x, with what the execution saw."""

    platform = "test_batch"

    def __init__(self, seconds: float, max_batch_size: int) -> None:
        self.seconds = seconds
        self.max_batch_size = max_batch_size
        self._lock = threading.Lock()
        self._seq = 0
        self._running = 0

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("x", "FP32", (-1, 4))]

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return [
            TensorSpec("y", "FP32", (-1, 4)),
            TensorSpec("batch", "INT64", (-1, 1)),
            TensorSpec("seq", "INT64", (-1, 1)),
            TensorSpec("running", "INT64", (-1, 1)),
        ]

    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        x = inputs["x"]
        with self._lock:
            self._seq += 1
            self._running += 1
            seq, running = self._seq, self._running
        try:
            time.sleep(self.seconds)
            with self._lock:
                running = max(running, self._running)
        finally:
            with self._lock:
                self._running -= 1
        rows = x.shape[0]
        column = np.ones((rows, 1), dtype=np.int64)
        return {
            "y": x * np.float32(2),
            "batch": column * rows,
            "seq": column * seq,
            "running": column * running,
        }


class BatchPlugin(ModelPlugin):
    """Serves `.batch` files."""

    name = "batchprobe"
    version = "0.0.1"
    formats = ("batch",)
    file_extensions = (".batch",)
    max_concurrency = 8
    instance_kind = "shared"  # one probe counts every execution of a model, all instances

    def load(self, spec: ModelSpec) -> LoadedModel:
        options = json.loads(spec.path.read_text())
        return BatchProbe(float(options.get("seconds", 0.0)), int(options.get("max_batch_size", 8)))
