"""Per-plugin inference overhead above the framework's own call (docs/benchmarks.md).

    python -m mlos.bench.plugin_overhead [--requests 1000] [--json out.json]

For one small model per plugin and format (batch 1), it measures p50 and p99 latency in
microseconds of:

* ``framework``: the framework's own call, in process (`module(x)` under inference mode,
  a SavedModel signature, a traced Keras function, a TFLite signature runner,
  `InferenceSession.run`, the compiled NumPy expression);
* ``plugin``: the plugin's `LoadedModel.infer` in process (conversions at the seam);
* ``smi``: `Plugin.Infer` over SMI to the plugin in its own host process (one socket hop);
* ``rest``: a JSON `/v2` inference against `mlos serve` (HTTP, the core, then SMI).

The overhead columns are each level's p50 minus the framework's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

from mlos.bench.timing import call_times
from mlos.testing import ServerProcess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

X = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
SIGNATURE = json.dumps([{"name": "x", "datatype": "FP32", "shape": [-1, 4]}])
HEADERS = {"Content-Type": "application/json"}


@dataclass
class Case:
    """One model served by one plugin, and its framework-level call."""

    label: str
    plugin: str
    path: Path
    input_name: str = "x"
    config: dict[str, str] = field(default_factory=dict)
    framework: Callable[[], Any] | None = None
    results: dict[str, list[float]] = field(default_factory=dict)


def _torch_cases(root: Path) -> list[Case]:
    import torch

    torch.set_num_threads(1)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = torch.nn.Linear(4, 8)
            self.out = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.out(torch.relu(self.hidden(x))), dim=-1)

    net = Net().eval()
    example = torch.zeros(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(root / "net.pt"))
        program = torch.export.export(
            net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)
        )
        torch.export.save(program, str(root / "net.pt2"))
        torch.onnx.export(net, (example,), str(root / "net.onnx"), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
                          dynamo=False)
    script = torch.jit.load(str(root / "net.pt"))  # type: ignore[no-untyped-call]  # unannotated in torch
    exported = torch.export.load(str(root / "net.pt2")).module()
    x = torch.from_numpy(X)

    def run(module: Any) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode():
                return module(x).numpy()
        return call

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(root / "net.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    return [
        Case("torch TorchScript", "torch", root / "net.pt", config={"inputs": SIGNATURE,
             "intra_op_threads": "1"}, framework=run(script)),
        Case("torch torch.export", "torch", root / "net.pt2",
             config={"intra_op_threads": "1"}, framework=run(exported)),
        Case("onnx", "onnx", root / "net.onnx",
             framework=lambda: session.run(["y"], {"x": X})),
    ]


def _tensorflow_cases(root: Path) -> list[Case]:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="p")(hidden))
    model.save(root / "net.keras")
    model.export(str(root / "savedmodel"), verbose=False)
    (root / "net.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    signature = tf.saved_model.load(str(root / "savedmodel")).signatures["serving_default"]
    traced = tf.function(lambda t: model(t, training=False),
                         input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(root / "net.tflite"), num_threads=1)
    runner = interpreter.get_signature_runner("serving_default")
    return [
        Case("tensorflow SavedModel", "tensorflow", root / "savedmodel",
             framework=lambda: signature(x=tf.constant(X))["output_0"].numpy()),
        Case("tensorflow Keras", "tensorflow", root / "net.keras",
             framework=lambda: traced(tf.constant(X)).numpy()),
        Case("tensorflow TFLite", "tensorflow", root / "net.tflite",
             config={"intra_op_threads": "1"}, framework=lambda: runner(x=X)),
    ]


def _numpy_case(root: Path) -> list[Case]:
    from mlos_numpy_plugin import compile_expression

    path = root / "net.npexpr"
    path.write_text(json.dumps({
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "constants": {"w": np.ones((4, 3)).tolist()},
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3],
                     "expr": "softmax(x @ w, axis=-1)"}],
    }))
    expression = compile_expression("softmax(x @ w, axis=-1)", frozenset({"x", "w"}), "bench")
    env = {"x": X, "w": np.ones((4, 3), dtype=np.float32)}
    return [Case("numpy (third-party)", "numpy", path, framework=lambda: expression(env))]


def _timed(call: Callable[[], Any], count: int) -> list[float]:
    """Microseconds per call."""
    return [seconds * 1e6 for seconds in call_times(call, count, warmup=min(100, count))]


def measure_in_process(case: Case, count: int) -> None:
    """The framework call and the plugin's `infer`, in this process."""
    from mlos.sdk.base import ModelSpec
    from mlos.sdk.host import load_plugin_class

    assert case.framework is not None
    case.results["framework"] = _timed(case.framework, count)
    plugin = load_plugin_class(entry_point=case.plugin)()
    model = plugin.load(ModelSpec("bench", "1", case.path, case.config))
    inputs = {case.input_name: X}
    case.results["plugin"] = _timed(lambda: model.infer(inputs, []), count)
    model.unload()


