"""The app as a whole: every operation has a handler, unknown routes and methods answer cleanly."""

from __future__ import annotations

import re

import httpx
import pytest

from mlos.rest.app import Dispatcher, handlers
from mlos.rest.middleware import AllowedMethods
from mlos_generated.openapi_operations import OPERATION_IDS, OPERATIONS
from tests.rest.conftest import StubEngine


def test_every_operation_has_a_handler_and_every_handler_an_operation() -> None:
    table = handlers(StubEngine())
    assert set(table) == OPERATION_IDS
    assert all(callable(handler) for handler in table.values())


def test_versioned_operations_share_their_handler() -> None:
    table = handlers(StubEngine())
    for operation in OPERATIONS:
        if "/versions/{version}" in operation.path and operation.path.startswith("/v2"):
            plain = operation.operation_id.replace("model_version_", "model_")
            assert table[operation.operation_id].__func__ is table[plain].__func__  # type: ignore[attr-defined]


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


async def test_unknown_v2_path_is_404_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/models/add/nothing")
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.json()["status"] == 405


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/plugins", "GET, HEAD, OPTIONS, POST"),
        ("/v1/plugins/onnx", "DELETE, GET, HEAD, OPTIONS"),
        ("/v1/models/m/versions/1", "DELETE, GET, HEAD, OPTIONS"),
        ("/v1/tokens/abc", "DELETE, OPTIONS"),
        ("/v2/models/m/infer", "OPTIONS, POST"),
        ("/v2/models/stats", "GET, HEAD, OPTIONS"),
    ],
)
async def test_allow_names_every_method_of_the_path(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    options = await client.options(path)
    assert options.status_code == 204
    assert options.headers["allow"] == allow
    refused = await client.patch(path)
    assert refused.status_code == 405
    assert refused.headers["allow"] == allow


def test_allow_matches_the_document(engine: StubEngine) -> None:
    table = AllowedMethods(Dispatcher({}, engine.pipeline), [(o.method, o.path) for o in OPERATIONS])
    for operation in OPERATIONS:
        concrete = re.sub(r"\{[^}]+\}", "x", operation.path)
        assert operation.method in table.allowed(concrete).split(", "), operation
    assert table.allowed("/v1/nothing") == ""


async def test_options_on_an_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.options("/v1/nothing-here")).status_code == 404


async def test_stats_path_is_not_a_model_name(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/models/stats")
    assert response.status_code == 200
    assert "model_stats" in response.json()



async def test_metrics_are_served_as_prometheus_text_through_the_pipeline(
    client: httpx.AsyncClient, engine: StubEngine
) -> None:
    seen: list[tuple[str, str]] = []

    async def spy(call, request, proceed):  # type: ignore[no-untyped-def]
        seen.append((call.caller.transport.value, call.operation.name))
        return await proceed(call, request)

    engine.pipeline.add(spy)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.text.endswith("mlos_server_ready 1\n")
    assert seen == [("rest", "metrics")] and engine.calls == [("scrape_metrics", ())]
    refused = await client.post("/metrics")
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
