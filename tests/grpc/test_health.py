"""The standard grpc.health.v1 service: in-process against a fake engine, and over the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.errors import NotFound
from mlos.grpc import health
from mlos.grpc.app import INFERENCE_SERVICE, MLOS_SERVICE

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
SERVICES = ["", "mlos.smi.v1.MLOS", "inference.GRPCInferenceService", "grpc.health.v1.Health"]


class _Engine:
    ready = True

    def is_ready(self) -> bool:
        return self.ready


def _servicer(engine: _Engine) -> health.Health:
    return health.Health(engine, (MLOS_SERVICE.full_name, INFERENCE_SERVICE.full_name))  # type: ignore[arg-type]


def _check(servicer: health.Health, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    response = asyncio.run(servicer.Check(request, None))  # type: ignore[arg-type]
    return response.status


@pytest.mark.parametrize("service", SERVICES)
def test_status_follows_the_engine(service: str) -> None:
    engine = _Engine()
    servicer = _servicer(engine)
    assert _check(servicer, service) == SERVING
    engine.ready = False
    assert _check(servicer, service) == NOT_SERVING
    engine.ready = True
    assert _check(servicer, service) == SERVING
    servicer.shutdown()
    assert _check(servicer, service) == NOT_SERVING


def test_unknown_service_is_not_found() -> None:
    with pytest.raises(NotFound, match="no service 'other'"):
        _check(_servicer(_Engine()), "other")


def test_watch_reports_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "WATCH_INTERVAL", 0.001)
    engine = _Engine()
    servicer = _servicer(engine)

    async def watch() -> list[int]:
        seen: list[int] = []
        stream = servicer.Watch(health_pb2.HealthCheckRequest(), None)  # type: ignore[arg-type]
        seen.append((await anext(stream)).status)
        engine.ready = False
        seen.append((await anext(stream)).status)
        engine.ready = True
        seen.append((await anext(stream)).status)
        await stream.aclose()
        unknown = servicer.Watch(health_pb2.HealthCheckRequest(service="x"), None)  # type: ignore[arg-type]
        seen.append((await anext(unknown)).status)
        await unknown.aclose()
        return seen

    assert asyncio.run(watch()) == [SERVING, NOT_SERVING, SERVING, UNKNOWN]


def test_watch_ends_when_the_server_stops() -> None:
    servicer = _servicer(_Engine())

    async def watch() -> list[int]:
        stream = servicer.Watch(health_pb2.HealthCheckRequest(), None)  # type: ignore[arg-type]
        seen = [(await anext(stream)).status]
        servicer.shutdown()
        seen += [response.status async for response in stream]
        return seen

    assert asyncio.run(asyncio.wait_for(watch(), 5)) == [SERVING, NOT_SERVING]


def test_over_the_wire(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in SERVICES:
        assert stub.Check(health_pb2.HealthCheckRequest(service=service)).status == SERVING
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    stream: Any = stub.Watch(health_pb2.HealthCheckRequest(), timeout=10)
    assert next(stream).status == SERVING
    stream.cancel()
