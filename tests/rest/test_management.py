"""/v1: bodies are the JSON rendering of the SMI messages; errors are problem details."""

from __future__ import annotations

import httpx
import pytest

from mlos_generated import smi_pb2
from tests.rest.conftest import StubEngine
from tests.rest.schemas import assert_matches


async def test_health_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"live": True, "ready": True, "plugins": []}
    assert_matches("HealthResponse", response.json())


async def test_health_not_ready_is_503_with_the_same_body(
    client: httpx.AsyncClient, engine: StubEngine
) -> None:
    engine.ready = False
    await client.post("/v1/plugins", json={"name": "onnx"})
    response = await client.get("/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["live"] is True
    assert body["plugins"][0]["state"] == "ready"
    assert_matches("HealthResponse", body)


async def test_register_installed_plugin(client: httpx.AsyncClient, engine: StubEngine) -> None:
    response = await client.post("/v1/plugins", json={"name": "onnx"})
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/plugins/onnx"
    body = response.json()
    assert_matches("PluginStatus", body)
    assert body["name"] == "onnx"
    assert body["state"] == "ready"
    assert body["source"] == {"entry_point": "onnx"}
    assert body["info"]["capabilities"]["max_batch_size"] == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [("entry_point", "onnx_v2"), ("module", "pkg.mod:Plugin"), ("executable", "/opt/p")],
)
async def test_register_plugin_source(
    client: httpx.AsyncClient, engine: StubEngine, key: str, value: str
) -> None:
    response = await client.post("/v1/plugins", json={"name": "p", "version": "2", key: value})
    assert response.status_code == 201
    assert response.json()["source"] == {key: value}
    assert engine.plugins["p"].source.WhichOneof("kind") == key


