"""A plugin whose models probe their sandbox or misbehave on purpose, for the core's tests.

A model file `*.probe` holds one word, its behavior. Every model takes x (FP32 [-1, 4]) and
declares y (FP32 [-1, 4]), with max_batch_size 8; on infer it

* `double`: answers y = 2x, as a well-behaved model does;
* `alloc`: keeps allocating (and touching) 8 MiB blocks until the process is stopped;
* `files`: opens /dev/null until it cannot; y is filled with how many it opened;
* `fork`: starts child processes (each sleeps) until it cannot; y is how many it started;
* `cpus`: y is filled with the number of CPUs the process may run on;
* `exit`: ends the process with exit code 3;
* `wrong_shape`: answers y of shape [batch, 3]; `wrong_batch`: y of shape [batch + 1, 4];
* `report`: writes what the process sees (environment, working directory, import path, limits)
  as JSON to the file named by the model's config `report`, at load.

Run as an executable plugin (`python -m tests.sdk.probe_plugin --fd N`), the host itself
also misbehaves for the models `wrong_datatype` (y as FP64), `wrong_name` (z instead of y),
`extra_output` (y and z) and `short_contents` (y one element short).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.sdk import LoadedModel, ModelPlugin, ModelSpec, TensorSpec
from mlos.wire.method import CallContext
from mlos_generated import smi_pb2


class ProbeModel(LoadedModel):
    """One behavior (see the module documentation)."""

    platform = "test_probe"
    max_batch_size = 8

    def __init__(self, behavior: str) -> None:
        self.behavior = behavior
        self.hoard: list[Any] = []

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("x", "FP32", (-1, 4))]

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("y", "FP32", (-1, 4))]

    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        x = inputs["x"]
        batch = x.shape[0]
        behavior = self.behavior
        if behavior == "alloc":
            while True:
                self.hoard.append(np.ones(2 * 2**20, dtype=np.float32))
        if behavior == "files":
            return {"y": np.full((batch, 4), _open_files(), dtype=np.float32)}
        if behavior == "fork":
            return {"y": np.full((batch, 4), _fork_children(), dtype=np.float32)}
        if behavior == "exit":
            os._exit(3)
        if behavior == "cpus":
            count = len(os.sched_getaffinity(0))
            return {"y": np.full((batch, 4), count, dtype=np.float32)}
        if behavior == "wrong_shape":
            return {"y": np.zeros((batch, 3), dtype=np.float32)}
        if behavior == "wrong_batch":
            return {"y": np.zeros((batch + 1, 4), dtype=np.float32)}
        return {"y": x * np.float32(2)}


def _open_files(limit: int = 100_000) -> int:
    opened = []
    try:
        while len(opened) < limit:
            opened.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    finally:
        for fd in opened:
            os.close(fd)
    return len(opened)


def _fork_children(limit: int = 512) -> int:
    children = []
    try:
        while len(children) < limit:
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
    except OSError:
        pass
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return len(children)


def _report(path: str) -> None:
    lines = Path("/proc/self/status").read_text().splitlines()
    status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    report = {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "safe_path": sys.flags.safe_path,
        "uid": os.getuid(),
        "no_new_privs": status.get("NoNewPrivs", "").strip(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "data": resource.getrlimit(resource.RLIMIT_DATA)[0],
        "cpus": sorted(os.sched_getaffinity(0)),
        "cgroup": Path("/proc/self/cgroup").read_text(),
        "mlos": sys.modules["mlos"].__file__,
    }
    with open(path, "w") as file:
        json.dump(report, file)


class ProbePlugin(ModelPlugin):
    """Serves `.probe` files."""

    name = "probe"
    version = "0.0.1"
    formats = ("probe",)
    file_extensions = (".probe",)
    max_concurrency = 1

    def load(self, spec: ModelSpec) -> LoadedModel:
        behavior = spec.path.read_text().strip()
        if behavior == "report":
            _report(spec.config["report"])
        return ProbeModel(behavior)


def main() -> int:
    """Serve the probe plugin with a host that mangles the answers of some models."""
    from mlos.sdk import host as host_module

    class ProbeHost(host_module.PluginHost):
        async def infer(
            self, request: smi_pb2.InferRequest, context: CallContext
        ) -> smi_pb2.InferResponse:
            response = await super().infer(request, context)
            behavior = self.models[(request.model_name, request.model_version)][0]
            mangle = getattr(behavior, "behavior", "")
            y = response.outputs[0] if response.outputs else None
            if y is None:
                return response
            if mangle == "wrong_datatype":
                values = np.frombuffer(y.contents, dtype=np.float32).astype(np.float64)
                y.datatype, y.contents = "FP64", values.tobytes()
            elif mangle == "wrong_name":
                y.name = "z"
            elif mangle == "extra_output":
                response.outputs.add().CopyFrom(y)
                response.outputs[-1].name = "z"
            elif mangle == "short_contents":
                y.contents = y.contents[:-4]
            return response

    host_module.PluginHost = ProbeHost  # type: ignore[misc]
    return host_module.main(["--module", "tests.sdk.probe_plugin:ProbePlugin", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
