"""Health checks and registrations: p50 and the server's CPU per call (docs/benchmarks.md).

    python -m mlos.bench.control_plane [--requests 2000] [--registrations 100]

Starts `mlos serve` in a temporary home (busy polling off, so that the server's CPU time is
its work alone) and measures from this process, p50 in milliseconds and the server's user +
system CPU time per call in microseconds (the kernel's accounting, `psutil`):

* over gRPC, `grpc.health.v1.Health/Check`, `ServerLive`, `ServerReady` and `MLOS.Health`,
  beside the floor: grpcio's asyncio server on uvloop answering a 20-byte generic unary call
  (the ``grpc echo`` of :mod:`mlos.bench.floors`, nothing of MLOS on the path);
* over IPC, `MLOS.Health`, plugin registration (a fresh `onnx` plugin, not started) and model
  registration (a new version of the small model loaded into the running onnx plugin), each
  removed again untimed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.bench.floors import _start
from mlos.client import IPCClient, connect
from mlos.demo import build_demo_model
from mlos.testing import ServerProcess
from mlos_generated import inference_pb2, inference_pb2_grpc, smi_ipc, smi_pb2, smi_pb2_grpc

Row = tuple[str, float, float]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _measure(label: str, process: psutil.Process, call: Callable[[], object], n: int) -> Row:
    """p50 latency (ms) of `n` calls, and the server's CPU time per call (µs)."""
    for _ in range(min(200, n)):
        call()
    samples = []
    before = _cpu(process)
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    used = _cpu(process) - before
    samples.sort()
    return label, samples[n // 2] * 1e3, used / n * 1e6


def _timed(
    label: str, call: Callable[[Any], object], requests: list[Any], undo: Callable[[Any], object]
) -> Row:
    """p50 latency (ms) of `call` on each request, each undone untimed; no CPU figure (-1)."""
    samples = []
    for request in requests:
        start = time.perf_counter()
        call(request)
        samples.append(time.perf_counter() - start)
        undo(request)
    samples.sort()
    return label, samples[len(samples) // 2] * 1e3, -1.0


def grpc_floor(requests: int) -> list[Row]:
    """The grpcio echo server of :mod:`mlos.bench.floors`."""
    process, port = _start("--serve-grpc")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            method: Any = channel.unary_unary("/floor.Echo/Echo")
            return [
                _measure("gRPC echo (floor)", psutil.Process(process.pid),
                         lambda: method(b"x" * 20), requests)
            ]
    finally:
        process.kill()
        process.wait()


def mlos_rows(requests: int, registrations: int) -> list[Row]:
    """The health checks over gRPC and IPC, and the registrations over IPC."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "models").mkdir()
        small = build_demo_model(home / "models" / "small.onnx")
        env = {**os.environ, "MLOS_BUSY_POLL_US": "0"}
        with ServerProcess(home, env=env) as server:
            assert server.process is not None
            process = psutil.Process(server.process.pid)
            metadata = (("authorization", f"Bearer {server.token}"),) if server.token else None
            with connect(server.ipc_url, timeout=120) as client:
                client.register_plugin("onnx")
                client.load_plugin("onnx")
            rows = []
            with grpc.insecure_channel(server.grpc_address) as channel:
                mlos: Any = smi_pb2_grpc.MLOSStub(channel)
                oip: Any = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                health: Any = health_pb2_grpc.HealthStub(channel)
                for label, call in (
                    ("gRPC grpc.health.v1 Check",
                     lambda: health.Check(health_pb2.HealthCheckRequest())),
                    ("gRPC ServerLive",
                     lambda: oip.ServerLive(inference_pb2.ServerLiveRequest(), metadata=metadata)),
                    ("gRPC ServerReady",
                     lambda: oip.ServerReady(inference_pb2.ServerReadyRequest(),
                                             metadata=metadata)),
                    ("gRPC MLOS.Health",
                     lambda: mlos.Health(smi_pb2.HealthRequest(), metadata=metadata)),
                ):
                    rows.append(_measure(label, process, call, requests))
            ipc = IPCClient(server.ipc_url, timeout=120)
            try:
                request = smi_pb2.HealthRequest()
                rows.append(_measure("IPC MLOS.Health", process,
                                     lambda: ipc.call(smi_ipc.MLOS_HEALTH, request), requests))
                source = smi_pb2.PluginSource(entry_point="onnx")
                plugins = [
                    smi_pb2.RegisterPluginRequest(name=f"bench-{index}", source=source)
                    for index in range(registrations * 5)
                ]
                rows.append(_timed(
                    "IPC plugin registration",
                    lambda r: ipc.call(smi_ipc.MLOS_REGISTER_PLUGIN, r),
                    plugins,
                    lambda r: ipc.call(smi_ipc.MLOS_REMOVE_PLUGIN, smi_pb2.PluginRef(name=r.name)),
                ))
                models = [
                    smi_pb2.RegisterModelRequest(
                        name="small", plugin="onnx", path=str(small), version=str(1000 + index)
                    )
                    for index in range(registrations)
                ]
                rows.append(_timed(
                    "IPC model registration (small)",
                    lambda r: ipc.call(smi_ipc.MLOS_REGISTER_MODEL, r),
                    models,
                    lambda r: ipc.call(
                        smi_ipc.MLOS_REMOVE_MODEL, smi_pb2.ModelRef(name=r.name, version=r.version)
                    ),
                ))
            finally:
                ipc.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per health row")
    parser.add_argument(
        "--registrations", type=int, default=100,
        help="model registrations (plugin registrations: five times as many)",
    )
    args = parser.parse_args(argv)
    rows = [*grpc_floor(args.requests), *mlos_rows(args.requests, args.registrations)]
    width = max(len(label) for label, _, _ in rows)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'call':<{width}}  {'p50 ms':>7}  {'server CPU us/call':>18}")
    for label, p50, cpu in rows:
        shown = f"{cpu:18.0f}" if cpu >= 0 else f"{'-':>18}"
        print(f"{label:<{width}}  {p50:7.3f}  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
