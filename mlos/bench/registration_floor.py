"""The floor of a small model's registration over IPC on this machine: client → core → plugin
process → onnxruntime session → core → durable registry row → client, with nothing else on the
path.

    python -m mlos.bench.registration_floor [--requests 500]

Three processes and no MLOS code on the path: the client sends a framed
`RegisterModelRequest` (the 16-byte IPC header, docs/ipc.md) over a Unix socket to a bare
"core" (a plain blocking socket, no event loop), which decodes it, sends a `LoadModelRequest`
over a second Unix socket to a bare "plugin" process, and waits; the plugin creates the
onnxruntime session of the small benchmark model (one intra-op thread, as the onnx plugin
does), answers a `LoadModelResponse` with the inputs and outputs the session reports; the core
then writes the registration's row into a SQLite file (WAL, `synchronous=NORMAL`, as the
registry does) and answers a `ModelStatus`. Each registration is a new version; the plugin
drops sessions as MLOS unloads removed versions (every 20).

Rows, p50/p90 in microseconds: both servers sleeping between requests, then the core polling
its sockets for 500 µs after each step (what the server's `busy_poll_us` does); and the
session creation alone, in this process.
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import subprocess
import sys
from itertools import count
from pathlib import Path

from mlos.bench.direct_floor import onnx_session, read_frame
from mlos.bench.floors import percentiles, small_model_floors
from mlos.wire.framing import HEADER, FrameKind
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["main"]

_BUFFER = 1 << 16
_KEEP = 20
"""Sessions the plugin keeps before dropping the oldest (MLOS's benchmark removes every 20)."""


def _frame(kind: FrameKind, method: int, request_id: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), kind, 0, method, request_id, 0) + payload


def _listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    print("ready", flush=True)
    conn, _ = listener.accept()
    listener.close()
    return conn


def _plugin(path: str) -> None:
    """Answer each LoadModelRequest with the metadata of a freshly created session."""
    conn = _listen(path)
    view = memoryview(bytearray(_BUFFER))
    sessions: dict[str, object] = {}
    while total := read_frame(conn, view, 0.0):
        _, _, _, method, request_id, _ = HEADER.unpack_from(view)
        load = smi_pb2.LoadModelRequest.FromString(view[HEADER.size : total])  # type: ignore[arg-type]  # upb parses any buffer
        session = onnx_session(load.path)
        metadata = smi_pb2.ModelMetadata(name=load.name, version=load.version, platform="onnx")
        for side, specs in ((metadata.inputs, session.get_inputs()),
                            (metadata.outputs, session.get_outputs())):  # fmt: skip
            for spec in specs:
                shape = [dim if isinstance(dim, int) else -1 for dim in spec.shape]
                side.add(name=spec.name, datatype="FP32", shape=shape)
        sessions[load.version] = session
        if len(sessions) > _KEEP:
            sessions.pop(next(iter(sessions)))
        payload = smi_pb2.LoadModelResponse(metadata=metadata).SerializeToString()
        conn.sendall(_frame(FrameKind.RESPONSE, method, request_id, payload))


def _core(path: str, plugin_path: str, registry: str, poll: float) -> None:
    """Forward each registration's load to the plugin, write its row, answer its status."""
    plugin = socket.socket(socket.AF_UNIX)
    plugin.connect(plugin_path)
    database = sqlite3.connect(registry, isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=NORMAL")
    database.execute(
        "CREATE TABLE models (name TEXT, version TEXT, plugin TEXT, path TEXT, config TEXT, "
        "loaded BOOLEAN, PRIMARY KEY (name, version))"
    )
    conn = _listen(path)
    view = memoryview(bytearray(_BUFFER))
    answer = memoryview(bytearray(_BUFFER))
    ids = count(1)
    while total := read_frame(conn, view, poll):
        _, _, _, method, request_id, _ = HEADER.unpack_from(view)
        request = smi_pb2.RegisterModelRequest.FromString(view[HEADER.size : total])  # type: ignore[arg-type]
        load = smi_pb2.LoadModelRequest(
            name=request.name, version=request.version, path=request.path
        )
        plugin.sendall(_frame(
            FrameKind.REQUEST, smi_ipc.PLUGIN_LOAD_MODEL.id, next(ids), load.SerializeToString()
        ))  # fmt: skip
        size = read_frame(plugin, answer, poll)
        loaded = smi_pb2.LoadModelResponse.FromString(answer[HEADER.size : size])  # type: ignore[arg-type]
        database.execute("BEGIN")
        database.execute(
            "INSERT INTO models VALUES (?, ?, 'onnx', ?, '{}', 1) ON CONFLICT (name, version) "
            "DO UPDATE SET path = excluded.path",
            (request.name, request.version, request.path),
        )
        database.execute("COMMIT")
        status = smi_pb2.ModelStatus(
            name=request.name, version=request.version, plugin="onnx", path=request.path,
            state=smi_pb2.MODEL_STATE_READY, metadata=loaded.metadata,
        )  # fmt: skip
        conn.sendall(_frame(FrameKind.RESPONSE, method, request_id, status.SerializeToString()))


def _start(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mlos.bench.registration_floor", *args],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    process.stdout.readline()  # "ready": it listens
    return process


def _measure(model: str, folder: str, requests: int) -> list[tuple[str, float, float]]:
    rows = []
    versions = count(1)
    for label, poll in (("servers sleep", "0"), ("core polls 500 us", "0.0005")):
        plugin_path = str(Path(folder) / f"plugin-{poll}.sock")
        core_path = str(Path(folder) / f"core-{poll}.sock")
        registry = str(Path(folder) / f"registry-{poll}.db")
        plugin = _start("--serve-plugin", plugin_path)
        core = None
        try:
            core = _start("--serve-core", core_path, plugin_path, registry, poll)
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(core_path)
                view = memoryview(bytearray(_BUFFER))

                def call(view: memoryview = view) -> None:
                    request = smi_pb2.RegisterModelRequest(
                        name="small", path=model, plugin="onnx", version=str(next(versions))
                    )
                    client.sendall(_frame(
                        FrameKind.REQUEST, smi_ipc.MLOS_REGISTER_MODEL.id, 1,
                        request.SerializeToString(),
                    ))  # fmt: skip
                    total = read_frame(client, view, 0.0)
                    smi_pb2.ModelStatus.FromString(view[HEADER.size : total])  # type: ignore[arg-type]

                warmup = min(50, requests)
                rows.append((f"registration floor, {label}", *percentiles(call, requests, warmup)))
        finally:
            for process in (core, plugin):
                if process is not None:
                    process.kill()
                    process.wait()
    created = percentiles(lambda: onnx_session(model), requests, min(50, requests))
    rows.append(("onnxruntime session creation alone", *created))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the registration path's floors (see the module)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="timed registrations per row")
    parser.add_argument("--serve-plugin", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--serve-core", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_plugin:
        _plugin(args.serve_plugin[0])
        return 0
    if args.serve_core:
        path, plugin_path, registry, poll = args.serve_core
        _core(path, plugin_path, registry, float(poll))
        return 0
    return small_model_floors(_measure, args.requests)


if __name__ == "__main__":
    sys.exit(main())
