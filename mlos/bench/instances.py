"""Model instances on the large conv net: MLOS over gRPC and IPC beside onnxruntime in process.

    python -m mlos.bench.instances [--seconds 10] [--concurrency 32] [--rounds 2]
                                   [--protocols grpc,ipc] [--json out]

Each round measures, one after the other on the same cores (the MLOS lines in reverse order
in even rounds):

* **floor**: two onnxruntime sessions (one intra-op thread each) driven by two threads in this
  process, with no transport: the most two cores give this model;
* **plain**, **x1**, **x2**: one `mlos serve` (loopback, no auth, a temporary home) serving the
  conv net (1x3x224x224 FP32 in, 600 KB) registered without scheduling, with
  `instance_count: 1` and with `instance_count: 2`, called by `--concurrency` callers over
  each protocol: over gRPC, asyncio callers on one channel (the generated stub, the input
  built once); over IPC, threads with a blocking `IPCClient` each (a direct channel to the
  plugin process, the input written into the channel's shared memory for every call, as the
  public client does): throughput and p50/p99 latency.

It prints one JSON line per measurement and, per round and protocol, the ratio x2 / floor (the
issue's target: at least 0.9) with the load average before and after. Beside each throughput it
gives the CPU milliseconds spent per inference (the floor's by this process; MLOS's by the server
with its plugin processes, and by this client): on a machine shared with other work the
throughputs follow the neighbours' load, the CPU per inference much less. The server's plugin
processes import the same `mlos`, `mlos_generated` and `mlos_plugins` as this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

import mlos
from mlos.bench.batching import onnxruntime_sessions
from mlos.bench.serving import onnx_server
from mlos.demo import CONV_INPUT_SHAPE, build_conv_model
from mlos.testing import ServerProcess

__all__ = ["Load", "grpc_load", "ipc_load", "main"]

MODELS = {"plain": {}, "x1": {"instance_count": 1}, "x2": {"instance_count": 2}}
"""The registrations measured, by name: the fields beside name, plugin and path."""


def _package_roots() -> list[str]:
    """Where this process imports MLOS, its generated code and its plugins from."""
    modules = [importlib.import_module(name) for name in ("mlos_generated", "mlos_plugins")]
    roots = {Path(module.__file__ or "").resolve().parents[1] for module in (mlos, *modules)}
    return sorted(str(root) for root in roots)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) used so far by a process and its living descendants."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@dataclass(frozen=True, slots=True)
class Load:
    """`concurrency` callers of `model`, measured for `seconds` after `warmup` seconds of the
    same load; `server_cpu` (when given) reads the CPU seconds the server has used so far."""

    model: str
    concurrency: int
    seconds: float
    warmup: float = 2.0
    server_cpu: Callable[[], float] | None = None


async def grpc_load(address: str, load: Load) -> dict[str, float]:
    """Throughput and p50/p99 latency (ms) of `load` over gRPC; with `load.server_cpu` also
    the CPU milliseconds per inference of the server with its plugins and of this client, over
    the measured window."""
    from mlos_generated import inference_pb2, inference_pb2_grpc

    model, concurrency, seconds = load.model, load.concurrency, load.seconds
    server_cpu = load.server_cpu
    data = np.random.default_rng(0).random(CONV_INPUT_SHAPE, dtype=np.float32)
    request = inference_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="input", datatype="FP32", shape=list(CONV_INPUT_SHAPE))
    request.raw_input_contents.append(data.tobytes())
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + load.warmup
    stop = start + seconds
    cpu: dict[str, tuple[float, float]] = {}

    def snapshot(when: str) -> None:
        used = server_cpu() if server_cpu is not None else 0.0
        cpu[when] = (used, time.process_time())

    loop.call_at(start, snapshot, "start")
    loop.call_at(stop, snapshot, "stop")
    async with grpc.aio.insecure_channel(address) as channel:
        stub: Any = inference_pb2_grpc.GRPCInferenceServiceStub(channel)  # typed as blocking

        async def caller() -> None:
            while (now := loop.time()) < stop:
                await stub.ModelInfer(request, timeout=120)
                if now >= start:
                    latencies.append(loop.time() - now)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return _summary(latencies, seconds, cpu if server_cpu is not None else {})


def ipc_load(url: str, load: Load) -> dict[str, float]:
    """:func:`grpc_load` over IPC: `load.concurrency` threads, each with its own blocking
    `IPCClient` (a direct channel; the input written into its shared memory every call)."""
    from mlos.client import IPCClient

    model, seconds, server_cpu = load.model, load.seconds, load.server_cpu
    data = np.random.default_rng(0).random(CONV_INPUT_SHAPE, dtype=np.float32)
    latencies: list[float] = []
    cpu: dict[str, tuple[float, float]] = {}
    start = time.monotonic() + load.warmup
    stop = start + seconds

    def snapshot(when: str) -> None:
        used = server_cpu() if server_cpu is not None else 0.0
        cpu[when] = (used, time.process_time())

    def caller() -> None:
        with IPCClient(url, timeout=120) as client:
            while (now := time.monotonic()) < stop:
                client.infer(model, {"input": data})
                if now >= start:
                    latencies.append(time.monotonic() - now)

    timers = [threading.Timer(start - time.monotonic(), snapshot, ("start",)),
              threading.Timer(stop - time.monotonic(), snapshot, ("stop",))]  # fmt: skip
    callers = [threading.Thread(target=caller) for _ in range(load.concurrency)]
    for thread in (*timers, *callers):
        thread.start()
    for thread in (*timers, *callers):
        thread.join()
    return _summary(latencies, seconds, cpu if server_cpu is not None else {})


def _summary(
    latencies: list[float], seconds: float, cpu: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Throughput, p50/p99 in ms, and (with `cpu` snapshots at the window's start and stop)
    the server's and this client's CPU milliseconds per inference."""
    ordered = sorted(latencies)
    if not ordered:
        return {"throughput": 0.0, "p50_ms": 0.0, "p99_ms": 0.0}
    result = {
        "throughput": len(ordered) / seconds,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }
    if len(cpu) == 2:
        count = len(ordered)
        result["server_cpu_ms"] = (cpu["stop"][0] - cpu["start"][0]) / count * 1000
        result["client_cpu_ms"] = (cpu["stop"][1] - cpu["start"][1]) / count * 1000
    return result


