"""The floors under MLOS's latencies on this machine (the numbers in docs/benchmarks.md).

    python -m mlos.bench.floors [--requests 2000]

Measures, p50/p90 in microseconds, with nothing of MLOS on the path but the piece named:

* ``unix echo``: a blocking client and a uvloop server echoing 32 bytes over a Unix socket, the
  server sleeping between calls, then polling for 500 µs after each answer
  (:class:`mlos.loop.BusyPoll`, what ``busy_poll_us`` does), then sleeping again with server
  and client on the same CPU (no wake-up of another vCPU);
* ``grpc echo``: grpcio's asyncio server on uvloop answering a generic unary method with 20
  bytes, called with a 20-byte and a 602,112-byte (1x3x224x224 FP32) message, then with the
  large message each time after the client computed for 17 ms (a busy loop, about what the
  benchmark's conv net takes in onnxruntime here): what the same call costs when the server
  has slept as long as a large model computes;
* ``http echo``: uvicorn (httptools, uvloop — what `mlos serve` runs REST on) with a bare ASGI
  app that reads the body and answers 200 with a 100-byte JSON body, called over one
  keep-alive connection with a 400-byte JSON POST (the size of a small OIP inference request),
  then with a 602,112-byte body, hot and after 17 ms of compute as for gRPC;
* ``registry write``: :meth:`mlos.core.store.RegistryStore.put_plugin` on a SQLite file, beside
  the same upsert through the `sqlite3` module; then on PostgreSQL (a private server on loopback
  from the system's packages, fsync on, as a shared registry runs), beside the same upsert
  through psycopg — skipped when PostgreSQL is not installed;
* ``onnxruntime session``: creating an `InferenceSession` of the small benchmark model (what
  every model registration with the onnx plugin includes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlos.bench.timing import call_times

LARGE = 602_112
COMPUTE_GAP = 0.017
"""Seconds of busy client work before each call of the "after compute" rows."""


def percentiles(
    call: Callable[[], object], requests: int, warmup: int | None = None
) -> tuple[float, float]:
    """p50 and p90 in microseconds of `requests` timed calls, after `warmup` untimed ones
    (default: as many, at most 200)."""
    warmup = min(200, requests) if warmup is None else warmup
    samples = sorted(call_times(call, requests, warmup=warmup))
    return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.9)] * 1e6


def after_compute(call: Callable[[], object], requests: int, gap: float = COMPUTE_GAP) -> tuple[
    float, float
]:
    """:func:`percentiles` of `call` when each call follows `gap` seconds of busy work in this
    process (only the call is timed)."""
    for _ in range(min(20, requests)):
        call()
    samples = []
    for _ in range(requests):
        until = time.perf_counter() + gap
        while time.perf_counter() < until:
            pass
        begin = time.perf_counter()
        call()
        samples.append(time.perf_counter() - begin)
    samples.sort()
    return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.9)] * 1e6


def _unix_server(path: str, window: float) -> None:
    import uvloop

    from mlos.loop import BusyPoll

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]  # the transport is a WriteTransport once connection_made ran
            if busy is not None:
                busy.touch()

    busy: BusyPoll | None = None

    async def main() -> None:
        nonlocal busy
        loop = asyncio.get_running_loop()
        busy = BusyPoll(loop, window) if window else None
        await loop.create_unix_server(Echo, path)
        print("ready", flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def _grpc_server() -> None:
    import grpc
    import grpc.aio
    import uvloop

    async def echo(request: bytes, context: object) -> bytes:
        return request[:20]

    async def main() -> None:
        handler: Any = grpc.unary_unary_rpc_method_handler(echo)
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", -1)])
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("floor.Echo", {"Echo": handler}),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    uvloop.run(main())


_HTTP_ANSWER = b'{"model_name":"floor","outputs":[' + b"0" * 64 + b"]}"


def _http_server() -> None:
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _HTTP_ANSWER})

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        print(sock.getsockname()[1], flush=True)
        config = uvicorn.Config(
            app, loop="uvloop", http="httptools", lifespan="off", log_level="warning",
            access_log=False,
        )  # fmt: skip
        uvicorn.Server(config).run(sockets=[sock])


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mlos.bench.floors", *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def unix_echo(requests: int) -> list[tuple[str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cpus = os.sched_getaffinity(0)
        for index, (label, window, one_cpu) in enumerate(
            (
                ("server sleeps", "0", False),
                ("server polls 500 us", "0.0005", False),
                ("server sleeps, one CPU", "0", True),
            )
        ):
            path = os.path.join(folder, f"echo-{index}.sock")
            process, _ = _start("--serve-unix", path, window)
            try:
                if one_cpu:
                    os.sched_setaffinity(process.pid, {min(cpus)})
                    os.sched_setaffinity(0, {min(cpus)})
                with socket.socket(socket.AF_UNIX) as client:
                    client.connect(path)

                    def call(client: socket.socket = client) -> None:
                        client.sendall(b"x" * 32)
                        client.recv(64)

                    rows.append((f"unix echo, {label}", *percentiles(call, requests)))
            finally:
                os.sched_setaffinity(0, cpus)
                process.kill()
                process.wait()
    return rows


def grpc_echo(requests: int) -> list[tuple[str, float, float]]:
    import grpc

    process, port = _start("--serve-grpc")
    rows = []
    try:
        options = [("grpc.max_send_message_length", -1)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            method: Any = channel.unary_unary("/floor.Echo/Echo")
            for size in (20, LARGE):
                message = b"x" * size
                count = requests if size == 20 else max(requests // 4, 50)
                call = lambda message=message: method(message)  # noqa: E731
                rows.append((f"grpc echo, {size} bytes", *percentiles(call, count)))
            large = b"x" * LARGE
            label = f"grpc echo, {LARGE} bytes, after {COMPUTE_GAP * 1000:g} ms of compute"
            rows.append((label, *after_compute(lambda: method(large), max(requests // 20, 30))))
    finally:
        process.kill()
        process.wait()
    return rows


def http_echo(requests: int) -> list[tuple[str, float, float]]:
    import http.client

    process, port = _start("--serve-http")
    body = b'{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[' + (
        b"0.0," * 63 + b"0.0]}]}"
    )
    headers = {"Content-Type": "application/json"}
    try:
        connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        for _ in range(100):  # until the server listens (it printed its port before running)
            try:
                connection.connect()
                break
            except ConnectionRefusedError:
                time.sleep(0.05)

        def call() -> None:
            connection.request("POST", "/v2/models/floor/infer", body, headers)
            connection.getresponse().read()

        rows = [(f"http echo, {len(body)}-byte POST", *percentiles(call, requests))]
        large = b"x" * LARGE

        def call_large() -> None:
            connection.request("POST", "/v2/models/floor/infer", large, headers)
            connection.getresponse().read()

        count = max(requests // 4, 50)
        rows.append((f"http echo, {LARGE}-byte POST", *percentiles(call_large, count)))
        label = f"http echo, {LARGE}-byte POST, after {COMPUTE_GAP * 1000:g} ms of compute"
        rows.append((label, *after_compute(call_large, max(requests // 20, 30))))
        connection.close()
    finally:
        process.kill()
        process.wait()
    return rows


def registry_write(requests: int) -> list[tuple[str, float, float]]:
    from mlos.core.store import PluginRecord, RegistryStore

    with tempfile.TemporaryDirectory() as folder:
        store = RegistryStore.sqlite(Path(folder) / "registry.db")
        names = iter(range(10**9))

        def put() -> None:
            store.put_plugin(PluginRecord(f"p{next(names)}", "", "entry_point", "onnx"))

        rows = [("registry write, RegistryStore.put_plugin", *percentiles(put, requests))]
        store.close()
        connection = sqlite3.connect(Path(folder) / "registry.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

        def raw() -> None:
            connection.execute("BEGIN")
            connection.execute(
                "INSERT INTO plugins (name, version, source_kind, source, loaded) "
                "VALUES (?, '', 'entry_point', 'onnx', 0) ON CONFLICT (name, version) DO UPDATE "
                "SET source_kind = excluded.source_kind, source = excluded.source, "
                "loaded = excluded.loaded",
                (f"q{next(names)}",),
            )
            connection.execute("COMMIT")

        rows.append(("registry write, sqlite3 upsert", *percentiles(raw, requests)))
        connection.close()
    return rows


def registry_write_postgresql(requests: int) -> list[tuple[str, float, float]]:
    from mlos.cluster.postgres import PostgresServer, find_bindir
    from mlos.core.store import PluginRecord, RegistryStore

    if find_bindir() is None:
        print("registry write on PostgreSQL: skipped, PostgreSQL is not installed", file=sys.stderr)
        return []
    import psycopg

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="mlos-floors-pg-")), durable=True)
    try:
        server.start()
        store = RegistryStore(server.url)
        names = iter(range(10**9))

        def put() -> None:
            store.put_plugin(PluginRecord(f"p{next(names)}", "", "entry_point", "onnx"))

        rows = [("registry write, put_plugin, PostgreSQL", *percentiles(put, requests))]
        store.close()
        # The same with commits that do not wait for the WAL flush (a PostgreSQL crash may
        # lose the last fraction of a second of writes): what an operator may choose.
        store = RegistryStore(server.url + "?options=-c%20synchronous_commit%3Doff")
        rows.append(
            ("registry write, put_plugin, PostgreSQL, synchronous_commit=off",
             *percentiles(put, requests))
        )
        store.close()
        dsn = f"host=127.0.0.1 port={server.port} user={server.user} password={server.password}"
        with psycopg.connect(f"{dsn} dbname={server.database}", autocommit=True) as connection:
            statement = (
                "INSERT INTO plugins (name, version, source_kind, source, loaded) "
                "VALUES (%s, '', 'entry_point', 'onnx', false) ON CONFLICT (name, version) "
                "DO UPDATE SET source_kind = excluded.source_kind, source = excluded.source, "
                "loaded = excluded.loaded"
            )

            def raw() -> None:
                connection.execute(statement, (f"q{next(names)}",), prepare=True)

            rows.append(("registry write, psycopg upsert", *percentiles(raw, requests)))
        return rows
    finally:
        server.destroy()


def onnx_session(requests: int) -> list[tuple[str, float, float]]:
    import onnxruntime

    from mlos.demo import build_demo_model

    with tempfile.TemporaryDirectory() as folder:
        model = str(build_demo_model(Path(folder) / "small.onnx"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1

        def create() -> None:
            onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        return [("onnxruntime session, small model", *percentiles(create, requests // 10))]


def small_model_floors(
    measure: Callable[[str, str, int], list[tuple[str, float, float]]], requests: int
) -> int:
    """Build the small benchmark model in a temporary folder, print the rows of
    `measure(model path, folder, requests)` as :func:`print_floors` does; 0."""
    from mlos.demo import build_demo_model

    with tempfile.TemporaryDirectory() as folder:
        model = str(build_demo_model(Path(folder) / "small.onnx"))
        rows = measure(model, folder, requests)
    print_floors(rows)
    return 0


def print_floors(rows: list[tuple[str, float, float]]) -> None:
    """Print `(floor, p50 us, p90 us)` rows as an aligned table."""
    width = max(len(name) for name, _, _ in rows)
    print(f"{'floor':<{width}}  {'p50 us':>8}  {'p90 us':>8}")
    for name, p50, p90 in rows:
        print(f"{name:<{width}}  {p50:8.1f}  {p90:8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per row")
    parser.add_argument("--serve-unix", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve-grpc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-http", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_unix:
        _unix_server(args.serve_unix[0], float(args.serve_unix[1]))
        return 0
    if args.serve_grpc:
        _grpc_server()
        return 0
    if args.serve_http:
        _http_server()
        return 0
    rows = [
        *unix_echo(args.requests),
        *grpc_echo(args.requests),
        *http_echo(args.requests),
        *registry_write(args.requests),
        *registry_write_postgresql(args.requests),
        *onnx_session(args.requests),
    ]
    print_floors(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
