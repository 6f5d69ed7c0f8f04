"""The floor of a direct IPC inference on this machine: client → Unix socket → plugin process →
onnxruntime → reply, with nothing else on the path.

    python -m mlos.bench.direct_floor [--requests 2000]

A bare server process (a plain blocking socket, no event loop, no MLOS code) reads one framed
`InferRequest` (the 16-byte IPC header, docs/ipc.md), decodes it, runs the small benchmark
model (64→256→10 MLP, one intra-op thread), encodes the `InferResponse` and writes it back.
The client sends a request built ahead and decodes the answer. This is the unavoidable work of
the direct path (one hop, one protobuf encode and decode per side, the model's own call), so
MLOS's direct-path rows in docs/benchmarks.md are compared with it.

Rows, p50/p90 in microseconds: the client sleeping in `recv` or busy-polling (`MSG_DONTWAIT`)
for its answer, each with the server sleeping between requests or polling for 500 µs after
each answer; and the model's `session.run` alone, in this process.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlos.bench.floors import percentiles, small_model_floors
from mlos.wire.framing import HEADER, FrameKind
from mlos_generated import smi_pb2

__all__ = ["main", "onnx_session", "read_frame"]

_BUFFER = 1 << 16


def onnx_session(path: str) -> Any:
    """An onnxruntime session of the model at `path` with one intra-op and one inter-op thread."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def read_frame(sock: socket.socket, view: memoryview, poll: float) -> int:
    """Read one frame into `view` (sleeping, or polling for up to `poll` seconds first); its
    length with the header, 0 when the peer closed."""
    received = 0
    if poll:
        deadline = time.perf_counter() + poll
        while True:
            try:
                received = sock.recv_into(view, 0, socket.MSG_DONTWAIT)
                break
            except BlockingIOError:
                if time.perf_counter() > deadline:
                    break
    while received < HEADER.size:
        count = sock.recv_into(view[received:])
        if not count:
            return 0
        received += count
    total: int = HEADER.size + HEADER.unpack_from(view)[0]
    while received < total:
        count = sock.recv_into(view[received:])
        if not count:
            return 0
        received += count
    return total


def _serve(model: str, path: str, poll: float) -> None:
    session = onnx_session(model)
    names = [output.name for output in session.get_outputs()]
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    print("ready", flush=True)
    conn, _ = listener.accept()
    buffer = bytearray(_BUFFER)
    view = memoryview(buffer)
    while True:
        total = read_frame(conn, view, poll)
        if not total:
            return
        _, _, _, method, request_id, _ = HEADER.unpack_from(view)
        request = smi_pb2.InferRequest.FromString(view[HEADER.size : total])  # type: ignore[arg-type]  # upb parses any buffer
        tensor = request.inputs[0]
        array = np.frombuffer(tensor.contents, np.float32).reshape(tensor.shape[:])
        outputs = session.run(names, {tensor.name: array})
        response = smi_pb2.InferResponse(model_name=request.model_name, id=request.id)
        for name, value in zip(names, outputs, strict=True):
            response.outputs.add(
                name=name, datatype="FP32", shape=value.shape, contents=value.tobytes()
            )
        payload = response.SerializeToString()
        conn.sendall(HEADER.pack(len(payload), FrameKind.RESPONSE, 0, method, request_id, 0)
                     + payload)


def _measure(model: str, folder: str, requests: int) -> list[tuple[str, float, float]]:
    import subprocess

    request = smi_pb2.InferRequest(model_name="small")
    request.inputs.add(
        name="input", datatype="FP32", shape=[1, 64],
        contents=np.random.default_rng(0).random((1, 64), np.float32).tobytes(),
    )  # fmt: skip
    payload = request.SerializeToString()
    frame = HEADER.pack(len(payload), FrameKind.REQUEST, 0, 0x020C, 1, 0) + payload
    rows = []
    for server_label, server_poll in (("server sleeps", "0"), ("server polls 500 us", "0.0005")):
        path = str(Path(folder) / f"floor-{server_poll}.sock")
        process = subprocess.Popen(
            [sys.executable, "-m", "mlos.bench.direct_floor", "--serve", model, path, server_poll],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            process.stdout.readline()
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(path)
                view = memoryview(bytearray(_BUFFER))
                for client_label, poll in (("client sleeps", 0.0), ("client polls", 0.002)):

                    def call(poll: float = poll, view: memoryview = view) -> None:
                        client.sendall(frame)
                        total = read_frame(client, view, poll)
                        smi_pb2.InferResponse.FromString(view[HEADER.size : total])  # type: ignore[arg-type]

                    label = f"direct inference floor, {client_label}, {server_label}"
                    rows.append((label, *percentiles(call, requests)))
        finally:
            process.kill()
            process.wait()
    session = onnx_session(model)
    names = [output.name for output in session.get_outputs()]
    x = np.random.default_rng(0).random((1, 64), np.float32)
    run = percentiles(lambda: session.run(names, {"input": x}), requests, warmup=200)
    rows.append(("onnxruntime session.run alone", *run))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the direct path's floors (see the module)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per row")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve[0], args.serve[1], float(args.serve[2]))
        return 0
    return small_model_floors(_measure, args.requests)


if __name__ == "__main__":
    sys.exit(main())
