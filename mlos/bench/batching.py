"""Dynamic batching and instances under load, with Triton's perf_analyzer as the client.

    python -m mlos.bench.batching [--window-ms 2000] [--delay-us 500] [--json out.json]

Against one `mlos serve` (loopback, a temporary home, no auth: the numbers are the data path's)
it measures throughput and p50/p99 latency:

* the demo MLP (64 → 256 → 10) at concurrency 8 and 32, over REST (binary tensors) and gRPC,
  registered twice from one file: without scheduling (`mlp`) and with dynamic batching
  (`mlp_batched`, `max_queue_delay_us` from `--delay-us`);
* the benchmark's conv network (1x3x224x224 FP32 in) at concurrency 32 over gRPC without
  scheduling (`conv`: requests go to the plugin as they come), with one instance (`conv_x1`)
  and with two (`conv_x2`), beside two onnxruntime sessions (one thread each) driven by two
  threads in this process: the in-process ceiling on the same cores.

With `--engine` it measures the same models inside one process first, through `Engine.infer`
with 32 concurrent callers (no transport, no load generator): throughput and the core's CPU time
per request, which shows what the scheduler itself changes.

perf_analyzer comes from `tools/perf_analyzer.sh` (or `$MLOS_PERF_ANALYZER`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import requests

from mlos.bench.perf_analyzer import PerfAnalyzer, PerfReport, PerfRow, PerfRun
from mlos.bench.serving import onnx_server
from mlos.demo import CONV_INPUT_SHAPE, build_conv_model, build_demo_model
from mlos.testing import ServerProcess

__all__ = ["engine_numbers", "main", "onnxruntime_sessions"]

INSTALLED = Path(".perf_analyzer/bin/perf_analyzer")


def _row(row: PerfRow) -> dict[str, float]:
    return {"throughput": row.throughput, "p50_ms": row.p50_us / 1000, "p99_ms": row.p99_us / 1000}


def _server_cpu(server: ServerProcess, model: str) -> tuple[float, float, int, float]:
    """CPU seconds so far of the core process and of its plugin processes, the inference
    requests `model` has answered (its statistics), and the CPU seconds of this process's
    ended children (perf_analyzer's, once it has exited)."""
    import psutil

    assert server.process is not None
    core = psutil.Process(server.process.pid)
    times = core.cpu_times()
    plugins = 0.0
    for child in core.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            plugins += child_times.user + child_times.system
    stats = requests.get(f"{server.url}/v2/models/{model}/stats", timeout=30).json()
    answered = int(stats["model_stats"][0]["inference_stats"]["success"]["count"])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (times.user + times.system, plugins, answered,
            children.ru_utime + children.ru_stime)  # fmt: skip


def _cpu_per_request(
    before: tuple[float, float, int, float], server: ServerProcess, model: str
) -> dict[str, float]:
    """Microseconds of CPU per request answered since `before`, in the core, in plugins and
    in the client (perf_analyzer, run and ended in between)."""
    core, plugins, answered, client = _server_cpu(server, model)
    count = max(1, answered - before[2])
    return {
        "core_cpu_us": (core - before[0]) / count * 1e6,
        "plugin_cpu_us": (plugins - before[1]) / count * 1e6,
        "client_cpu_us": (client - before[3]) / count * 1e6,
    }


def onnxruntime_sessions(path: Path, sessions: int, seconds: float) -> float:
    """Inferences per second of `sessions` onnxruntime sessions (one intra-op thread each),
    each driven by its own thread for `seconds`."""
    import onnxruntime

    data = np.random.default_rng(0).random(CONV_INPUT_SHAPE, dtype=np.float32)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    runners = [
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(sessions)
    ]
    for runner in runners:
        runner.run(None, {"input": data})
    counts = [0] * sessions
    stop = time.perf_counter() + seconds

    def drive(index: int) -> None:
        runner = runners[index]
        while time.perf_counter() < stop:
            runner.run(None, {"input": data})
            counts[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)



async def engine_numbers(
    mlp: Path, conv: Path | None, delay_us: int, seconds: float
) -> dict[str, dict[str, float]]:
    """Throughput and core CPU per request of `Engine.infer` with 32 concurrent callers, for
    each registration of the benchmark's models."""
    from mlos.config import Settings
    from mlos.core.engine import Engine
    from mlos.wire.tensors import from_numpy
    from mlos_generated import smi_pb2

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as home:
        roots = (mlp.parent,) if conv is None else (mlp.parent, conv.parent)
        engine = Engine(Settings(home=Path(home), log_level="warning", model_roots=roots))
        await engine.start()
        try:
            await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="onnx"))
            await engine.load_plugin("onnx")
            cases: list[tuple[str, Path, Any]] = [
                ("mlp", mlp, None), ("mlp_batched", mlp, {"max_queue_delay_us": delay_us})
            ]
            if conv is not None:
                cases += [("conv", conv, None), ("conv_x1", conv, 1), ("conv_x2", conv, 2)]
            rng = np.random.default_rng(0)
            for name, path, scheduling in cases:
                request = smi_pb2.RegisterModelRequest(name=name, plugin="onnx", path=str(path))
                if isinstance(scheduling, dict):
                    request.dynamic_batching.max_queue_delay_us = scheduling["max_queue_delay_us"]
                elif isinstance(scheduling, int):
                    request.instance_count = scheduling
                await engine.register_model(request)
                shape = (1, 64) if path == mlp else CONV_INPUT_SHAPE
                tensor = from_numpy("input", rng.random(shape, dtype=np.float32))
                done = 0
                stop = time.perf_counter() + seconds

                async def caller(
                    model: str = name, tensor: Any = tensor, stop: float = stop
                ) -> None:
                    nonlocal done
                    while time.perf_counter() < stop:
                        infer = smi_pb2.InferRequest(model_name=model, inputs=[tensor])
                        await engine.infer(infer)
                        done += 1

                cpu, started = time.process_time(), time.perf_counter()
                await asyncio.gather(*(caller() for _ in range(32)))
                elapsed = time.perf_counter() - started
                results[f"{name}/engine/c32"] = {
                    "throughput": done / elapsed,
                    "core_cpu_us": (time.process_time() - cpu) / max(done, 1) * 1e6,
                }
                print(f"{name}/engine/c32", json.dumps(results[f"{name}/engine/c32"]), flush=True)
        finally:
            await engine.stop()
    return results


