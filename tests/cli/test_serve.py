"""End to end: a real `mlos serve` process, the real engine and ONNX plugin, the client and CLI.

Outputs are compared with onnxruntime's own on the same inputs; restarting the server must keep
every plugin and model.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlos.cli.main import main
from mlos.cli.output import Output
from mlos.demo import DEMO_INPUT, DEMO_OUTPUT, build_demo_model
from mlos.testing import ServerProcess
from mlos_generated import smi_pb2

ort = pytest.importorskip("onnxruntime")


def reference(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run([DEMO_OUTPUT], {DEMO_INPUT: x})[0]
    return result


def cli(url: str, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--url", url], env={}, output=Output(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def test_register_infer_restart(mlos_server: ServerProcess, tmp_path: Path) -> None:
    model_path = build_demo_model(tmp_path / "mlp.onnx")
    x = np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)
    expected = reference(model_path, x)

    with mlos_server.client() as client:
        assert client.health().live
        client.register_plugin("onnx")
        assert client.load_plugin("onnx").state == smi_pb2.PLUGIN_STATE_READY
        status = client.register_model("mlp", str(model_path), plugin="onnx")
        assert (status.version, status.state) == ("1", smi_pb2.MODEL_STATE_READY)
        for binary in (True, False):
            outputs = client.infer("mlp", {DEMO_INPUT: x}, binary=binary)
            np.testing.assert_allclose(outputs[DEMO_OUTPUT], expected, rtol=1e-5, atol=1e-6)

    # The CLI, in-process, against the same server.
    np.save(tmp_path / "x.npy", x)
    code, out, err = cli(mlos_server.url, "infer", "mlp", "-i", f"input=@{tmp_path / 'x.npy'}",
                         "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["outputs"][0]["shape"] == [3, 10]
    np.testing.assert_allclose(document["outputs"][0]["data"], expected, rtol=1e-5, atol=1e-6)
    code, out, _ = cli(mlos_server.url, "model", "list")
    assert code == 0 and "mlp" in out and "ready" in out

    mlos_server.restart()

    with mlos_server.client() as client:
        assert client.health().ready
        assert [(p.name, p.state) for p in client.list_plugins()] == [
            ("onnx", smi_pb2.PLUGIN_STATE_READY)
        ]
        assert [(m.name, m.version, m.state) for m in client.list_models()] == [
            ("mlp", "1", smi_pb2.MODEL_STATE_READY)
        ]
        outputs = client.infer("mlp", {DEMO_INPUT: x})
        np.testing.assert_allclose(outputs[DEMO_OUTPUT], expected, rtol=1e-5, atol=1e-6)


def test_demo_is_ready_and_idempotent(mlos_demo_server: ServerProcess) -> None:
    model_path = mlos_demo_server.home / "models" / "demo" / "model.onnx"
    assert model_path.is_file()
    code, out, err = cli(mlos_demo_server.url, "infer", "demo", "-i",
                         f"input={json.dumps([[0.5] * 64])}", "--json")
    assert (code, err) == (0, "")
    expected = reference(model_path, np.full((1, 64), 0.5, np.float32))
    np.testing.assert_allclose(json.loads(out)["outputs"][0]["data"], expected, rtol=1e-5,
                               atol=1e-6)

    mlos_demo_server.restart()  # --demo again: nothing registered twice

    with mlos_demo_server.client() as client:
        assert [p.name for p in client.list_plugins()] == ["onnx"]
        assert [(m.name, m.version) for m in client.list_models()] == [("demo", "1")]
        assert client.health().ready


def test_cli_errors_against_a_live_server(mlos_server: ServerProcess) -> None:
    code, _, err = cli(mlos_server.url, "model", "show", "nope")
    assert code == 1
    assert err.startswith("mlos: error: ") and err.count("\n") == 1 and "(not_found)" in err
    code, out, _ = cli(mlos_server.url, "health", "--json")
    assert code == 0 and json.loads(out)["ready"] is True


def test_busy_port_and_bad_config_are_one_line(tmp_path: Path, mlos_server: ServerProcess) -> None:
    port = mlos_server.url.rsplit(":", 1)[1]
    for args, expected_code, message in (
        (["--http-port", port], 1, "cannot listen on 127.0.0.1:" + port),
        (["--http-port", "http"], 2, "--http-port: 'http' is not a port number"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "mlos.cli", "serve", "--home", str(tmp_path / "other"),
             "--grpc-port", "0", *args],
            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == expected_code, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("mlos: error: ")
