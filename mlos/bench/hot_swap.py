"""Latency while a plugin is hot swapped, against latency without swaps (docs/benchmarks.md).

    python -m mlos.bench.hot_swap [--clients 16] [--swaps 20] [--baseline 5] [--json out.json]

It starts `mlos serve` in a temporary home with the example NumPy plugin (entry point
``numpy``) and one model ``y = 2x`` (FP32 [-1, 4]), then runs `--clients` clients in threads,
spread over REST, gRPC and IPC, each sending batch-1 inferences back to back and checking every
answer. For `--baseline` seconds nothing else happens; then the plugin is upgraded `--swaps`
times (`POST /v1/plugins/numpy/upgrade`, a new process of the same plugin each time). It reports
p50/p99 of the calls that began outside any swap and of those that began during one, how long
the swaps took, and every failed or wrong call (there should be none).

:class:`SwapLoad` is the load itself, over any server and any pair of upgrades; the test suite
runs it with its own plugins (tests/core/test_hot_swap_server.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlos.client import Client, connect

__all__ = ["Call", "SwapLoad", "SwapReport", "main"]

TRANSPORTS = ("REST", "gRPC", "IPC")
MODEL = "swapped"
EXPRESSION = {
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4], "expr": "x * 2"}],
}


@dataclass(frozen=True, slots=True)
class Call:
    """One inference: when it began and ended (perf_counter seconds), over what, and how."""

    transport: str
    began: float
    ended: float
    error: str = ""
    """Empty for a correct answer; else the error or what was wrong with the answer."""


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


@dataclass(slots=True)
class SwapReport:
    """What a run measured."""

    calls: list[Call] = field(default_factory=list)
    swaps: list[tuple[float, float]] = field(default_factory=list)
    """(began, ended) of every upgrade call, perf_counter seconds."""

    def _during(self, call: Call) -> bool:
        return any(began <= call.began <= ended for began, ended in self.swaps)

    @property
    def failures(self) -> list[Call]:
        """Calls that failed or answered wrongly."""
        return [c for c in self.calls if c.error]

    def summary(self) -> dict[str, Any]:
        """Counts and latencies (milliseconds) as a JSON-ready document."""
        first = self.swaps[0][0] if self.swaps else float("inf")
        quiet = [c.ended - c.began for c in self.calls if c.began < first and not c.error]
        during = [c.ended - c.began for c in self.calls if self._during(c) and not c.error]
        swap_s = [ended - began for began, ended in self.swaps]
        by_transport = {t: sum(1 for c in self.calls if c.transport == t) for t in TRANSPORTS}
        return {
            "calls": len(self.calls),
            "calls_by_transport": by_transport,
            "failed": len(self.failures),
            "failures": sorted({c.error for c in self.failures})[:10],
            "swaps": len(self.swaps),
            "swap_s_p50": round(_percentile(swap_s, 50), 3),
            "swap_s_max": round(max(swap_s, default=float("nan")), 3),
            "without_swaps": {
                "calls": len(quiet),
                "p50_ms": round(_percentile(quiet, 50) * 1e3, 3),
                "p99_ms": round(_percentile(quiet, 99) * 1e3, 3),
            },
            "during_swaps": {
                "calls": len(during),
                "p50_ms": round(_percentile(during, 50) * 1e3, 3),
                "p99_ms": round(_percentile(during, 99) * 1e3, 3),
                "max_ms": round(max(during, default=float("nan")) * 1e3, 3),
            },
        }


class SwapLoad:
    """Clients that infer `model` (x FP32 [1, 4] → y = 2x) while upgrades run.

    `urls` maps a transport name ("REST", "gRPC", "IPC") to the server's URL for it; the
    clients are spread over them in turn.
    """

    def __init__(
        self, urls: dict[str, str], token: str | None, model: str, clients: int = 16
    ) -> None:
        self.urls = urls
        self.token = token
        self.model = model
        self.clients = clients
        self.report = SwapReport()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the clients (each connects and sends its first call before returning)."""
        transports = [t for t in TRANSPORTS if self.urls.get(t)]
        ready = threading.Barrier(self.clients + 1)
        for index in range(self.clients):
            transport = transports[index % len(transports)]
            thread = threading.Thread(
                target=self._client, args=(index, transport, ready), daemon=True
            )
            thread.start()
            self._threads.append(thread)
        ready.wait(timeout=120)

    def swap(self, upgrade: Callable[[], object]) -> None:
        """Run one upgrade and record how long it took."""
        began = time.perf_counter()
        upgrade()
        self.report.swaps.append((began, time.perf_counter()))

    def stop(self) -> SwapReport:
        """Stop the clients (each finishes its call) and return what they saw."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.report

    def _client(self, index: int, transport: str, ready: threading.Barrier) -> None:
        client: Client = connect(self.urls[transport], token=self.token, timeout=60)
        calls: list[Call] = []
        try:
            count = 0
            while True:
                x = np.full((1, 4), index + (count % 100) / 100, np.float32)
                began = time.perf_counter()
                error = ""
                try:
                    y = client.infer(self.model, {"x": x})["y"]
                    if y.shape != x.shape or not np.array_equal(y, x * 2):
                        error = f"wrong answer over {transport}: {y.tolist()} for {x.tolist()}"
                except Exception as exc:  # every failure is what is counted
                    error = f"{transport}: {type(exc).__name__}: {exc}"
                calls.append(Call(transport, began, time.perf_counter(), error))
                count += 1
                if count == 1:
                    ready.wait(timeout=120)
                if self._stop.is_set():
                    break
        finally:
            client.close()
            with self._lock:
                self.report.calls.extend(calls)


def _write_model(directory: Path) -> Path:
    path = directory / f"{MODEL}.npexpr"
    path.write_text(json.dumps(EXPRESSION), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its report (JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m mlos.bench.hot_swap", description=__doc__)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--swaps", type=int, default=20, help="upgrades to run (20)")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds without swaps (5)")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between swaps (0.5)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.swaps < 1 or args.baseline <= 0 or args.pause < 0:
        parser.error("--clients and --swaps must be at least 1, --baseline positive")

    from mlos.testing import ServerProcess

    with tempfile.TemporaryDirectory(prefix="mlos-bench-swap-") as scratch:
        root = Path(scratch)
        models = root / "models"
        models.mkdir()
        server = ServerProcess(
            root / "home", "--log-level", "warning", config={"model_roots": [str(models)]}
        )
        server.start()
        try:
            admin = server.client(timeout=120)
            admin.register_plugin("numpy")
            admin.load_plugin("numpy")
            admin.register_model(MODEL, str(_write_model(models)), plugin="numpy")
            urls = {"REST": server.url, "gRPC": server.grpc_url, "IPC": server.ipc_url}
            load = SwapLoad(urls, server.token, MODEL, args.clients)
            load.start()
            time.sleep(args.baseline)
            for _ in range(args.swaps):
                load.swap(lambda: admin.upgrade_plugin("numpy"))
                time.sleep(args.pause)
            report = load.stop()
            admin.close()
        finally:
            server.stop()
    summary = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "clients": args.clients,
        **report.summary(),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
