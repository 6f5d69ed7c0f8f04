"""The body limit and the error boundary."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from mlos.rest.app import create_app
from mlos_generated import smi_pb2
from tests.rest.conftest import Settings, StubEngine


@pytest.fixture
async def small(engine: StubEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that accepts bodies up to 1 KiB."""
    app = create_app(engine, Settings(max_body_bytes=1024))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        yield http


def _infer(count: int) -> bytes:
    data = [1.0] * count
    return json.dumps(
        {"inputs": [{"name": "in", "shape": [count], "datatype": "FP32", "data": data}]}
    ).encode()


async def test_declared_oversize_body_is_413(small: httpx.AsyncClient) -> None:
    response = await small.post(
        "/v2/models/echo/infer", content=_infer(1000), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "1024 bytes" in response.json()["error"]
    problem = await small.post(
        "/v1/models", content=b" " * 2000, headers={"Content-Type": "application/json"}
    )
    assert problem.status_code == 413
    assert problem.json()["code"] == "resource_exhausted"
    assert (await small.post("/v2/models/echo/infer", content=_infer(10))).status_code == 200


async def test_streamed_oversize_body_is_413(small: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        payload = _infer(1000)
        for start in range(0, len(payload), 256):
            yield payload[start : start + 256]

    response = await small.post(
        "/v2/models/echo/infer", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_inflated_body_is_held_to_the_limit(small: httpx.AsyncClient) -> None:
    bomb = gzip.compress(_infer(5000))
    assert len(bomb) < 1024
    response = await small.post(
        "/v2/models/echo/infer",
        content=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


class _Broken(StubEngine):
    async def health(self) -> smi_pb2.HealthResponse:
        raise RuntimeError("secret detail from /home/user")

    async def model_ready(self, name: str, version: str = "") -> bool:
        raise RuntimeError("secret detail from /home/user")


async def test_unexpected_errors_are_500_without_details() -> None:
    app = create_app(_Broken(), Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        for path, key in (("/v1/health", "detail"), ("/v2/models/m/ready", "error")):
            response = await http.get(path)
            assert response.status_code == 500
            assert response.json()[key] == "internal error"
            assert b"secret" not in response.content
            assert b"Traceback" not in response.content
        assert (await http.get("/v1/plugins")).status_code == 200