def _serve(home: Path, conv: Path) -> ServerProcess:
    """A started server with the conv net registered once per entry of MODELS."""
    registrations = {name: {"path": str(conv), **fields} for name, fields in MODELS.items()}
    return onnx_server(home, registrations, config={"plugin_python_path": _package_roots()})


def _measure(
    server: ServerProcess, protocol: str, model: str, args: argparse.Namespace,
    server_cpu: Callable[[], float],
) -> dict[str, float]:
    """One line: `model` under `args.concurrency` callers over `protocol`."""
    load = Load(model, args.concurrency, args.seconds, args.warmup, server_cpu)
    if protocol == "ipc":
        return ipc_load(server.ipc_url, load)
    return asyncio.run(grpc_load(server.grpc_address, load))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print (or write) its numbers."""
    parser = argparse.ArgumentParser(prog="python -m mlos.bench.instances", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--concurrency", type=int, default=32, help="callers")
    parser.add_argument(
        "--protocols", default="grpc,ipc", help="comma-separated subset of grpc,ipc"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every measurement")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    protocols = [name.strip() for name in args.protocols.split(",") if name.strip()]
    if not protocols or set(protocols) - {"grpc", "ipc"}:
        parser.error("--protocols: a comma-separated subset of grpc,ipc")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        models = home / "models"
        models.mkdir()
        conv = build_conv_model(models / "conv.onnx")
        server = _serve(home, conv)
        assert server.process is not None
        pid = server.process.pid
        try:
            for round_ in range(1, args.rounds + 1):
                before = os.getloadavg()[0]
                used = time.process_time()
                rate = onnxruntime_sessions(conv, 2, args.seconds)
                floor_cpu = (time.process_time() - used) / max(rate * args.seconds, 1) * 1000
                row: dict[str, Any] = {"round": round_, "load_before": before}
                row["floor"] = {"throughput": rate, "cpu_ms": floor_cpu}
                print(json.dumps({"round": round_, "floor": row["floor"]}), flush=True)
                # Even rounds go the other way, so that no registration is always measured
                # right after another's load (the x1 line's extra threads, say).
                names = list(MODELS) if round_ % 2 else list(reversed(MODELS))
                for protocol in protocols:
                    for name in names:
                        measured = _measure(server, protocol, name, args, lambda: tree_cpu(pid))
                        row[f"{name} {protocol}"] = measured
                        line = {"round": round_, "protocol": protocol, name: measured}
                        print(json.dumps(line), flush=True)
                    x2, x1 = row[f"x2 {protocol}"], row[f"x1 {protocol}"]
                    row[f"x2_over_floor {protocol}"] = x2["throughput"] / max(rate, 1e-9)
                    row[f"x2_over_x1 {protocol}"] = x2["throughput"] / max(
                        x1["throughput"], 1e-9
                    )
                row["load_after"] = os.getloadavg()[0]
                summary = {k: v for k, v in row.items() if k.startswith(("load", "x2_over"))}
                print(json.dumps({"round": round_, **summary}), flush=True)
                results.append(row)
        finally:
            server.stop()
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
