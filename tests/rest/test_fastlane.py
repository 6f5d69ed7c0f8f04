"""The fast lane for the inference routes answers exactly as connexion's routing and
validation do."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from connexion.middleware.request_validation import RequestValidationMiddleware
from starlette.routing import Route

import mlos.rest.app
import mlos.rest.fastlane
from mlos.rest.app import FAST_OPERATIONS, create_app
from mlos.rest.fastlane import FastRoutes, _may_overlap
from tests.rest.conftest import Settings, StubEngine

INFER = {
    "inputs": [
        {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]},
        {"name": "y", "shape": [1, 2], "datatype": "FP32", "data": [3.0, 4.0]},
    ]
}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# (method, path, body, headers): valid calls and every kind of refusal on the two routes.
CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/v2/models/add/infer", json.dumps(INFER).encode(), {"content-type": "application/json"}),
    ("POST", "/v2/models/add/versions/1/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/add/infer", json.dumps(INFER).encode(),
     {"content-type": "application/json; charset=latin-1"}),
    ("POST", "/v2/models/add/infer", json.dumps(INFER).encode(),
     {"content-type": "application/x-www-form-urlencoded"}),
    ("POST", "/v2/models/add/infer", json.dumps(INFER).encode(), {"content-type": "text/plain"}),
    ("POST", "/v2/models/add/infer", b'{"inputs": "none"}', {"content-type": "application/json"}),
    ("POST", "/v2/models/add/infer", b"{not json", {"content-type": "application/json"}),
    ("POST", "/v2/models/add/infer", b"", {"content-type": "application/json"}),
    ("POST", "/v2/models/add/infer", json.dumps(INFER).encode(),
     {"inference-header-content-length": "9999"}),
    ("POST", "/v2/models/nope/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/-bad/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/a@b/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/" + "n" * 129 + "/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/add/versions/x@y/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/add/versions/" + "9" * 65 + "/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/add/versions/7/infer", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/add/infer/", json.dumps(INFER).encode(), {}),
    ("POST", "/v2/models/a/b/infer", json.dumps(INFER).encode(), {}),
    ("GET", "/v2/models/add/infer", b"", {}),
    ("PUT", "/v2/models/add/versions/1/infer", b"{}", {}),
    ("OPTIONS", "/v2/models/add/infer", b"", {}),
]  # fmt: skip


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "date")}
    return response.status_code, headers, response.content


async def _answers(app: Any) -> list[tuple[int, dict[str, str], bytes]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        answers = []
        # Twice: what the lane remembers from the first round must not change the second.
        for method, path, body, headers in CASES + CASES:
            response = await http.request(method, path, content=body, headers=headers)
            answers.append(_answer(response))
        return answers


def _fast_routes(app: Any) -> FastRoutes:
    while not isinstance(app, FastRoutes):
        app = app.app
    return app


def test_both_inference_operations_take_the_lane() -> None:
    app = create_app(StubEngine(), Settings())
    assert _fast_routes(app).operation_ids == FAST_OPERATIONS


async def test_same_answers_as_connexion_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = create_app(StubEngine(), Settings())
    # The stack as it was before the lane: connexion's routing and its own validation step.
    monkeypatch.setattr(mlos.rest.app, "FAST_OPERATIONS", frozenset())
    monkeypatch.setattr(mlos.rest.app, "CachedRequestValidation", RequestValidationMiddleware)
    slow = create_app(StubEngine(), Settings())
    assert not _fast_routes(slow).operation_ids
    fast_answers, slow_answers = await _answers(fast), await _answers(slow)
    for case, fast_answer, slow_answer in zip(
        CASES + CASES, fast_answers, slow_answers, strict=True
    ):
        assert fast_answer == slow_answer, case[:2]
    statuses = {answer[0] for answer in fast_answers}
    assert {200, 400, 404, 405, 415} <= statuses


async def test_request_ids_come_back_on_the_lane() -> None:
    transport = httpx.ASGITransport(app=create_app(StubEngine(), Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        plain = await http.post("/v2/models/add/infer", json=INFER)
        traced = await http.post(
            "/v2/models/add/infer", json=INFER, headers={"traceparent": TRACEPARENT}
        )
        refused = await http.post("/v2/models/a@b/infer", json=INFER)
    assert plain.status_code == 200 and len(plain.headers["x-request-id"]) == 32
    assert traced.headers["x-request-id"] == "0af7651916cd43dd8448eb211c80319c"
    assert refused.status_code == 400 and len(refused.headers["x-request-id"]) == 32


async def test_the_lane_keeps_the_body_limit() -> None:
    transport = httpx.ASGITransport(app=create_app(StubEngine(), Settings(max_body_bytes=64)))
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        response = await http.post("/v2/models/add/infer", json=INFER)
    assert response.status_code == 413
    assert "error" in response.json()


def test_an_operation_behind_an_overlapping_route_is_left_to_connexion() -> None:
    """GET /v2/models/{name} comes after GET /v2/models/stats, which matches one of its paths."""
    app = create_app(StubEngine(), Settings())
    connexion_app = _fast_routes(app).app
    routes = FastRoutes(connexion_app, {"model_metadata", "model_infer"})
    assert routes.operation_ids == {"model_infer"}


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("/v2/models/{name}/infer", "/v2/models/{name}/ready", False),
        ("/v2/models/stats", "/v2/models/{name}", True),
        ("/v2/models/{name}", "/v2/models/{name}/infer", False),
        ("/v2/models/{name:path}", "/v2/models/{name}/infer", True),
    ],
)
def test_overlap(first: str, second: str, overlap: bool) -> None:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass

    left, right = (
        Route(first, endpoint, methods=["POST"]),
        Route(second, endpoint, methods=["POST"]),
    )
    assert _may_overlap(left, right) is overlap
    other = Route(first, endpoint, methods=["GET"])
    assert _may_overlap(other, right) is (overlap and "{name:path}" in first)


@pytest.fixture
async def fast_client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(StubEngine(), Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        yield http


async def test_path_parameters_reach_the_engine(fast_client: httpx.AsyncClient) -> None:
    response = await fast_client.post("/v2/models/add/versions/1/infer", json=INFER)
    assert response.status_code == 200
    assert response.json()["model_version"] == "1"


async def test_remembered_path_parameters_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlos.rest.fastlane, "_PATHS_LIMIT", 2)
    app = create_app(StubEngine(), Settings())
    connexion_app = _fast_routes(app).app
    (validation,) = [
        m for m in connexion_app.middleware_stack if isinstance(m, RequestValidationMiddleware)
    ]
    operation = validation.apis[""][0].operations["model_infer"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        for name in ("m1", "m2", "m3", "m4", "m5"):
            response = await http.post(f"/v2/models/{name}/infer", json=INFER)
            assert response.status_code == 404
            assert len(operation._valid_paths) <= 2
        refused = await http.post("/v2/models/a@b/infer", json=INFER)
    assert refused.status_code == 400
    assert ("name", "a@b") not in {item for key in operation._valid_paths for item in key}
