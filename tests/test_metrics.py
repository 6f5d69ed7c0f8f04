"""/metrics of a real `mlos serve` after a known sequence of calls, read with Prometheus's parser.

The sequence: successes over REST and gRPC with several batch sizes, requests that fail their
checks, one for an unknown model, one in flight when its plugin process is killed, and one more
success once the plugin is back. Every counter must say exactly that, on the REST port and on
the separate metrics port, and the model counters must equal what /v2/models/stats reports.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mlos.testing import ServerProcess
from mlos_generated import inference_pb2, inference_pb2_grpc
from tests.suite import suite_config

pytest.importorskip("onnxruntime")

MODEL = {"model": "mlp", "version": "1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """`mlos serve --metrics-port 0` with the onnx plugin and the model `mlp` (64 → 10)."""
    from tests.models import mlp_model, save

    served = ServerProcess(
        tmp_path / "home", "--metrics-port", "0", "--no-auth", logs=tmp_path,
        config=suite_config(tmp_path),
    )
    served.start()
    try:
        session = _session()
        assert session.post(f"{served.url}/v1/plugins", json={"name": "onnx"}).status_code == 201
        assert session.post(f"{served.url}/v1/plugins/onnx/load").status_code == 200
        path = save(mlp_model(), tmp_path / "mlp.onnx")
        body = {"name": "mlp", "plugin": "onnx", "path": str(path)}
        assert session.post(f"{served.url}/v1/models", json=body, timeout=60).status_code == 201
        yield served
    finally:
        served.stop()


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _rest_infer(server: ServerProcess, rows: int, features: int = 64, model: str = "mlp") -> int:
    body = {
        "inputs": [
            {"name": "input", "shape": [rows, features], "datatype": "FP32",
             "data": [0.5] * (rows * features)}
        ]
    }  # fmt: skip
    return _session().post(f"{server.url}/v2/models/{model}/infer", json=body, timeout=30).status_code


def _grpc_infer(server: ServerProcess, rows: int) -> None:
    address = server.grpc_url.removeprefix("grpc://")
    with grpc.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = inference_pb2.ModelInferRequest(model_name="mlp")
        request.inputs.add(name="input", datatype="FP32", shape=[rows, 64])
        request.raw_input_contents.append(np.ones((rows, 64), np.float32).tobytes())
        response = stub.ModelInfer(request, timeout=30)
        assert response.outputs[0].shape == [rows, 10]


def _scrape(url: str) -> dict[str, Any]:
    response = _session().get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def _value(families: dict[str, Any], family: str, sample: str | None = None, **labels: str) -> float:
    """The one sample of `family` (named `sample`, default the family's) with `labels`."""
    matches = [
        s.value
        for s in families[family].samples
        if (sample is None or s.name == sample) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, (family, labels, families[family].samples)
    return float(matches[0])


def _plugin_pid(server: ServerProcess) -> int:
    return int(_session().get(f"{server.url}/v1/plugins/onnx", timeout=10).json()["pid"])


def _wait_ready(server: ServerProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _session().get(f"{server.url}/v2/models/mlp/ready", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the model never came back"
        time.sleep(0.05)


def test_metrics_count_a_known_sequence_of_calls(server: ServerProcess) -> None:
    before = _scrape(server.url + "/metrics")
    assert _value(before, "nv_inference_request_success", **MODEL) == 0
    assert _value(before, "mlos_model_ready", **MODEL) == 1

    for rows in (1, 1, 4):
        assert _rest_infer(server, rows) == 200
    for _ in range(2):
        _grpc_infer(server, 2)
    assert _rest_infer(server, 1, features=63) == 400
    assert _rest_infer(server, 2, features=65) == 400
    assert _rest_infer(server, 1, model="nope") == 404

    # A request in flight when the plugin process dies fails in the backend; the supervisor
    # restarts the process and loads the model again.
    pid = _plugin_pid(server)
    os.kill(pid, signal.SIGSTOP)
    statuses: list[int] = []
    caller = threading.Thread(target=lambda: statuses.append(_rest_infer(server, 1)))
    caller.start()
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    caller.join(30)
    assert statuses == [503]
    _wait_ready(server)
    assert _rest_infer(server, 1) == 200

    metrics = _scrape(server.url + "/metrics")
    # Per model version, under Triton's names.
    assert _value(metrics, "nv_inference_request_success", **MODEL) == 6
    assert _value(metrics, "nv_inference_count", **MODEL) == 1 + 1 + 4 + 2 + 2 + 1
    assert _value(metrics, "nv_inference_exec_count", **MODEL) == 6
    failures = {
        reason: _value(metrics, "nv_inference_request_failure", **MODEL, reason=reason)
        for reason in ("REJECTED", "CANCELED", "BACKEND", "OTHER")
    }
    assert failures == {"REJECTED": 0, "CANCELED": 0, "BACKEND": 1, "OTHER": 2}
    durations = {
        phase: _value(metrics, f"nv_inference_{phase}_duration_us", **MODEL)
        for phase in ("request", "queue", "compute_input", "compute_infer", "compute_output")
    }
    assert durations["request"] >= durations["compute_infer"] > 0
    assert durations["request"] >= sum(v for k, v in durations.items() if k != "request") - 5
    batch = "mlos_inference_batch_size"
    assert _value(metrics, batch, f"{batch}_bucket", **MODEL, le="1") == 3
    assert _value(metrics, batch, f"{batch}_bucket", **MODEL, le="2") == 5
    assert _value(metrics, batch, f"{batch}_bucket", **MODEL, le="4") == 6
    assert _value(metrics, batch, f"{batch}_count", **MODEL) == 6
    assert _value(metrics, batch, f"{batch}_sum", **MODEL) == 11

    # The statistics extension reports the same events.
    stats = _session().get(f"{server.url}/v2/models/mlp/stats", timeout=10).json()
    (model_stats,) = stats["model_stats"]
    phases = model_stats["inference_stats"]
    assert phases["success"]["count"] == 6 and phases["fail"]["count"] == 3
    assert model_stats["inference_count"] == 11 and model_stats["execution_count"] == 6
    assert phases["queue"]["ns"] // 1000 == durations["queue"]
    assert phases["compute_infer"]["ns"] // 1000 == durations["compute_infer"]

    # Per plugin.
    assert _value(metrics, "mlos_plugin_restarts", plugin="onnx") == 1
    assert _value(metrics, "mlos_plugin_state", plugin="onnx", state="ready") == 1
    assert _value(metrics, "mlos_plugin_state", plugin="onnx", state="failed") == 0
    assert _value(metrics, "mlos_plugin_resident_memory_bytes", plugin="onnx") > 1_000_000
    assert _value(metrics, "mlos_plugin_open_fds", plugin="onnx") > 0

    # Per transport and operation.
    calls = "mlos_api_requests"
    assert _value(metrics, calls, transport="rest", operation="infer") == 8
    assert _value(metrics, calls, transport="grpc", operation="infer") == 2
    assert _value(metrics, calls, transport="rest", operation="register_model") == 1
    errors = {
        (s.labels["transport"], s.labels["operation"], s.labels["code"]): s.value
        for s in metrics["mlos_api_request_errors"].samples
    }
    # While the plugin restarts, the readiness polls of _wait_ready answer what an inference
    # would get (503 or 409): how many depends on the restart's timing.
    polls = {key: value for key, value in errors.items() if key[1] == "model_ready"}
    assert set(polls) <= {
        ("rest", "model_ready", "UNAVAILABLE"), ("rest", "model_ready", "FAILED_PRECONDITION")
    }
    errors = {key: value for key, value in errors.items() if key[1] != "model_ready"}
    assert errors == {
        ("rest", "infer", "INVALID_ARGUMENT"): 2,
        ("rest", "infer", "NOT_FOUND"): 1,
        ("rest", "infer", "UNAVAILABLE"): 1,
    }
    assert _value(metrics, "mlos_api_requests_in_flight", transport="rest", operation="metrics") == 1

    # The server.
    assert _value(metrics, "mlos_server_uptime_seconds") > 0
    assert _value(metrics, "mlos_server_ready") == 1

    # The separate metrics port answers the same metrics, and nothing else.
    elsewhere = _scrape(server.urls["metrics"])
    assert _value(elsewhere, "nv_inference_request_success", **MODEL) == 6
    assert _value(elsewhere, calls, transport="rest", operation="metrics") == 3
    base = server.urls["metrics"].removesuffix("/metrics")
    assert _session().get(f"{base}/v2/health/ready", timeout=10).status_code == 404


def test_every_metric_is_documented_and_every_documented_metric_exists(tmp_path: Path) -> None:
    import re

    from mlos.config import Settings
    from mlos.core.engine import Engine

    engine = Engine(Settings(home=tmp_path / "home"))
    try:
        text = engine.metrics.render().decode()
    finally:
        engine.resource_monitor.close()
        engine.store.close()
    served = {family.name for family in text_string_to_metric_families(text)}
    docs = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    documented = {
        name.removesuffix("_total")
        for name in re.findall(r"^\| `((?:nv|mlos)_[a-z_]+)` \|", docs, flags=re.MULTILINE)
    }
    assert served == documented
    assert len(served) == 23
