"""Triton's system shared-memory extension over REST, with the real engine and ONNX plugin.

Regions are created the way Triton's own examples do (`tritonclient.utils.shared_memory`) and
driven with `tritonclient.http`; the registry's error answers are checked over HTTP too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
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

from mlos.core.engine import Engine
from mlos.rest.app import create_app
from mlos.wire.shared_memory import INTERNAL_PREFIX, SHM_DIR
from tests.rest.conftest import _free_port

pytest.importorskip("onnxruntime")
httpclient = pytest.importorskip("tritonclient.http")
shm = pytest.importorskip("tritonclient.utils.shared_memory")
from tritonclient.utils import InferenceServerException  # noqa: E402

from tests.models import identity_model, save  # noqa: E402

IMAGE = (1, 3, 224, 224)
IMAGE_BYTES = 4 * int(np.prod(IMAGE))


@dataclass
class _Settings:
    home: Path
    model_roots: tuple[Path, ...]
    max_body_bytes: int = 64 * 1024 * 1024
    log_level: str = "warning"
    restart_backoff_initial: float = 0.05
    restart_backoff_max: float = 1.0


@dataclass
class Served:
    url: str
    engine: Engine


def _core_segments() -> list[str]:
    """The /dev/shm entries of this process's engine (the core runs in the test process)."""
    return sorted(p.name for p in SHM_DIR.glob(f"{INTERNAL_PREFIX}{os.getpid()}-*"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """uvicorn on a loopback port over a real engine, with the onnx plugin and `image` model."""
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
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    url = f"127.0.0.1:{port}"
    with httpx.Client(base_url=f"http://{url}", timeout=60) as http:
        assert http.post("/v1/plugins", json={"name": "onnx"}).status_code == 201
        assert http.post("/v1/plugins/onnx/load").json()["state"] == "ready"
        path = save(identity_model("FP32", ("batch", 3, 224, 224)), models / "image.onnx")
        body = {"name": "image", "plugin": "onnx", "path": str(path)}
        assert http.post("/v1/models", json=body).status_code == 201
    try:
        yield Served(url, engine)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert _core_segments() == [], "the engine left shared-memory segments behind"


@pytest.fixture
def client(served: Served) -> Iterator[Any]:
    client = httpclient.InferenceServerClient(served.url)
    try:
        yield client
    finally:
        client.unregister_system_shared_memory()
        client.close()


@pytest.fixture
def regions() -> Iterator[list[Any]]:
    """Regions created by a test, destroyed after it."""
    created: list[Any] = []
    yield created
    for handle in created:
        shm.destroy_shared_memory_region(handle)


def _region(regions: list[Any], name: str, size: int) -> Any:
    handle = shm.create_shared_memory_region(name, f"/mlos_test_{os.getpid()}_{name}", size)
    regions.append(handle)
    return handle


def test_round_trip_from_tritonclient(client: Any, regions: list[Any]) -> None:
    data = np.random.default_rng(0).random(IMAGE, dtype=np.float32)
    inputs = _region(regions, "in", IMAGE_BYTES)
    outputs = _region(regions, "out", IMAGE_BYTES)
    shm.set_shared_memory_region(inputs, [data])
    client.register_system_shared_memory("in", f"/mlos_test_{os.getpid()}_in", IMAGE_BYTES)
    client.register_system_shared_memory("out", f"/mlos_test_{os.getpid()}_out", IMAGE_BYTES)
    status = client.get_system_shared_memory_status()
    assert sorted(r["name"] for r in status) == ["in", "out"]
    assert client.get_system_shared_memory_status("in") == [
        {"name": "in", "key": f"/mlos_test_{os.getpid()}_in", "offset": 0, "byte_size": IMAGE_BYTES}
    ]

    x = httpclient.InferInput("x", list(IMAGE), "FP32")
    x.set_shared_memory("in", IMAGE_BYTES)
    y = httpclient.InferRequestedOutput("y")
    y.set_shared_memory("out", IMAGE_BYTES)
    result = client.infer("image", [x], outputs=[y])

    output = result.get_output("y")
    assert "data" not in output
    assert output["parameters"]["shared_memory_region"] == "out"
    assert output["parameters"]["shared_memory_byte_size"] == IMAGE_BYTES
    np.testing.assert_array_equal(shm.get_contents_as_numpy(outputs, np.float32, IMAGE), data)

    client.unregister_system_shared_memory("in")
    assert [r["name"] for r in client.get_system_shared_memory_status()] == ["out"]
    with pytest.raises(InferenceServerException, match="unable to find"):
        client.infer("image", [x], outputs=[y])


def test_shared_memory_input_with_binary_output_at_an_offset(
    client: Any, regions: list[Any]
) -> None:
    data = np.full(IMAGE, 0.5, dtype=np.float32)
    handle = _region(regions, "both", 4096 + IMAGE_BYTES)
    shm.set_shared_memory_region(handle, [data], offset=4096)
    client.register_system_shared_memory(
        "both", f"/mlos_test_{os.getpid()}_both", 4096 + IMAGE_BYTES
    )
    x = httpclient.InferInput("x", list(IMAGE), "FP32")
    x.set_shared_memory("both", IMAGE_BYTES, offset=4096)
    result = client.infer(
        "image", [x], outputs=[httpclient.InferRequestedOutput("y", binary_data=True)]
    )
    np.testing.assert_array_equal(result.as_numpy("y"), data)


def test_reading_or_writing_outside_the_region_is_400(served: Served, regions: list[Any]) -> None:
    key = f"/mlos_test_{os.getpid()}_small"
    _region(regions, "small", 8192)
    with httpx.Client(base_url=f"http://{served.url}") as http:
        # A region larger than its object, or past its end, is refused at registration.
        too_big = http.post(
            "/v2/systemsharedmemory/region/r/register", json={"key": key, "byte_size": 8193}
        )
        assert too_big.status_code == 400 and "exceeds" in too_big.json()["error"]
        past = {"key": key, "offset": 4096, "byte_size": 8192}
        assert http.post("/v2/systemsharedmemory/region/r/register", json=past).status_code == 400
        registered = {"key": key, "offset": 4096, "byte_size": 4096}
        assert (
            http.post("/v2/systemsharedmemory/region/r/register", json=registered).status_code
            == 200
        )

        def infer(to_input: dict[str, Any], to_output: dict[str, Any]) -> httpx.Response:
            x = {"name": "x", "datatype": "FP32", "shape": [1, 1, 32, 32], "parameters": to_input}
            body = {"inputs": [x], "outputs": [{"name": "y", "parameters": to_output}]}
            return http.post("/v2/models/image/infer", json=body)

        inside = {"shared_memory_region": "r", "shared_memory_byte_size": 4096}
        for outside in (
            {"shared_memory_region": "r", "shared_memory_byte_size": 4097},
            {
                "shared_memory_region": "r",
                "shared_memory_byte_size": 4000,
                "shared_memory_offset": 100,
            },
            {
                "shared_memory_region": "r",
                "shared_memory_byte_size": 16,
                "shared_memory_offset": 4096,
            },
        ):
            for response in (infer(outside, {}), infer(inside, outside)):
                assert response.status_code == 400, response.text
                assert "outside shared memory region 'r'" in response.json()["error"]
        status = http.get("/v2/systemsharedmemory/status").json()
        assert status == [{"name": "r", "key": key, "offset": 4096, "byte_size": 4096}]


def test_output_larger_than_its_region_is_400(client: Any, regions: list[Any]) -> None:
    data = np.ones(IMAGE, dtype=np.float32)
    inputs = _region(regions, "in2", IMAGE_BYTES)
    _region(regions, "out2", 1024)
    shm.set_shared_memory_region(inputs, [data])
    client.register_system_shared_memory("in2", f"/mlos_test_{os.getpid()}_in2", IMAGE_BYTES)
    client.register_system_shared_memory("out2", f"/mlos_test_{os.getpid()}_out2", 1024)
    x = httpclient.InferInput("x", list(IMAGE), "FP32")
    x.set_shared_memory("in2", IMAGE_BYTES)
    y = httpclient.InferRequestedOutput("y")
    y.set_shared_memory("out2", 1024)
    with pytest.raises(InferenceServerException, match="needs 602112 bytes"):
        client.infer("image", [x], outputs=[y])


def test_registry_errors(served: Served, regions: list[Any]) -> None:
    key = f"/mlos_test_{os.getpid()}_errors"
    _region(regions, "errors", 4096)
    with httpx.Client(base_url=f"http://{served.url}") as http:
        register = "/v2/systemsharedmemory/region/{}/register"
        body = {"key": key, "offset": 0, "byte_size": 4096}
        assert http.post(register.format("a"), json=body).status_code == 200
        duplicate = http.post(register.format("a"), json=body)
        assert duplicate.status_code == 409 and "already" in duplicate.json()["error"]
        missing = http.post(register.format("b"), json={**body, "key": "/mlos_no_such_key"})
        assert missing.status_code == 404, missing.text
        for bad in ("/../etc/passwd", "a/b", f"/{INTERNAL_PREFIX}1-x-0"):
            assert http.post(register.format("b"), json={**body, "key": bad}).status_code == 400
        assert http.post(register.format("b"), json={"key": key}).status_code == 400  # no size
        assert http.get("/v2/systemsharedmemory/region/nope/status").status_code == 404
        assert http.post("/v2/systemsharedmemory/region/nope/unregister").status_code == 200
        assert http.post("/v2/systemsharedmemory/region/a/unregister").status_code == 200
        assert http.get("/v2/systemsharedmemory/status").json() == []

        cuda = http.post(
            "/v2/cudasharedmemory/region/c/register",
            json={"raw_handle": {"b64": "AAAA"}, "device_id": 0, "byte_size": 16},
        )
        assert cuda.status_code == 404 and "not supported" in cuda.json()["error"]
        assert http.get("/v2/cudasharedmemory/status").json() == []
        assert http.get("/v2/cudasharedmemory/region/c/status").status_code == 404
        assert http.post("/v2/cudasharedmemory/unregister").status_code == 200
        assert "system_shared_memory" in http.get("/v2").json()["extensions"]


def test_large_tensors_use_the_plugin_pool_and_leave_nothing_behind(served: Served) -> None:
    """Large tensors go through the core's segments; plugin restarts and crashes remove them."""
    client = httpclient.InferenceServerClient(served.url)
    data = np.random.default_rng(1).random(IMAGE, dtype=np.float32)

    def infer() -> None:
        x = httpclient.InferInput("x", list(IMAGE), "FP32")
        x.set_data_from_numpy(data, binary_data=True)
        out = client.infer("image", [x], outputs=[httpclient.InferRequestedOutput("y")])
        np.testing.assert_array_equal(out.as_numpy("y"), data)

    with httpx.Client(base_url=f"http://{served.url}", timeout=60) as http:
        infer()
        first = _core_segments()
        assert first, "a 600 KB tensor should travel through shared memory"
        infer()
        assert _core_segments() == first, "blocks are reused, not created per request"

        assert http.post("/v1/plugins/onnx/unload").status_code == 200
        assert _core_segments() == []
        assert http.post("/v1/plugins/onnx/load").json()["state"] == "ready"
        infer()
        assert _core_segments()

        pid = http.get("/v1/plugins/onnx").json()["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _core_segments() or http.get("/v2/models/image/ready").status_code != 200:
            assert time.monotonic() < deadline, "plugin did not come back, or segments remain"
            time.sleep(0.05)
        infer()
    client.close()


def test_a_large_binary_input_of_the_wrong_size_is_400(served: Served) -> None:
    """Large binary inputs go to the core as views of the body; their size is still checked."""
    needed = int(np.prod(IMAGE)) * 4
    for size in (needed - 4, needed + 4):
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "datatype": "FP32",
                        "shape": list(IMAGE),
                        "parameters": {"binary_data_size": size},
                    }
                ]
            }
        ).encode()
        response = httpx.post(
            f"http://{served.url}/v2/models/image/infer",
            content=header + bytes(size),
            headers={
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(len(header)),
            },
            timeout=60,
        )
        assert response.status_code == 400
        assert response.json()["error"] == (
            f"input 'x' has {size} bytes of data, shape {list(IMAGE)} of FP32 needs {needed}"
        )
