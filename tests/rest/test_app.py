"""The app as a whole: every operation has a handler, unknown routes and methods answer cleanly."""

from __future__ import annotations

import httpx

from mlos.rest.app import handlers
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
    assert "GET" in response.headers["allow"]
    assert response.json()["status"] == 405


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
