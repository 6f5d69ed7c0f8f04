"""CPU time per IPC call in each MLOS process (the numbers in docs/benchmarks.md).

    python -m mlos.bench.cpu_per_call [--requests 10000] [--one-cpu] [--spin 0.002]
                                      [--busy-poll-us 0]

Starts `mlos serve` with the onnx plugin and the benchmark's small model, then calls MLOS.Health
and MLOS.Infer over IPC, and MLOS.Infer over a direct channel to the plugin process (docs/ipc.md),
`--requests` times each from this process and prints, per call: the p50
latency and the user and system CPU time of the core, of the plugin process and of the client
(from the kernel's accounting, `psutil.Process.cpu_times`). `--one-cpu` runs the server and the
client on CPU 0 only (no cross-CPU wake-ups); `--spin` makes the client poll for its answers.
The server's busy polling (`busy_poll_us`, default 500) counts as CPU time of the core: with
`--busy-poll-us 0` the core's time is its work alone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

from mlos.bench.timing import call_times
from mlos.client import IPCClient, connect
from mlos.demo import build_demo_model
from mlos.errors import AlreadyExists
from mlos.testing import ServerProcess
from mlos_generated import smi_ipc, smi_pb2


def _cpu(process: psutil.Process) -> tuple[float, float]:
    times = process.cpu_times()
    return times.user, times.system


def _measure(
    call: Callable[[], object], requests: int, processes: dict[str, psutil.Process]
) -> str:
    for _ in range(min(500, requests)):
        call()
    before = {name: _cpu(process) for name, process in processes.items()}
    samples = sorted(call_times(call, requests))
    after = {name: _cpu(process) for name, process in processes.items()}
    cells = [f"p50 {samples[len(samples) // 2] * 1e6:6.1f} us"]
    for name, (user, system) in after.items():
        user0, system0 = before[name]
        cells.append(
            f"{name} user {(user - user0) / requests * 1e6:5.0f} + sys "
            f"{(system - system0) / requests * 1e6:4.0f} us"
        )
    return "   ".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="timed calls per row")
    parser.add_argument("--one-cpu", action="store_true", help="server and client on CPU 0")
    parser.add_argument("--spin", type=float, default=0.0, help="client polling, seconds")
    parser.add_argument("--busy-poll-us", type=int, help="the server's busy_poll_us")
    args = parser.parse_args(argv)
    if args.busy_poll_us is not None:
        os.environ["MLOS_BUSY_POLL_US"] = str(args.busy_poll_us)
    if args.one_cpu:
        os.sched_setaffinity(0, {0})  # inherited by the server and its plugin processes
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        model = build_demo_model(home / "home" / "models" / "small.onnx")
        with ServerProcess(home / "home", env=os.environ) as server:
            if server.token:
                os.environ["MLOS_TOKEN"] = server.token  # what the clients present
            with connect(server.url, timeout=120) as client:
                with contextlib.suppress(AlreadyExists):
                    client.register_plugin("onnx")
                if client.get_plugin("onnx").state != smi_pb2.PLUGIN_STATE_READY:
                    client.load_plugin("onnx")
                client.register_model("small", str(model), plugin="onnx")
                name = client.model_metadata("small").inputs[0].name
            assert server.process is not None
            core = psutil.Process(server.process.pid)
            processes = {"core": core}
            for index, child in enumerate(core.children(recursive=True)):
                processes[f"plugin{index or ''}"] = child
            processes["client"] = psutil.Process()
            ipc = IPCClient(server.ipc_url, timeout=60, spin=args.spin)
            request = smi_pb2.InferRequest(model_name="small")
            request.inputs.add(
                name=name, datatype="FP32", shape=[1, 64],
                contents=np.random.rand(1, 64).astype(np.float32).tobytes(),
            )
            health = smi_pb2.HealthRequest()
            try:
                rows = {
                    "health": lambda: ipc.call(smi_ipc.MLOS_HEALTH, health),
                    "small inference": lambda: ipc.call(smi_ipc.MLOS_INFER, request),
                    "direct inference": lambda: ipc.infer_message(request),
                }
                for label, call in rows.items():
                    print(f"{label:16} {_measure(call, args.requests, processes)}", flush=True)
            finally:
                ipc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
