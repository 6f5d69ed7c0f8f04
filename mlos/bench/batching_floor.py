"""The floor of dynamic batching's gain: a bare HTTP frontend and a bare model process.

    python -m mlos.bench.batching_floor [--window-ms 2000] [--concurrency 8,32]

What the batching target asks of MLOS (batching on at least twice batching off, perf_analyzer
at concurrency 32 over REST) measured on the least code that can serve the same calls: an
asyncio (uvloop) HTTP/1.1 server that understands only what perf_analyzer sends — Triton's
metadata, config and statistics reads, and `POST /v2/models/{m}/infer` with binary tensors —
and a separate model process that runs the demo MLP (64 → 256 → 10) in onnxruntime (one
thread) on the rows it receives over a Unix socket. No authentication, limits, validation,
statistics, tracing or protobuf: only the transport, the hop and the model.

Two models are served: `mlp` sends each request's row to the model process as it comes
(batching off); `mlp_batched` gathers the rows that arrive while the model process is busy and
sends them as one batch when it is free (at most `--max-batch` rows; Triton's dynamic batcher
with no delay). It prints, per model and concurrency, perf_analyzer's throughput and p50/p99 and
the CPU per request of the frontend, the model process and perf_analyzer; then the ratio on /
off per concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_FRAME = struct.Struct("<II")  # request id, rows
_ROW_IN = 64 * 4
_ROW_OUT = 10 * 4
_MODEL_PROCESS = r"""
import socket, struct, sys
import numpy as np, onnxruntime as ort
options = ort.SessionOptions(); options.intra_op_num_threads = 1; options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[2], options, providers=["CPUExecutionProvider"])
frame = struct.Struct("<II")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); sock.connect(sys.argv[1])
def exactly(n):
    data = bytearray()
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more: raise SystemExit(0)
        data += more
    return bytes(data)
while True:
    request_id, rows = frame.unpack(exactly(frame.size))
    x = np.frombuffer(exactly(rows * 256), np.float32).reshape(rows, 64)
    (y,) = session.run(None, {"input": x})
    sock.sendall(frame.pack(request_id, rows) + y.astype(np.float32).tobytes())
"""


def _metadata(name: str) -> bytes:
    """`GET /v2/models/{name}`."""
    return json.dumps({
        "name": name, "versions": ["1"], "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}],
    }).encode()


def _config(name: str, batched: bool, max_batch: int) -> bytes:
    """`GET /v2/models/{name}/config`, with dynamic batching for the batched model."""
    config: dict[str, Any] = {
        "name": name, "platform": "onnxruntime_onnx", "max_batch_size": max_batch,
        "input": [{"name": "input", "data_type": "TYPE_FP32", "dims": [64]}],
        "output": [{"name": "output", "data_type": "TYPE_FP32", "dims": [10]}],
    }
    if batched:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": 0}
    return json.dumps(config).encode()


class _Model:
    """The model process's socket: requests by id, batches when `batched`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 max_batch: int) -> None:
        self._reader, self._writer, self._max = reader, writer, max_batch
        self._ids = 0
        self._waiting: dict[int, list[asyncio.Future[bytes]]] = {}
        self._queue: list[tuple[asyncio.Future[bytes], bytes]] = []
        self._busy = False
        self._batch = 0
        self.answered: dict[str, int] = {}
        asyncio.get_running_loop().create_task(self._answers())

    def infer(self, name: str, row: bytes) -> asyncio.Future[bytes]:
        """The model's output row for `row` (`name` ending in `_batched`: in a batch)."""
        self.answered[name] = self.answered.get(name, 0) + 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        if not name.endswith("_batched"):
            self._send([future], [row])
            return future
        self._queue.append((future, row))
        if not self._busy:
            self._flush()
        return future

    def _flush(self) -> None:
        """Send what waits, as one batch."""
        taken, self._queue = self._queue[: self._max], self._queue[self._max :]
        if taken:
            self._busy = True
            self._batch = self._send([f for f, _ in taken], [r for _, r in taken])

    def _send(self, futures: list[asyncio.Future[bytes]], rows: list[bytes]) -> int:
        self._ids += 1
        self._waiting[self._ids] = futures
        self._writer.write(_FRAME.pack(self._ids, len(rows)) + b"".join(rows))
        return self._ids

    async def _answers(self) -> None:
        while True:
            request_id, rows = _FRAME.unpack(await self._reader.readexactly(_FRAME.size))
            data = await self._reader.readexactly(rows * _ROW_OUT)
            futures = self._waiting.pop(request_id)
            for index, future in enumerate(futures):
                future.set_result(data[index * _ROW_OUT : (index + 1) * _ROW_OUT])
            if request_id == self._batch:
                self._busy = False
                self._flush()