async def test_register_plugin_twice_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/plugins", json={"name": "onnx"})
    response = await client.post("/v1/plugins", json={"name": "onnx"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert_matches("Problem", problem)
    assert problem["code"] == "already_exists"
    assert "onnx" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 3},
        {"name": "p", "module": "a:B", "executable": "/x"},
        {"name": "p", "entry_point": "a", "module": "a:B"},
        {"name": "p", "source": {"module": "a:B"}},
        {"name": "p", "limits": {"memory_bytes": -1}},
        {"name": "p", "limits": {"memory": "1GiB"}},
        {"name": "p", "limits": {"cpu_weight": 20000}},
        [],
        {"name": "p", "source": {"module": "a:B"}},  # unknown keys are refused, not ignored
        {"name": "p", "module": "not an import string"},
        {"name": "p", "executable": "/bin/a\u0000b"},
        {"name": "../p"},
        {"name": "p\u0000"},
    ],
)
async def test_register_plugin_invalid_body_is_400(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/v1/plugins", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_argument"


async def test_register_plugin_unknown_key_is_refused_not_ignored(
    client: httpx.AsyncClient, engine: StubEngine
) -> None:
    response = await client.post("/v1/plugins", json={"name": "p", "source": {"module": "a:B"}})
    assert response.status_code == 400
    assert "source" in response.json()["detail"]
    assert "p" not in engine.plugins


async def test_register_plugin_limits_reach_the_core(
    client: httpx.AsyncClient, engine: StubEngine
) -> None:
    limits = {"memory_bytes": 512 * 2**20, "cpus": "0-1", "cpu_quota": 1.5, "open_files": 256}
    response = await client.post("/v1/plugins", json={"name": "p", "limits": limits})
    assert response.status_code == 201
    request = engine.registered["p"]
    assert request.limits.memory_bytes == 512 * 2**20
    assert request.limits.cpus == "0-1"
    assert request.limits.cpu_quota == 1.5
    assert request.limits.open_files == 256
    assert request.limits.processes == 0


async def test_register_model_unknown_key_is_400(client: httpx.AsyncClient) -> None:
    body = {"name": "mlp", "path": "/m/mlp.onnx", "plugin": "onnx", "owner": "x"}
    response = await client.post("/v1/models", json=body)
    assert response.status_code == 400
    assert "owner" in response.json()["detail"]


async def test_plugin_lifecycle(client: httpx.AsyncClient, engine: StubEngine) -> None:
    await client.post("/v1/plugins", json={"name": "onnx"})
    listed = (await client.get("/v1/plugins")).json()
    assert_matches("ListPluginsResponse", listed)
    assert [p["name"] for p in listed["plugins"]] == ["onnx"]
    assert (await client.get("/v1/plugins/onnx")).json()["pid"] == 1234

    unloaded = await client.post("/v1/plugins/onnx/unload")
    assert unloaded.status_code == 200
    assert unloaded.json()["state"] == "unloaded"
    loaded = await client.post("/v1/plugins/onnx/load")
    assert loaded.json()["state"] == "ready"

    removed = await client.delete("/v1/plugins/onnx")
    assert removed.status_code == 204
    assert removed.content == b""
    assert "onnx" not in engine.plugins
    missing = await client.get("/v1/plugins/onnx")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_register_model(client: httpx.AsyncClient, engine: StubEngine) -> None:
    body = {"name": "mlp", "plugin": "onnx", "path": "/m/mlp.onnx", "config": {"threads": "1"}}
    response = await client.post("/v1/models", json=body)
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/models/mlp/versions/1"
    status = response.json()
    assert_matches("ModelStatus", status)
    assert status["state"] == "ready"
    assert status["config"] == {"threads": "1"}
    assert status["metadata"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1]}]
    assert engine.models["mlp"].path == "/m/mlp.onnx"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "m"},
        {"path": "/m"},
        {"name": "m", "path": "/m", "config": {"a": 1}},
        {"name": "m", "path": "/m", "source": "/m"},  # unknown keys are refused, not ignored
        {"name": "m", "path": "/m/a\u0000b"},
        {"name": "m", "path": "/m/a\nb"},
        {"name": "m", "path": "/" + "x" * 256},  # a name in a path has at most 255 bytes
        {"name": "m", "path": "/m", "version": "1/2"},
        {"name": "m\u0000", "path": "/m"},
    ],
)
async def test_register_model_invalid_body_is_400(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/v1/models", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_argument"
    assert response.json()["detail"].startswith("body")


@pytest.mark.parametrize("path", ["/v1/plugins/a%00b", "/v1/models/a%00b", "/v2/models/a%00b"])
async def test_nul_in_a_name_in_the_path_is_400(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    assert "name" in response.text



async def test_models(client: httpx.AsyncClient, engine: StubEngine) -> None:
    listed = (await client.get("/v1/models")).json()
    assert_matches("ListModelsResponse", listed)
    assert {m["name"] for m in listed["models"]} == {"add", "echo", "upper"}

    model = (await client.get("/v1/models/add")).json()
    assert_matches("Model", model)
    assert [v["version"] for v in model["versions"]] == ["1"]

    version = await client.get("/v1/models/add/versions/1")
    assert version.status_code == 200
    assert_matches("ModelStatus", version.json())
    assert (await client.get("/v1/models/add/versions/7")).status_code == 404

    removed = await client.delete("/v1/models/add/versions/1")
    assert removed.status_code == 200
    assert_matches("RemoveModelResponse", removed.json())
    assert [s["name"] for s in removed.json()["removed"]] == ["add"]
    assert (await client.delete("/v1/models/add")).status_code == 404
    assert (await client.delete("/v1/models/echo")).json()["removed"][0]["version"] == "1"


async def test_resources(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/resources")
    assert response.status_code == 200
    body = response.json()
    assert_matches("ResourcesResponse", body)
    assert body["host"]["memory_total_bytes"] == 2**33
    assert isinstance(body["host"]["memory_total_bytes"], int)


async def test_unknown_enum_values_still_render(
    client: httpx.AsyncClient, engine: StubEngine
) -> None:
    await client.post("/v1/plugins", json={"name": "onnx"})
    engine.plugins["onnx"].state = smi_pb2.PLUGIN_STATE_FAILED
    engine.plugins["onnx"].message = "exited with 137"
    body = (await client.get("/v1/plugins/onnx")).json()
    assert (body["state"], body["message"]) == ("failed", "exited with 137")
