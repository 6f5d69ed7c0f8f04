"""A plugin for the instance tests: each call tells which instance ran it.

An `.inst` file holds JSON options: `parties` (how many calls must be inside the model at once
before any of them may return; 1: none waits), `seconds` (how long each call then sleeps) and
`timeout` (how long a call waits for the others before it fails). The model takes `x` FP32
[-1, 4] and answers INT64 [-1, 1] outputs: `instance` (the `ModelSpec.instance` of the copy
that ran the call), `threads` (its `ModelSpec.instance_threads(1)`) and `running` (calls inside
the model, over every copy, at the most while this one ran).
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


class _Shared:
    """What the copies of one model share: the barrier and the running count."""

    def __init__(self, parties: int, timeout: float) -> None:
        self.barrier = threading.Barrier(parties, timeout=timeout)
        self.lock = threading.Lock()
        self.running = 0


_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


class InstanceProbe(LoadedModel):
    """One copy of a model: answers its instance number."""

    platform = "test_instance"
    max_batch_size = 8

    def __init__(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        self.instance = spec.instance
        self.threads = spec.instance_threads(1)
        self.parties = int(options.get("parties", 1))
        self.seconds = float(options.get("seconds", 0.0))
        with _SHARED_LOCK:
            self.shared = _SHARED.setdefault(
                f"{spec.name}/{spec.version}",
                _Shared(self.parties, float(options.get("timeout", 20.0))),
            )

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("x", "FP32", (-1, 4))]

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec(name, "INT64", (-1, 1)) for name in ("instance", "threads", "running")]

    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        shared = self.shared
        with shared.lock:
            shared.running += 1
            running = shared.running
        try:
            if self.parties > 1:
                shared.barrier.wait()  # BrokenBarrierError when the others never come
            time.sleep(self.seconds)
            with shared.lock:
                running = max(running, shared.running)
        finally:
            with shared.lock:
                shared.running -= 1
        column = np.ones((inputs["x"].shape[0], 1), dtype=np.int64)
        return {
            "instance": column * self.instance,
            "threads": column * self.threads,
            "running": column * running,
        }


class InstancePlugin(ModelPlugin):
    """Serves `.inst` files, one copy per instance."""

    name = "instanceprobe"
    version = "0.0.1"
    formats = ("inst",)
    file_extensions = (".inst",)

    def load(self, spec: ModelSpec) -> LoadedModel:
        return InstanceProbe(spec, json.loads(spec.path.read_text()))