def _perf(
    analyzer: PerfAnalyzer, args: argparse.Namespace, model: str, url: str, protocol: str,
    concurrency: tuple[int, ...], window_ms: int,
) -> PerfReport:  # fmt: skip
    run = PerfRun(
        model,
        url,
        protocol=protocol,  # type: ignore[arg-type]
        concurrency=concurrency,
        window_ms=window_ms,
        stability=args.stability,
        max_trials=10,
    )
    return analyzer.run(run)


def _serve_and_measure(
    analyzer: PerfAnalyzer, args: argparse.Namespace, home: Path, mlp: Path, conv: Path | None
) -> dict[str, dict[str, float]]:
    """Start `mlos serve`, register the models, and run perf_analyzer against each."""
    results: dict[str, dict[str, float]] = {}
    batching = {"max_queue_delay_us": args.delay_us}
    registrations: dict[str, dict[str, Any]] = {
        "mlp": {"path": str(mlp)},
        "mlp_batched": {"path": str(mlp), "dynamic_batching": batching},
    }
    if conv is not None:
        for name, fields in (("conv", {}), ("conv_x1", {"instance_count": 1}),
                             ("conv_x2", {"instance_count": 2})):  # fmt: skip
            registrations[name] = {"path": str(conv), **fields}
    server = onnx_server(home, registrations)
    try:
        urls = {"http": server.url.removeprefix("http://"), "grpc": server.grpc_address}
        for protocol, url in urls.items():
            for model in ("mlp", "mlp_batched"):
                for level in (8, 32):
                    before = _server_cpu(server, model)
                    report = _perf(analyzer, args, model, url, protocol, (level,), args.window_ms)
                    key = f"{model}/{protocol}/c{level}"
                    cpu = _cpu_per_request(before, server, model)
                    results[key] = {**_row(report.rows[0]), **cpu}
                    print(key, json.dumps(results[key]), flush=True)
        if conv is not None:
            for model in ("conv", "conv_x1", "conv_x2"):
                window = args.window_ms * 2
                report = _perf(analyzer, args, model, urls["grpc"], "grpc", (32,), window)
                key = f"{model}/grpc/c32"
                results[key] = _row(report.rows[0])
                print(key, json.dumps(results[key]), flush=True)
    finally:
        server.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print (or write) its numbers."""
    parser = argparse.ArgumentParser(prog="python -m mlos.bench.batching", description=__doc__)
    parser.add_argument("--window-ms", type=int, default=2000, help="measurement window")
    parser.add_argument("--delay-us", type=int, default=500, help="max_queue_delay_us")
    parser.add_argument(
        "--stability", type=int, default=50,
        help="percent within which windows must agree (a busy machine needs more)",
    )  # fmt: skip
    parser.add_argument("--skip-conv", action="store_true", help="only the small model")
    parser.add_argument("--engine", action="store_true", help="also measure in process")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    analyzer = PerfAnalyzer.find([INSTALLED])
    if analyzer is None:
        raise SystemExit("perf_analyzer is not installed (bash tools/perf_analyzer.sh)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        models = home / "models"
        models.mkdir()
        mlp = build_demo_model(models / "mlp.onnx")
        conv = None if args.skip_conv else build_conv_model(models / "conv.onnx")
        if args.engine:
            seconds = args.window_ms / 1000 * 2
            results.update(asyncio.run(engine_numbers(mlp, conv, args.delay_us, seconds)))
        results.update(_serve_and_measure(analyzer, args, home, mlp, conv))
        if conv is not None:
            rate = onnxruntime_sessions(conv, 2, args.window_ms / 1000 * 3)
            results["conv/onnxruntime/2-sessions"] = {"throughput": rate}
            print("conv/onnxruntime/2-sessions", json.dumps({"throughput": rate}), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