async def _smi(case: Case, count: int) -> list[float]:
    from mlos.wire.channel import Channel
    from mlos.wire.tensors import from_numpy
    from mlos_generated import smi_ipc, smi_pb2

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlos.sdk.host", "--entry-point", case.plugin, "--fd",
         str(theirs.fileno())], pass_fds=[theirs.fileno()],
    )
    theirs.close()
    channel = await Channel.from_socket(ours, name=case.plugin)
    client = smi_ipc.PluginClient(channel)
    try:
        await client.load_model(smi_pb2.LoadModelRequest(
            name="bench", version="1", path=str(case.path), config=case.config), timeout=120)
        request = smi_pb2.InferRequest(model_name="bench", model_version="1",
                                       inputs=[from_numpy(case.input_name, X)])
        for _ in range(min(100, count)):
            await client.infer(request, timeout=30)
        samples = []
        for _ in range(count):
            start = time.perf_counter_ns()
            await client.infer(request, timeout=30)
            samples.append((time.perf_counter_ns() - start) / 1000)
        return samples
    finally:
        channel.close()
        await asyncio.sleep(0.2)
        if process.poll() is None:
            process.terminate()
        process.wait(30)


def measure_rest(cases: list[Case], count: int, home: Path) -> None:
    """JSON /v2 inference against a real `mlos serve`."""
    with ServerProcess(home) as server, requests.Session() as http:
        url = server.url
        http.trust_env = False
        for plugin in sorted({case.plugin for case in cases}):
            http.post(f"{url}/v1/plugins", json={"name": plugin}, timeout=60)
            http.post(f"{url}/v1/plugins/{plugin}/load", timeout=120).raise_for_status()
        for index, case in enumerate(cases):
            name = f"m{index}"
            http.post(f"{url}/v1/models", json={"name": name, "plugin": case.plugin,
                      "path": str(case.path), "config": case.config},
                      timeout=120).raise_for_status()
            body = json.dumps({"inputs": [{"name": case.input_name, "datatype": "FP32",
                                           "shape": [1, 4], "data": X.ravel().tolist()}]})
            endpoint = f"{url}/v2/models/{name}/infer"

            def call(endpoint: str = endpoint, body: str = body) -> None:
                http.post(endpoint, data=body, headers=HEADERS, timeout=30).raise_for_status()

            case.results["rest"] = _timed(call, count)


def _p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] if len(samples) > 1 else samples[0]


def table(cases: list[Case]) -> str:
    """The results as a Markdown table (µs)."""
    levels = ("framework", "plugin", "smi", "rest")
    head = ("| model | " + " | ".join(f"{lvl} p50 / p99" for lvl in levels)
            + " | plugin - fw | SMI - fw | REST - fw |")
    lines = [head, "|---" * (len(levels) + 4) + "|"]
    for case in cases:
        p50 = {lvl: statistics.median(case.results[lvl]) for lvl in levels}
        cells = [f"{p50[lvl]:.0f} / {_p(case.results[lvl], 99):.0f}" for lvl in levels]
        over = [f"{p50[lvl] - p50['framework']:+.0f}" for lvl in levels[1:]]
        lines.append(f"| {case.label} | " + " | ".join(cells + over) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed calls per level")
    parser.add_argument("--json", type=Path, help="write the raw percentiles here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlos-overhead-") as folder:
        root = Path(folder)
        cases = _torch_cases(root) + _tensorflow_cases(root) + _numpy_case(root)
        for case in cases:
            measure_in_process(case, args.requests)
            case.results["smi"] = asyncio.run(_smi(case, args.requests))
            print(f"measured {case.label}", file=sys.stderr)
        measure_rest(cases, args.requests, root / "home")
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}; batch 1, {args.requests} calls per level; µs")
    print(table(cases))
    if args.json:
        args.json.write_text(json.dumps({
            case.label: {lvl: {"p50": statistics.median(s), "p99": _p(s, 99)}
                         for lvl, s in case.results.items()}
            for case in cases
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
