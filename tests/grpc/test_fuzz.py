"""A few thousand random, truncated and mutated messages, then the server still serves.

Bounded and seeded: 3,000 unary calls on the real method paths and on made-up ones, and a few
hundred raw TCP connections that send bytes which are not HTTP/2 at all, or stop halfway.
"""

from __future__ import annotations

import random
import socket
from concurrent.futures import Future
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.grpc.app import INFERENCE_SERVICE, MLOS_SERVICE
from mlos.wire import tensors
from mlos_generated import inference_pb2, smi_pb2
from tests.grpc.conftest import Served

CALLS = 3000
CONNECTIONS = 200
BATCH = 50

# Statuses a bad message may get. Never UNKNOWN or INTERNAL, and never a dropped connection
# (UNAVAILABLE), which would mean the server failed rather than answered.
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}

# Methods whose requests are mutated from valid ones; the others get random bytes only (a
# mutated registration could start processes the test does not own).
_SEEDS: dict[str, list[bytes]] = {
    "/inference.GRPCInferenceService/ModelInfer": [
        inference_pb2.ModelInferRequest(
            model_name="twice",
            inputs=[
                inference_pb2.ModelInferRequest.InferInputTensor(
                    name="x", datatype="FP32", shape=[2, 4]
                )
            ],
            raw_input_contents=[np.ones((2, 4), np.float32).tobytes()],
        ).SerializeToString(),
        inference_pb2.ModelInferRequest(
            model_name="identity_bytes",
            inputs=[
                inference_pb2.ModelInferRequest.InferInputTensor(
                    name="x",
                    datatype="BYTES",
                    shape=[1, 4],
                    contents=inference_pb2.InferTensorContents(
                        bytes_contents=[b"a", b"b", b"", b"d"]
                    ),
                )
            ],
        ).SerializeToString(),
    ],
    "/mlos.smi.v1.MLOS/Infer": [
        smi_pb2.InferRequest(
            model_name="twice", inputs=[tensors.from_numpy("x", np.ones((1, 4), np.float32))]
        ).SerializeToString()
    ],
    "/inference.GRPCInferenceService/ModelMetadata": [
        inference_pb2.ModelMetadataRequest(name="mlp").SerializeToString()
    ],
    "/inference.GRPCInferenceService/ModelConfig": [
        inference_pb2.ModelConfigRequest(name="mlp").SerializeToString()
    ],
}

_METHODS = [
    f"/{service.full_name}/{method.name}"
    for service in (MLOS_SERVICE, INFERENCE_SERVICE)
    for method in service.methods
    if not (method.client_streaming or method.server_streaming)
]


def _payload(rng: random.Random, path: str) -> bytes:
    seeds = _SEEDS.get(path)
    if seeds and rng.random() < 0.7:
        data = bytearray(rng.choice(seeds))
        kind = rng.randrange(3)
        if kind == 0:  # truncate
            return bytes(data[: rng.randrange(len(data) + 1)])
        for _ in range(rng.randint(1, 4)):  # flip bytes
            data[rng.randrange(len(data))] = rng.randrange(256)
        if kind == 2:  # and append junk
            data += rng.randbytes(rng.randrange(16))
        return bytes(data)
    return rng.randbytes(rng.randrange(64))


def _path(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.85:
        return rng.choice(_METHODS)
    if roll < 0.95:
        service = rng.choice(["mlos.smi.v1.MLOS", "inference.GRPCInferenceService", "x.Y"])
        return f"/{service}/{rng.randbytes(6).hex()}"
    return "/" + "".join(rng.choice("abc/._-") for _ in range(rng.randrange(20)))


def _serving(channel: grpc.Channel) -> bool:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=10
    )
    return response.status == health_pb2.HealthCheckResponse.SERVING


def test_random_messages(served: Served) -> None:
    rng = random.Random(20261127)
    outcomes: dict[grpc.StatusCode, int] = {}
    unexpected: list[tuple[str, bytes, Any, Any]] = []
    with served.channel() as channel:
        for _ in range(CALLS // BATCH):
            pending: list[tuple[str, bytes, Future[Any]]] = []
            for _ in range(BATCH):
                path = _path(rng)
                payload = _payload(rng, path)
                call = channel.unary_unary(
                    path, request_serializer=None, response_deserializer=None
                )
                pending.append((path, payload, call.future(payload, timeout=60)))
            for path, payload, future in pending:
                error = future.exception()
                code = grpc.StatusCode.OK if error is None else error.code()
                outcomes[code] = outcomes.get(code, 0) + 1
                if code not in ALLOWED:
                    unexpected.append((path, payload, code, error.details()))
        assert not unexpected, unexpected[:5]
        assert outcomes.get(grpc.StatusCode.INVALID_ARGUMENT, 0) > CALLS // 4
        assert outcomes.get(grpc.StatusCode.UNIMPLEMENTED, 0) > 0
        assert _serving(channel)


def test_raw_connections(served: Served) -> None:
    rng = random.Random(7)
    host, port = served.address.rsplit(":", 1)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for index in range(CONNECTIONS):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            kind = index % 4
            if kind == 0:
                data = rng.randbytes(rng.randrange(1, 512))
            elif kind == 1:
                data = preface[: rng.randrange(len(preface))]
            elif kind == 2:
                data = preface + rng.randbytes(rng.randrange(1, 256))
            else:  # a settings frame that claims more bytes than it sends
                data = preface + b"\x00\x01\x00\x04\x00\x00\x00\x00\x00" + b"\x00" * 7
            try:
                sock.sendall(data)
                sock.settimeout(0.05)
                sock.recv(1024)
            except OSError:
                pass
    with served.channel() as channel:
        assert _serving(channel)
