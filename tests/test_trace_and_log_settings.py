"""Triton's trace and logging extensions through tritonclient.http against a real `mlos serve`.

tritonclient.grpc's side of the same extensions runs in tests/grpc/triton_flows.py (it cannot
share this process with mlos_generated.inference_pb2). Here the log settings are also seen to
apply: after turning errors off and switching to ISO 8601 times, killing the plugin process
logs its restart warning with an ISO 8601 time and no error line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlos.testing import ServerProcess
from tests.suite import suite_config

httpclient = pytest.importorskip("tritonclient.http")
pytest.importorskip("onnxruntime")
from tritonclient.utils import InferenceServerException  # noqa: E402

TRACE_DEFAULTS = {
    "trace_level": ["OFF"],
    "trace_rate": "1000",
    "trace_count": "-1",
    "log_frequency": "0",
    "trace_mode": "opentelemetry",
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServerProcess, Any]]:
    """A real server with the onnx plugin and the model `mlp`, and a tritonclient.http client."""
    from tests.models import mlp_model, save

    server = ServerProcess(
        tmp_path / "home", "--no-auth", logs=tmp_path, config=suite_config(tmp_path)
    )
    server.start()
    try:
        session = requests.Session()
        session.trust_env = False
        assert session.post(f"{server.url}/v1/plugins", json={"name": "onnx"}).status_code == 201
        assert session.post(f"{server.url}/v1/plugins/onnx/load").status_code == 200
        body = {"name": "mlp", "plugin": "onnx", "path": str(save(mlp_model(), tmp_path / "m.onnx"))}
        assert session.post(f"{server.url}/v1/models", json=body, timeout=60).status_code == 201
        client = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
        try:
            yield server, client
        finally:
            client.close()
    finally:
        server.stop()


def _status(call: Any) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return str(caught.value.status())


def test_trace_settings_over_http(served: tuple[ServerProcess, Any]) -> None:
    _, client = served
    assert client.get_trace_settings() == TRACE_DEFAULTS
    assert "trace" in client.get_server_metadata()["extensions"]
    changed = client.update_trace_settings(
        settings={"trace_level": ["TIMESTAMPS"], "trace_rate": "10", "trace_count": "100"}
    )
    assert changed == {
        **TRACE_DEFAULTS, "trace_level": ["TIMESTAMPS"], "trace_rate": "10", "trace_count": "100",
    }  # fmt: skip
    own = client.update_trace_settings(model_name="mlp", settings={"trace_rate": "1"})
    assert (own["trace_level"], own["trace_rate"]) == (["TIMESTAMPS"], "1")
    assert client.get_trace_settings(model_name="mlp") == own
    assert client.get_trace_settings()["trace_rate"] == "10"
    back = client.update_trace_settings(model_name="mlp", settings={"trace_rate": None})
    assert back["trace_rate"] == "10"
    cleared = client.update_trace_settings(
        settings={"trace_level": None, "trace_rate": None, "trace_count": None}
    )
    assert cleared == TRACE_DEFAULTS
    assert _status(lambda: client.get_trace_settings(model_name="nope")) == "404"
    assert _status(lambda: client.update_trace_settings(settings={"trace_rate": "0"})) == "400"
    assert _status(lambda: client.update_trace_settings(settings={"trace_file": "/t"})) == "400"
    assert client.get_trace_settings() == TRACE_DEFAULTS


def test_log_settings_over_http_apply_to_the_server_s_log(served: tuple[ServerProcess, Any]) -> None:
    server, client = served
    assert client.get_log_settings() == {
        "log_file": "",
        "log_info": True,
        "log_warning": True,
        "log_error": True,
        "log_verbose_level": 0,
        "log_format": "default",
    }
    assert "logging" in client.get_server_metadata()["extensions"]
    changed = client.update_log_settings({"log_format": "ISO8601", "log_error": False})
    assert (changed["log_format"], changed["log_error"], changed["log_info"]) == (
        "ISO8601", False, True,
    )  # fmt: skip
    assert _status(lambda: client.update_log_settings({"log_format": "fancy"})) == "400"
    assert _status(lambda: client.update_log_settings({"log_file": "/tmp/x.log"})) == "400"
    assert client.get_log_settings() == changed

    pid = int(requests.get(f"{server.url}/v1/plugins/onnx", timeout=10).json()["pid"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while "plugin onnx restarted" not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()[-2000:]
        time.sleep(0.05)
    lines = server.log.read_text().splitlines()
    (restarted,) = [line for line in lines if "plugin onnx restarted" in line]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING mlos\.core\.plugins: ", restarted)
    assert not [line for line in lines if "ERROR mlos.core.plugins" in line]

    # tritonclient switches the server to JSON lines: the next restart's line is one object.
    assert client.update_log_settings({"log_format": "json"})["log_format"] == "json"
    deadline = time.monotonic() + 30
    second = 0
    while second in (0, pid):  # the restarted process
        assert time.monotonic() < deadline
        time.sleep(0.05)
        second = int(requests.get(f"{server.url}/v1/plugins/onnx", timeout=10).json()["pid"])
    os.kill(second, signal.SIGKILL)
    while "restart 2" not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()[-2000:]
        time.sleep(0.05)
    (again,) = [line for line in server.log.read_text().splitlines() if "restart 2" in line]
    parsed = json.loads(again)
    assert (parsed["level"], parsed["logger"]) == ("WARNING", "mlos.core.plugins")
    assert parsed["message"] == "plugin onnx restarted (restart 2)"
