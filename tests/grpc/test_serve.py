"""`mlos.server.serve` with gRPC: the listening line, health over the port, a busy port, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.config import Settings
from mlos.errors import Unavailable
from mlos.server import serve
from tests.rest.conftest import StubEngine


class ServedStub(StubEngine):
    """The REST tests' stub engine, with what the server and gRPC health call."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    def is_ready(self) -> bool:
        return self.ready


def _settings(tmp_path: Path, grpc_port: int = 0) -> Settings:
    return Settings(home=tmp_path, http_port=0, grpc_port=grpc_port, log_level="warning")


async def test_grpc_listens_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    engine = ServedStub()
    lines: list[str] = []
    rest_up = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        if line.startswith("MLOS REST"):
            rest_up.set()

    server = asyncio.create_task(serve(_settings(tmp_path), engine=engine, announce=announce))
    await asyncio.wait_for(rest_up.wait(), 30)
    (line,) = [line for line in lines if line.startswith("MLOS gRPC listening on ")]
    assert lines.index(line) < len(lines) - 1  # before the REST line
    address = line.rsplit(" ", 1)[1]
    assert address.startswith("127.0.0.1:") and not address.endswith(":0")

    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        engine.ready = False
        status = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        engine.ready = True
        watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        statuses = []
        while (response := await watch.read()) is not grpc.aio.EOF:  # the watch ends
            statuses.append(response.status)
        await asyncio.wait_for(server, 30)
    assert statuses == [health_pb2.HealthCheckResponse.NOT_SERVING]
    assert time.monotonic() - started < 10  # the open watch did not hold up the drain
    assert engine.events == ["start", "stop"]
    with socket.socket() as probe:  # the gRPC port is closed again
        assert probe.connect_ex(("127.0.0.1", int(address.rsplit(":", 1)[1]))) != 0


async def test_busy_grpc_port_fails_before_the_engine_starts(tmp_path: Path) -> None:
    engine = ServedStub()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(Unavailable, match=f"cannot listen on 127.0.0.1:{port} for gRPC"):
            await serve(_settings(tmp_path, port), engine=engine, announce=lambda line: None)
    assert "start" not in engine.events
