"""The whole server from outside: a plugin killed under it, bad requests, and it keeps serving."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import onnxruntime
import requests

from mlos.demo import DEMO_INPUT, DEMO_OUTPUT
from mlos.testing import ServerProcess
from tests.authorized import http


def wait_for(predicate, timeout: float) -> float:
    """Poll `predicate` until true; return the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def infer_json(url: str, data: np.ndarray) -> requests.Response:
    body = {"inputs": [{"name": DEMO_INPUT, "shape": list(data.shape), "datatype": "FP32",
                        "data": data.reshape(-1).tolist()}]}
    return http.post(f"{url}/v2/models/demo/infer", json=body, timeout=30)


def test_sigkilled_plugin_is_reported_fails_cleanly_and_comes_back(mlos_demo_server: ServerProcess) -> None:
    url = mlos_demo_server.url
    data = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    assert infer_json(url, data).status_code == 200
    pid = http.get(f"{url}/v1/plugins/onnx", timeout=5).json()["pid"]
    os.kill(pid, signal.SIGKILL)

    elapsed = wait_for(lambda: http.get(f"{url}/v1/health", timeout=5).status_code == 503, 1.0)
    assert elapsed < 1.0
    health = http.get(f"{url}/v1/health", timeout=5).json()
    assert health["ready"] is False
    assert health["plugins"][0]["state"] in ("failed", "loading")
    failed = infer_json(url, data)
    assert failed.status_code == 503 and "error" in failed.json()

    wait_for(lambda: infer_json(url, data).status_code == 200, 10.0)
    plugin = http.get(f"{url}/v1/plugins/onnx", timeout=5).json()
    assert plugin["state"] == "ready" and plugin["restarts"] >= 1 and plugin["pid"] != pid
    answer = infer_json(url, data).json()["outputs"][0]
    session = onnxruntime.InferenceSession(str(mlos_demo_server.home / "models" / "demo" / "model.onnx"))
    (expected,) = session.run([DEMO_OUTPUT], {DEMO_INPUT: data})
    np.testing.assert_allclose(np.array(answer["data"]).reshape(answer["shape"]), expected, rtol=1e-5, atol=1e-6)


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(mlos_demo_server: ServerProcess) -> None:
    url = mlos_demo_server.url
    infer = f"{url}/v2/models/demo/infer"
    json_headers = {"Content-Type": "application/json"}
    cases = [
        http.post(infer, data=b"{not json", headers=json_headers, timeout=5),
        http.post(infer, data=b'{"inputs": "\xff\xfe"}', headers=json_headers, timeout=5),
        http.post(f"{url}/v1/models", data=b"\xc3\x28", headers=json_headers, timeout=5),
        http.post(infer, json={"inputs": [{"name": DEMO_INPUT, "shape": [1, 63], "datatype": "FP32", "data": [0.0] * 63}]}, timeout=5),
        http.post(infer, json={"inputs": [{"name": DEMO_INPUT, "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 3}]}, timeout=5),
        http.post(infer, json={"inputs": [{"name": "nope", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}, timeout=5),
        http.post(f"{url}/v2/models/unknown/infer", json={"inputs": []}, timeout=5),
        http.post(f"{url}/v1/models", json={"name": "x", "path": "/does/not/exist.onnx"}, timeout=5),
        http.post(infer, data=b"x" * (65 * 1024 * 1024), headers=json_headers, timeout=30),
    ]
    statuses = [response.status_code for response in cases]
    assert all(400 <= status < 500 for status in statuses), statuses
    assert statuses[-1] == 413
    assert statuses[6] == 404
    for response in cases[:-1]:
        body = response.json()
        assert body.get("error") or body.get("detail"), body
    data = np.zeros((1, 64), dtype=np.float32)
    assert infer_json(url, data).status_code == 200


def test_model_metadata_lists_the_ready_versions(mlos_demo_server: ServerProcess) -> None:
    url = mlos_demo_server.url
    path = str(mlos_demo_server.home / "models" / "demo" / "model.onnx")
    created = http.post(f"{url}/v1/models", json={"name": "demo", "path": path, "plugin": "onnx"}, timeout=30)
    assert created.status_code == 201 and created.json()["version"] == "2"
    assert http.get(f"{url}/v2/models/demo", timeout=5).json()["versions"] == ["2", "1"]
    assert http.post(f"{url}/v2/repository/models/demo/unload", timeout=30).status_code == 200
    assert http.get(f"{url}/v2/models/demo/ready", timeout=5).status_code != 200
    assert http.post(f"{url}/v2/repository/models/demo/load", timeout=30).status_code == 200
    assert http.get(f"{url}/v2/models/demo/versions/1", timeout=5).json()["versions"] == ["1", "2"]
    assert mlos_demo_server.client().model_metadata("demo").version == "2"
