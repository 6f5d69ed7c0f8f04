"""The whole server from outside: a plugin killed under it, bad requests, and it keeps serving."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

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


def test_what_the_api_may_start_and_read_is_refused_with_403_400_or_404(
    mlos_demo_server: ServerProcess, tmp_path: Path
) -> None:
    """The configuration allows the suite's modules and models under tmp_path; nothing else."""
    url = mlos_demo_server.url
    marker = tmp_path / "ran"
    script = tmp_path / "plugin.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    plugins = [
        ({"name": "x", "module": "os:system"}, 403),
        ({"name": "x", "executable": str(script)}, 403),
        ({"name": "x", "executable": "sh"}, 403),
        ({"name": "x", "source": {"executable": str(script)}}, 400),
        ({"name": "x", "entry_point": "onnx\u0000"}, 400),
    ]
    for body, status in plugins:
        response = http.post(f"{url}/v1/plugins", json=body, timeout=5)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == ("permission_denied" if status == 403 else "invalid_argument")
        assert http.post(f"{url}/v1/plugins/x/load", timeout=5).status_code == 404
    assert not marker.exists()
    (tmp_path.parent / "secret.onnx").write_text("not for the API")
    models = [
        ("/etc/passwd", 403),
        (f"{tmp_path}/../secret.onnx", 403),
        (f"{tmp_path}/m\u0000.onnx", 400),
        (f"{tmp_path}/m\u0007.onnx", 400),
        (f"{tmp_path}/missing.onnx", 404),
    ]
    for path, status in models:
        response = http.post(f"{url}/v1/models", json={"name": "x", "plugin": "onnx", "path": path}, timeout=5)
        assert response.status_code == status, (path, response.text)
    assert [m["name"] for m in http.get(f"{url}/v1/models", timeout=5).json()["models"]] == ["demo"]


def test_a_plugin_answer_that_breaks_the_model_metadata_is_a_500_naming_it(
    mlos_server: ServerProcess, tmp_path: Path
) -> None:
    url = mlos_server.url
    body = {"name": "probe", "module": "tests.sdk.probe_plugin:ProbePlugin"}
    assert http.post(f"{url}/v1/plugins", json=body, timeout=5).status_code == 201
    assert http.post(f"{url}/v1/plugins/probe/load", timeout=60).json()["state"] == "ready"
    for behavior in ("double", "wrong_shape"):
        (tmp_path / f"{behavior}.probe").write_text(behavior)
        model = {"name": behavior, "path": str(tmp_path / f"{behavior}.probe")}
        assert http.post(f"{url}/v1/models", json=model, timeout=30).status_code == 201
    request = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    wrong = http.post(f"{url}/v2/models/wrong_shape/infer", json=request, timeout=30)
    assert wrong.status_code == 500
    assert wrong.json()["error"] == (
        "plugin 'probe' answered model 'wrong_shape' version '1' with output 'y' of shape [1, 3]; "
        "the model declares [-1, 4]"
    )
    right = http.post(f"{url}/v2/models/double/infer", json=request, timeout=30)
    assert right.status_code == 200 and right.json()["outputs"][0]["data"] == [2, 4, 6, 8]
