"""`mlos bench`: latency and throughput per operation and protocol, beside raw onnxruntime.

    mlos bench                              # start a server in a temporary home, measure, stop
    mlos bench --protocols ipc --concurrency 32 --output bench-results/ipc.json
    mlos bench --url http://127.0.0.1:8080 --grpc 127.0.0.1:8081 --ipc unix:///.../mlos.sock

For REST, gRPC and IPC: health check (and the lightest readiness check), plugin registration,
model registration (small model), small-model inference (64→256→10 MLP), large-model inference
(a ~0.4 GMAC conv net, input 1x3x224x224) and the large input through a model with no compute,
each at concurrency 1 and at `--concurrency` clients; the inferences through the public numpy
client too (over IPC with its large inputs in shared memory, and once inline for comparison);
over IPC, a client that polls for its answer instead of sleeping (`IPCClient(spin=...)`), and
small inference over direct channels to the plugin process, sleeping and polling; and
the raw `session.run` of the models in this process with the ONNX plugin's thread settings (one
intra-op thread). Prints a table and the design targets met or missed; `--output` writes it all
as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mlos.bench.report import Result, median_of_rounds, summarize, table, write_json
from mlos.bench.sessions import ApiSession, GrpcSession, IpcSession, RestSession, Session
from mlos.bench.targets import RAW, TRANSFER, TRANSFER_CLIENT, evaluate, verdict_table
from mlos.bench.timing import measure
from mlos.demo import (
    CONV_INPUT_SHAPE,
    build_conv_model,
    build_demo_model,
    build_transfer_model,
)
from mlos.testing import ServerProcess
from mlos_generated import smi_pb2

__all__ = ["add_arguments", "main", "run", "run_from_args"]

PROTOCOL_NAMES = {"rest": "REST", "grpc": "gRPC", "ipc": "IPC"}
SPIN = 0.002
SPIN_PATH = "IPC, client spins"
INLINE_PATH = "IPC, inputs inline"
DIRECT_PATH = "IPC, direct"
"""Inference over a direct channel to the plugin process (the client sleeps for answers)."""
DIRECT_SPIN_PATH = "IPC, direct, client spins"
"""The same with a client that polls up to SPIN seconds for each answer."""
"""The IPC client polling up to SPIN seconds for each answer instead of sleeping at once."""
_SESSIONS: dict[str, Callable[[str, dict[str, np.ndarray[Any, Any]]], Session]] = {
    "rest": RestSession,
    "grpc": GrpcSession,
    "ipc": IpcSession,
}


def _onnx_session(model: Path) -> Any:
    """An onnxruntime session with the ONNX plugin's thread settings (one intra-op thread)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def raw_onnxruntime(model: Path, array: np.ndarray[Any, Any], requests: int, label: str) -> Result:
    """Latency of `session.run` in this process, the floor MLOS is measured against."""
    session = _onnx_session(model)
    feed = {"input": array}
    for _ in range(20):
        session.run(None, feed)
    samples = []
    started = time.perf_counter()
    for _ in range(requests):
        begin = time.perf_counter()
        session.run(None, feed)
        samples.append(time.perf_counter() - begin)
    return summarize(label, RAW, samples, time.perf_counter() - started)


