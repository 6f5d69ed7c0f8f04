"""The REST server over the real engine and a real ONNX plugin process, driven by tritonclient.

Everything goes through HTTP on a loopback port: the plugin and the models are registered with
/v1, inference and metadata go through /v2 with tritonclient.http, and outputs are compared with
onnxruntime's own on the same inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from mlos.rest.app import create_app
from tests.rest.conftest import _free_port

pytest.importorskip("onnxruntime")
httpclient = pytest.importorskip("tritonclient.http")

from mlos.core.engine import Engine  # noqa: E402
from tests.models import identity_model, mlp_model, save, string_model  # noqa: E402


@dataclass
class _Settings:
    home: Path
    model_roots: tuple[Path, ...]
    max_body_bytes: int = 64 * 1024 * 1024
    log_level: str = "warning"
    restart_backoff_initial: float = 0.5
    restart_backoff_max: float = 30.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A uvicorn server on a random loopback port over a fresh engine; yields (url, models)."""
    home = tmp_path_factory.mktemp("mlos-home")
    models = tmp_path_factory.mktemp("models")
    settings = _Settings(home=home, model_roots=(models,))
    engine = Engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    port = _free_port()
    config = uvicorn.Config(
        create_app(engine, settings, lifespan=lifespan),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}", models
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def registered(served: tuple[str, Path]) -> str:
    """The onnx plugin and three models registered through /v1; returns the server address."""
    url, models = served
    with httpx.Client(base_url=f"http://{url}", timeout=60) as http:
        plugin = http.post("/v1/plugins", json={"name": "onnx"})
        assert plugin.status_code == 201, plugin.text
        if plugin.json()["state"] != "ready":
            loaded = http.post("/v1/plugins/onnx/load")
            assert loaded.status_code == 200, loaded.text
            assert loaded.json()["state"] == "ready", loaded.text
        for name, model in (
            ("mlp", mlp_model()),
            ("strings", string_model()),
            ("int8", identity_model("INT8")),
        ):
            path = save(model, models / f"{name}.onnx")
            response = http.post(
                "/v1/models", json={"name": name, "plugin": "onnx", "path": str(path)}
            )
            assert response.status_code == 201, response.text
            assert response.json()["state"] == "ready"
        health = http.get("/v1/health")
        assert health.status_code == 200, health.text
    return url


def _reference(name: str, path: Path, feeds: dict[str, np.ndarray[Any, Any]]) -> list[Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("batch", [1, 5])
def test_mlp_matches_onnxruntime(
    registered: str, served: tuple[str, Path], binary: bool, batch: int
) -> None:
    client = httpclient.InferenceServerClient(registered)
    metadata = client.get_model_metadata("mlp")
    name, output = metadata["inputs"][0]["name"], metadata["outputs"][0]["name"]
    x = np.random.default_rng(batch).random((batch, 64), dtype=np.float32)
    tensor = httpclient.InferInput(name, [batch, 64], "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(output, binary_data=binary)]
    result = client.infer("mlp", [tensor], outputs=outputs)
    (expected,) = _reference("mlp", served[1] / "mlp.onnx", {name: x})
    np.testing.assert_allclose(result.as_numpy(output), expected, rtol=1e-5, atol=1e-6)


def test_metadata_config_and_readiness(registered: str) -> None:
    client = httpclient.InferenceServerClient(registered)
    assert client.is_server_ready()
    assert client.is_model_ready("mlp")
    assert not client.is_model_ready("missing")
    metadata = client.get_model_metadata("mlp")
    assert metadata["inputs"][0]["datatype"] == "FP32"
    config = client.get_model_config("mlp")
    assert config["name"] == "mlp"
    assert config["input"][0]["data_type"] == "TYPE_FP32"


@pytest.mark.parametrize("binary", [True, False])
def test_bytes_and_int8(registered: str, binary: bool) -> None:
    client = httpclient.InferenceServerClient(registered)
    text = np.array([b"hello", "w\xc3\xb6rld".encode("latin-1")], dtype=object)
    tensor = httpclient.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(text, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("upper", binary_data=binary)]
    upper = client.infer("strings", [tensor], outputs=outputs).as_numpy("upper")
    words = [v if isinstance(v, bytes) else v.encode() for v in upper]
    assert words[0] == b"HELLO"
    assert len(words) == 2

    values = np.array([[-128, 0, 127, 5], [1, 2, 3, 4]], dtype=np.int8)
    tensor = httpclient.InferInput("x", [2, 4], "INT8")
    tensor.set_data_from_numpy(values, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("y", binary_data=binary)]
    np.testing.assert_array_equal(
        client.infer("int8", [tensor], outputs=outputs).as_numpy("y"), values
    )


def test_bad_requests_answer_4xx_and_the_server_keeps_serving(registered: str) -> None:
    with httpx.Client(base_url=f"http://{registered}", timeout=30) as http:
        name = http.get("/v2/models/mlp").json()["inputs"][0]["name"]
        wrong_shape = {
            "inputs": [{"name": name, "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]
        }
        response = http.post("/v2/models/mlp/infer", json=wrong_shape)
        assert 400 <= response.status_code < 500
        assert "error" in response.json()
        wrong_name = {
            "inputs": [{"name": "nope", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]
        }
        assert http.post("/v2/models/mlp/infer", json=wrong_name).status_code == 400
        assert http.post("/v2/models/missing/infer", json=wrong_name).status_code == 404
        bad = http.post(
            "/v2/models/mlp/infer",
            content=b"\xff\xfe",
            headers={"Content-Type": "application/json"},
        )
        assert bad.status_code == 400
        assert http.get("/v2/health/ready").status_code == 200
