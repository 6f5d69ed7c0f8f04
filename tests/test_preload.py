"""The `models` setting: plugins and models registered at start, idempotently, for real too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlos.config import StartupModel
from mlos.demo import DEMO_INPUT, DEMO_OUTPUT
from mlos.errors import NotFound
from mlos.preload import ensure_models
from mlos.testing import ServerProcess
from mlos_generated import smi_pb2
from tests.suite import suite_config


class Recorder:
    """Just what ensure_models calls, recorded."""

    def __init__(self, plugins: dict[str, int], models: set[str]) -> None:
        self.plugins = plugins
        self.models = models
        self.calls: list[tuple[str, Any]] = []

    async def list_plugins(self) -> smi_pb2.ListPluginsResponse:
        return smi_pb2.ListPluginsResponse(
            plugins=[smi_pb2.PluginStatus(name=n, state=s) for n, s in self.plugins.items()]
        )

    async def register_plugin(self, req: smi_pb2.RegisterPluginRequest) -> smi_pb2.PluginStatus:
        self.calls.append(("register_plugin", req.name))
        return smi_pb2.PluginStatus(name=req.name, state=smi_pb2.PLUGIN_STATE_REGISTERED)

    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        self.calls.append(("load_plugin", name))
        return smi_pb2.PluginStatus(name=name, state=smi_pb2.PLUGIN_STATE_READY)

    async def get_model(self, name: str, version: str = "") -> smi_pb2.Model:
        if name not in self.models:
            raise NotFound(f"no model {name!r}")
        return smi_pb2.Model(name=name)

    async def register_model(self, req: smi_pb2.RegisterModelRequest) -> smi_pb2.ModelStatus:
        self.calls.append(("register_model", (req.name, req.plugin, req.path)))
        return smi_pb2.ModelStatus(name=req.name, version="1")


async def test_plugins_are_registered_and_loaded_once_then_the_missing_models() -> None:
    engine = Recorder({"torch": smi_pb2.PLUGIN_STATE_UNLOADED}, {"kept"})
    await ensure_models(engine, [  # type: ignore[arg-type]
        StartupModel("a", Path("/m/a.onnx"), "onnx"),
        StartupModel("b", Path("/m/b.onnx"), "onnx"),
        StartupModel("kept", Path("/m/k.pt"), "torch"),
        StartupModel("any", Path("/m/c.onnx")),
    ])
    assert engine.calls == [
        ("register_plugin", "onnx"),
        ("load_plugin", "onnx"),
        ("register_model", ("a", "onnx", "/m/a.onnx")),
        ("register_model", ("b", "onnx", "/m/b.onnx")),
        ("load_plugin", "torch"),  # registered but not running: loaded; its model is kept
        ("register_model", ("any", "", "/m/c.onnx")),  # no plugin: the engine chooses
    ]


async def test_nothing_is_done_twice() -> None:
    engine = Recorder({"onnx": smi_pb2.PLUGIN_STATE_READY}, {"a"})
    await ensure_models(engine, [StartupModel("a", Path("/m/a.onnx"), "onnx")])  # type: ignore[arg-type]
    assert engine.calls == []


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from mlos.demo import build_demo_model

    path = tmp_path / "mnt" / "models" / "model.onnx"
    build_demo_model(path)
    return path


def test_a_server_serves_its_models_from_the_start_and_after_a_restart(
    tmp_path: Path, model_file: Path
) -> None:
    import onnxruntime

    server = ServerProcess(
        tmp_path / "home",
        "--models",
        f"mlp@onnx={model_file.parent}",
        logs=tmp_path,
        config=suite_config(model_file.parent),
    )
    server.start()
    try:
        client = server.client()
        assert client.model_ready("mlp")
        data = np.random.default_rng(7).standard_normal((3, 64)).astype(np.float32)
        answer = client.infer("mlp", {DEMO_INPUT: data})[DEMO_OUTPUT]
        session = onnxruntime.InferenceSession(str(model_file))
        np.testing.assert_allclose(answer, session.run(None, {DEMO_INPUT: data})[0], rtol=1e-5)
        client.close()

        server.restart()
        client = server.client()
        assert [(m.name, m.version) for m in client.list_models()] == [("mlp", "1")]
        client.close()
    finally:
        server.stop()


def test_a_model_that_cannot_be_registered_stops_the_start(tmp_path: Path) -> None:
    empty = tmp_path / "home" / "models" / "empty"  # under the server's model root
    empty.mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "mlos.cli", "serve", "--home", str(tmp_path / "home"),
         "--http-port", "0", "--grpc-port", "0", "--models", f"m={empty}"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "no ready plugin accepts" in result.stderr
    assert "Traceback" not in result.stderr