def paired(
    operation: str,
    path: str,
    session: Session,
    model: str,
    compute: Callable[[], Any],
    requests: int,
    warmup: int = 5,
) -> tuple[Result, float]:
    """Each call right after the same compute in this process: the calls' latencies, and the
    p50 of (call - compute) in milliseconds — what the protocol adds, measured pair by pair so
    that a change in the machine's speed during the run cancels out."""
    for _ in range(warmup):
        compute()
        session.infer(model)
    samples, overheads = [], []
    started = time.perf_counter()
    for _ in range(requests):
        begin = time.perf_counter()
        compute()
        middle = time.perf_counter()
        session.infer(model)
        end = time.perf_counter()
        samples.append(end - middle)
        overheads.append((end - middle) - (middle - begin))
    wall = time.perf_counter() - started
    overheads.sort()
    return summarize(operation, path, samples, wall), overheads[len(overheads) // 2] * 1000


def _plugin_name(index: int) -> str:
    return f"bench-{index}" if index >= 0 else f"bench-warm-{-index}"


def _version(index: int) -> str:
    return str(1_000_000 + index)


def _prepare(url: str, small: Path, large: Path, transfer: Path | None = None) -> None:
    """Register and load the onnx plugin and the models (what is there already stays)."""
    from mlos.client import connect
    from mlos.errors import AlreadyExists

    with connect(url, timeout=120) as client:
        with contextlib.suppress(AlreadyExists):
            client.register_plugin("onnx")
        if client.get_plugin("onnx").state != smi_pb2.PLUGIN_STATE_READY:
            client.load_plugin("onnx")
        models = [("small", small), ("large", large)]
        if transfer is not None:
            models.append(("transfer", transfer))
        for name, path in models:
            if not client.model_ready(name):
                client.register_model(name, str(path), plugin="onnx")


def _protocol(
    key: str,
    address: str,
    inputs: dict[str, np.ndarray[Any, Any]],
    small: Path,
    compute: Callable[[], Any],
    requests: int,
    large_requests: int,
    registrations: int,
    concurrency: int,
) -> tuple[list[Result], float]:
    """Every operation over one protocol; and what it adds to the large model's compute."""
    path = PROTOCOL_NAMES[key]
    factory = _SESSIONS[key]

    def open_session() -> Session:
        return factory(address, inputs)

    def close(session: Session) -> None:
        session.close()

    def timed(
        operation: str,
        call: Callable[[Session, int], None],
        count: int,
        level: int,
        warmup: int = 20,
        cleanup: Callable[[Session, int], None] | None = None,
    ) -> Result:
        return measure(
            operation, path, open_session, call, count,
            concurrency=level, warmup=warmup, cleanup=cleanup, close=close,
        )

    def register_plugin(session: Session, index: int) -> None:
        session.register_plugin(_plugin_name(index))

    def remove_plugin(session: Session, index: int) -> None:
        session.remove_plugin(_plugin_name(index))

    def register_model(session: Session, index: int) -> None:
        session.register_model("bench-registration", str(small), _version(index))

    def remove_model(session: Session, index: int) -> None:
        session.remove_model("bench-registration", _version(index))

    session = open_session()
    try:
        large, overhead = paired(
            "large inference", path, session, "large", compute, large_requests
        )
    finally:
        session.close()
    results = [
        large,
        timed(TRANSFER, lambda s, i: s.infer("transfer"), large_requests, 1, warmup=5),
    ]
    for level in sorted({1, concurrency}):
        results += [
            timed("health", lambda s, i: s.health(), requests, level),
            timed(
                "plugin registration", register_plugin, registrations, level,
                cleanup=remove_plugin,
            ),
            timed(
                "model registration (small)", register_model, max(registrations // 5, level),
                level, warmup=5, cleanup=remove_model,
            ),
            timed("small inference", lambda s, i: s.infer("small"), requests, level),
        ]
        if level > 1:
            results.append(
                timed(
                    "large inference", lambda s, i: s.infer("large"), large_requests, level,
                    warmup=5,
                )
            )
        if level == 1 and key != "ipc":
            results.append(timed("readiness", lambda s, i: s.ready(), requests, 1))
    for operation, model, count, warmup in (
        ("small inference (numpy client)", "small", requests, 20),
        ("large inference (numpy client)", "large", large_requests, 5),
        (TRANSFER_CLIENT, "transfer", large_requests, 5),
    ):
        results.append(
            measure(
                operation, path, lambda: ApiSession(address, inputs),
                lambda s, i, model=model: s.infer(model), count, warmup=warmup,  # type: ignore[misc]  # a default argument binds the loop variable; mypy sees a new lambda type
                close=lambda s: s.close(),
            )
        )
    if key == "ipc":
        # The numpy client's large input without shared memory, for comparison ...
        results.append(
            measure(
                TRANSFER_CLIENT, INLINE_PATH,
                lambda: ApiSession(address, inputs, shared_memory=False),
                lambda s, i: s.infer("transfer"), large_requests, warmup=5,
                close=lambda s: s.close(),
            )
        )
        # ... and the same calls with a client that polls instead of sleeping.
        for operation, call in (
            ("health", lambda s, i: s.health()),
            ("small inference", lambda s, i: s.infer("small")),
        ):
            results.append(
                measure(
                    operation, SPIN_PATH, lambda: IpcSession(address, inputs, spin=SPIN),
                    call, requests, close=close,
                )
            )
        # Inference over direct channels to the plugin process, sleeping and polling, and
        # at `concurrency` clients (each with its own channel).
        for path_name, spin in ((DIRECT_PATH, 0.0), (DIRECT_SPIN_PATH, SPIN)):
            for level in sorted({1, concurrency}) if spin == 0.0 else (1,):
                results.append(
                    measure(
                        "small inference", path_name,
                        lambda spin=spin: IpcSession(address, inputs, spin=spin, direct=True),  # type: ignore[misc]  # a default argument binds the loop variable
                        lambda s, i: s.infer("small"), requests, concurrency=level, close=close,
                    )
                )
    return results, overhead


def run(
    addresses: dict[str, str],
    models: Path,
    *,
    requests: int = 2000,
    large_requests: int = 200,
    registrations: int = 500,
    concurrency: int = 8,
) -> tuple[list[Result], dict[str, float]]:
    """Measure every operation over each protocol in `addresses` ("rest", "grpc", "ipc").

    The models are built in `models`, which must be under one of the server's model roots.
    Also returns, per protocol, the milliseconds it adds to the large model's compute (p50 of
    paired differences, see :func:`paired`).
    """
    small = build_demo_model(models / "small.onnx")
    large = build_conv_model(models / "large.onnx")
    transfer = build_transfer_model(models / "transfer.onnx")
    _prepare(addresses.get("rest") or next(iter(addresses.values())), small, large, transfer)
    rng = np.random.default_rng(0)
    inputs = {
        "small": rng.standard_normal((1, 64)).astype(np.float32),
        "large": rng.standard_normal(CONV_INPUT_SHAPE).astype(np.float32),
    }
    inputs["transfer"] = inputs["large"]
    results = [
        raw_onnxruntime(small, inputs["small"], requests, "small inference"),
        raw_onnxruntime(large, inputs["large"], large_requests, "large inference"),
        raw_onnxruntime(transfer, inputs["transfer"], large_requests, TRANSFER),
    ]
    session = _onnx_session(large)
    feed = {"input": inputs["large"]}
    overheads: dict[str, float] = {}
    for key in ("rest", "grpc", "ipc"):
        if key in addresses:
            measured, overhead = _protocol(
                key, addresses[key], inputs, small, lambda: session.run(None, feed), requests,
                large_requests, registrations, concurrency,
            )
            results += measured
            overheads[PROTOCOL_NAMES[key]] = round(overhead, 4)
    return results, overheads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mlos bench`."""
    parser.add_argument("--url", help="REST address of a running server (default: start one)")
    parser.add_argument("--grpc", help="gRPC address of that server (host:port)")
    parser.add_argument("--ipc", help="IPC address of that server (unix:///path)")
    parser.add_argument(
        "--models", type=Path,
        help="with --url: where to write the benchmark's models, a folder under one of that "
        "server's model roots (default: a temporary folder, which the server must allow)",
    )
    parser.add_argument(
        "--protocols", default="rest,grpc,ipc", help="comma-separated subset of rest,grpc,ipc"
    )
    parser.add_argument("--requests", type=int, default=2000, help="calls per fast operation")
    parser.add_argument("--large-requests", type=int, default=200, help="large-model calls")
    parser.add_argument(
        "--registrations", type=int, default=500,
        help="plugin registrations (model registrations: a fifth of it)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="clients of the concurrent runs (default 8)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="measure everything this many times; report each cell's median round",
    )
    parser.add_argument("--output", type=Path, help="write the results as JSON here")


def _addresses(given: dict[str, str], wanted: list[str]) -> dict[str, str]:
    """The URLs of the wanted protocols that the server serves (gRPC as grpc://host:port)."""
    addresses = {key: given[key] for key in wanted if given.get(key)}
    grpc = addresses.get("grpc")
    if grpc and "://" not in grpc:
        addresses["grpc"] = f"grpc://{grpc}"
    return addresses


def run_from_args(args: argparse.Namespace) -> int:
    """Run `mlos bench` with parsed arguments."""
    wanted = [p.strip() for p in str(args.protocols).split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PROTOCOL_NAMES]
    if unknown:
        raise SystemExit(f"mlos bench: unknown protocol {unknown[0]!r} (rest, grpc, ipc)")
    with tempfile.TemporaryDirectory(prefix="mlos-bench-") as scratch:
        workdir = Path(scratch)
        options = {
            "requests": args.requests,
            "large_requests": args.large_requests,
            "registrations": args.registrations,
            "concurrency": args.concurrency,
        }
        rounds: list[tuple[list[Result], dict[str, float]]] = []
        if args.url:
            given = {"rest": args.url, "grpc": args.grpc or "", "ipc": args.ipc or ""}
            models = args.models.expanduser().resolve() if args.models else workdir
            for _ in range(args.rounds):
                rounds.append(run(_addresses(given, wanted), models, **options))
        else:
            # The caller's MLOS_* settings reach the server (MLOS_BUSY_POLL_US=0 mlos bench).
            models = workdir / "home" / "models"  # a model root of the server by default
            with ServerProcess(workdir / "home", env=os.environ) as server:
                given = {"rest": server.url, "grpc": server.grpc_address, "ipc": server.ipc_url}
                if server.token:
                    os.environ["MLOS_TOKEN"] = server.token  # what the sessions present
                for _ in range(args.rounds):
                    rounds.append(run(_addresses(given, wanted), models, **options))
    results = median_of_rounds([measured for measured, _ in rounds])
    order = {
        "REST": 0, "gRPC": 1, "IPC": 2, INLINE_PATH: 3, SPIN_PATH: 4, DIRECT_PATH: 5,
        DIRECT_SPIN_PATH: 6, RAW: 7,
    }  # fmt: skip
    results.sort(key=lambda r: (r.operation, r.concurrency, order.get(r.path, 9)))
    overheads = {
        protocol: statistics.median(added[protocol] for _, added in rounds)
        for protocol in rounds[0][1]
    }
    verdicts = evaluate(results, overheads)
    print(table(results))
    print()
    print(verdict_table(verdicts))
    if args.output:
        extra = {
            "command": "mlos bench",
            "options": {**options, "rounds": args.rounds},
            "targets": [asdict(v) for v in verdicts],
            "large_inference_overhead_ms": overheads,
        }
        write_json(args.output, results, extra)
        print(f"wrote {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mlos.bench`."""
    parser = argparse.ArgumentParser(prog="mlos bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
