"""What checking plugin answers against the model's metadata costs (docs/benchmarks.md).

    .venv/bin/python -m mlos.bench.output_check [--calls 2000] [--rounds 6] [--json out.json]

1. ``check``: :func:`mlos.validation.check_infer_response` alone, on a right answer of the demo
   MLP (one FP32 output of 1x10) and of a model with two outputs: µs per call; beside it, for
   scale, the request check every call already had (:func:`~mlos.validation.check_infer_request`
   on the demo MLP's 1x64 input).
2. ``infer``: one small inference through a real engine in this process and the onnx plugin
   in its own (the demo MLP, batch 1, 1x64 FP32 in, 1x10 out), with the check on and off (off:
   replaced by a function that does nothing), in alternating rounds so that both see the same
   machine: p50 and p99 in µs over every call of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import numpy as np

from mlos.config import Settings
from mlos.core import exchange
from mlos.core.engine import Engine
from mlos.demo import build_demo_model
from mlos.validation import check_infer_request, check_infer_response
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2


def _metadata(outputs: list[tuple[str, list[int]]]) -> smi_pb2.ModelMetadata:
    return smi_pb2.ModelMetadata(
        name="m",
        version="1",
        max_batch_size=8,
        inputs=[smi_pb2.TensorMetadata(name="input", datatype="FP32", shape=[-1, 64])],
        outputs=[
            smi_pb2.TensorMetadata(name=name, datatype="FP32", shape=shape)
            for name, shape in outputs
        ],
    )


def check_alone(loops: int) -> dict[str, float]:
    """µs per call of the check on a right answer, for one and for two outputs."""
    results = {}
    for label, outputs in (
        ("one_output", [("output", [-1, 10])]),
        ("two_outputs", [("logits", [-1, 10]), ("label", [-1, 1])]),
    ):
        metadata = _metadata(outputs)
        request = smi_pb2.InferRequest(model_name="m")
        response = smi_pb2.InferResponse(model_name="m")
        for name, shape in outputs:
            response.outputs.add(
                name=name, datatype="FP32", shape=[1, shape[1]], contents=bytes(4 * shape[1])
            )

        def run(
            response: smi_pb2.InferResponse = response,
            request: smi_pb2.InferRequest = request,
            metadata: smi_pb2.ModelMetadata = metadata,
        ) -> None:
            check_infer_response(response, request, metadata, batch=1, plugin="onnx")

        best = min(timeit.repeat(run, number=loops, repeat=5))
        results[label] = best / loops * 1e6
    metadata = _metadata([("output", [-1, 10])])
    request = smi_pb2.InferRequest(model_name="m")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 64], contents=bytes(256))
    timings = timeit.repeat(lambda: check_infer_request(request, metadata), number=loops, repeat=5)
    results["request_check"] = min(timings) / loops * 1e6
    return results


def _skip(*args: Any, **kwargs: Any) -> None:
    """The check switched off."""


async def infer_on_off(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """p50/p99 µs of Engine.infer for the demo MLP with the check on and off."""
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        model = build_demo_model(home / "models" / "mlp.onnx")
        engine = Engine(Settings(home=home, log_level="warning"))
        await engine.start()
        try:
            await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="onnx"))
            await engine.load_plugin("onnx")
            await engine.register_model(
                smi_pb2.RegisterModelRequest(name="mlp", plugin="onnx", path=str(model))
            )
            x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
            tensor = from_numpy("input", x)
            samples: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(200):  # warm up both sides
                await engine.infer(smi_pb2.InferRequest(model_name="mlp", inputs=[tensor]))
            for index in range(rounds * 2):
                mode = "on" if index % 2 == 0 else "off"
                exchange.check_infer_response = (  # type: ignore[attr-defined]  # swapped to time the engine without it
                    check_infer_response if mode == "on" else _skip
                )
                for _ in range(calls):
                    request = smi_pb2.InferRequest(model_name="mlp", inputs=[tensor])
                    started = time.perf_counter_ns()
                    await engine.infer(request)
                    samples[mode].append((time.perf_counter_ns() - started) / 1000)
        finally:
            exchange.check_infer_response = check_infer_response  # type: ignore[attr-defined]  # put back
            await engine.stop()
    return {
        mode: {
            "p50": statistics.median(values),
            "p99": statistics.quantiles(values, n=100)[98],
            "calls": len(values),
        }
        for mode, values in samples.items()
    }


def main() -> None:
    """Run both measurements and print them (and write them as JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="inferences per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds with the check on (and off)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    alone = check_alone(20_000)
    engine = asyncio.run(infer_on_off(args.calls, args.rounds))
    results = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "check_us": alone,
        "infer_us": engine,
    }
    for label, micros in alone.items():
        print(f"check, {label:13} {micros:6.2f} µs per call")
    for mode, numbers in engine.items():
        p50, p99, calls = numbers["p50"], numbers["p99"], numbers["calls"]
        print(f"infer, check {mode:3}  p50 {p50:7.1f} µs  p99 {p99:7.1f} µs  ({calls:.0f} calls)")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