class _Http(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time per connection (as perf_analyzer sends)."""

    def __init__(self, model: _Model, answers: dict[str, bytes]) -> None:
        self._model, self._answers = model, answers
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self._buffer) < end + 4 + length:
                return
            body = self._buffer[end + 4 : end + 4 + length]
            self._buffer = self._buffer[end + 4 + length :]
            self._handle(method, path, headers, body)

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        if method == "POST" and path.endswith("/infer"):
            name = path.split("/")[3]
            size = int(headers.get("inference-header-content-length", len(body)))
            json.loads(body[:size])  # the request header, as a server reads it
            future = self._model.infer(name, body[size:])
            future.add_done_callback(lambda done: self._respond(name, done.result()))
            return
        if path.endswith("/stats"):
            name = path.split("/")[3]
            self._write(200, _stats(name, self._model.answered.get(name, 0)))
            return
        answer = self._answers.get(path)
        if answer is None:
            self._write(404, b'{"error":"not found"}')
        else:
            self._write(200, answer)

    def _respond(self, name: str, output: bytes) -> None:
        header = json.dumps({"model_name": name, "model_version": "1", "outputs": [{
            "name": "output", "datatype": "FP32", "shape": [1, 10],
            "parameters": {"binary_data_size": len(output)}}]}).encode()  # fmt: skip
        self._write(200, header + output, len(header))

    def _write(self, status: int, body: bytes, header_length: int = 0) -> None:
        extra = f"Inference-Header-Content-Length: {header_length}\r\n" if header_length else ""
        kind = "application/octet-stream" if header_length else "application/json"
        head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                f"Content-Type: {kind}\r\n{extra}Content-Length: {len(body)}\r\n\r\n")
        self._transport.write(head.encode() + body)


def _stats(name: str, count: int) -> bytes:
    """Statistics as perf_analyzer reads them around each window (counts only: no timing)."""
    timed = {"count": count, "ns": count * 1000}
    return json.dumps({"model_stats": [{
        "name": name, "version": "1", "last_inference": 0, "inference_count": count,
        "execution_count": count, "inference_stats": {k: timed for k in (
            "success", "queue", "compute_input", "compute_infer", "compute_output")} | {
            "fail": {"count": 0, "ns": 0}, "cache_hit": {"count": 0, "ns": 0},
            "cache_miss": {"count": 0, "ns": 0}}, "batch_stats": []}]}).encode()  # fmt: skip


async def serve(port_file: Path, socket_path: str, model_path: Path, max_batch: int) -> None:
    """The bare frontend: accept the model process, then serve HTTP on a free port."""
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        loop.create_future()
    )
    listener = await asyncio.start_unix_server(
        lambda r, w: connected.set_result((r, w)), socket_path
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", _MODEL_PROCESS, socket_path, str(model_path)]
    )
    reader, writer = await connected
    model = _Model(reader, writer, max_batch)
    answers: dict[str, bytes] = {"/v2": b'{"name":"floor","version":"0","extensions":[]}',
                                 "/v2/health/ready": b""}  # fmt: skip
    for name in ("mlp", "mlp_batched"):
        answers[f"/v2/models/{name}"] = _metadata(name)
        answers[f"/v2/models/{name}/config"] = _config(name, name.endswith("_batched"), max_batch)
    server = await loop.create_server(lambda: _Http(model, answers), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    port_file.write_text(f"{port} {worker.pid}\n")
    try:
        await asyncio.Event().wait()
    finally:
        worker.kill()
        listener.close()


def _cpu(pid: int) -> float:
    """CPU seconds a process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (perf_analyzer's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    """Serve (with --serve) or measure: start the bare server, run perf_analyzer against it."""
    parser = argparse.ArgumentParser(
        prog="python -m mlos.bench.batching_floor", description=__doc__
    )
    parser.add_argument("--window-ms", type=int, default=2000, help="measurement window")
    parser.add_argument("--concurrency", default="8,32", help="comma-separated levels")
    parser.add_argument("--max-batch", type=int, default=32, help="rows per batch at most")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--serve", nargs=3, metavar=("PORT_FILE", "SOCKET", "MODEL"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.serve:
        from mlos.loop import run as run_loop

        port_file, socket_path, model = args.serve
        run_loop(serve(Path(port_file), socket_path, Path(model), args.max_batch))
        return 0
    import requests

    from mlos.bench.batching import INSTALLED
    from mlos.bench.perf_analyzer import PerfAnalyzer, PerfRun
    from mlos.demo import build_demo_model

    analyzer = PerfAnalyzer.find([INSTALLED])
    if analyzer is None:
        raise SystemExit("perf_analyzer is not installed (bash tools/perf_analyzer.sh)")
    levels = [int(level) for level in args.concurrency.split(",")]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        model = build_demo_model(home / "mlp.onnx")
        port_file = home / "port"
        command = [sys.executable, "-m", "mlos.bench.batching_floor", "--max-batch",
                   str(args.max_batch), "--serve", str(port_file), str(home / "model.sock"),
                   str(model)]  # fmt: skip
        frontend = subprocess.Popen(command)
        try:
            deadline = time.monotonic() + 60
            while not port_file.is_file() or not port_file.read_text().endswith("\n"):
                if frontend.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the bare server did not start")
                time.sleep(0.05)
            port, worker = (int(word) for word in port_file.read_text().split())
            url = f"127.0.0.1:{port}"
            for name in ("mlp", "mlp_batched"):
                for level in levels:
                    def answered(name: str = name) -> int:
                        stats = requests.get(f"http://{url}/v2/models/{name}/stats", timeout=10)
                        return int(stats.json()["model_stats"][0]["inference_count"])

                    before = (answered(), _cpu(frontend.pid), _cpu(worker), _children_cpu())
                    load = PerfRun(name, url, concurrency=(level,), window_ms=args.window_ms,
                                   stability=50, max_trials=10)  # fmt: skip
                    row = analyzer.run(load).rows[0]
                    count = max(1, answered() - before[0])
                    after = (_cpu(frontend.pid), _cpu(worker), _children_cpu())
                    key = f"{name}/http/c{level}"
                    results[key] = {
                        "throughput": row.throughput,
                        "p50_ms": row.p50_us / 1000,
                        "p99_ms": row.p99_us / 1000,
                        "frontend_cpu_us": (after[0] - before[1]) / count * 1e6,
                        "model_cpu_us": (after[1] - before[2]) / count * 1e6,
                        "client_cpu_us": (after[2] - before[3]) / count * 1e6,
                    }
                    print(key, json.dumps(results[key]), flush=True)
        finally:
            frontend.terminate()
            frontend.wait(timeout=30)
    for level in levels:
        on = results[f"mlp_batched/http/c{level}"]["throughput"]
        off = results[f"mlp/http/c{level}"]["throughput"]
        print(f"c{level}: batching on / off = {on / max(off, 1e-9):.2f}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
