"""mlos.server in-process: the listening line, port 0, signals, draining, the demo set-up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlos.config import Settings
from mlos.errors import NotFound, Unavailable
from mlos.server import demo_model_path, ensure_demo, serve
from mlos_generated import smi_pb2
from tests.rest.conftest import StubEngine


class ServedStub(StubEngine):
    """The REST tests' stub engine with start/stop, and a slow call to drain."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.slow_started = asyncio.Event()

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def resources(self) -> smi_pb2.ResourcesResponse:
        self.slow_started.set()
        await asyncio.sleep(0.3)
        self.events.append("slow request done")
        return await super().resources()


def settings(tmp_path: Path, port: int = 0) -> Settings:
    return Settings(home=tmp_path, http_port=port, grpc_port=0, log_level="warning")


async def test_port_zero_announce_requests_and_sigterm_drain(tmp_path: Path) -> None:
    engine = ServedStub()
    lines: list[str] = []
    announced = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        if line.startswith("MLOS REST"):
            announced.set()

    server = asyncio.create_task(serve(settings(tmp_path), engine=engine, announce=announce))
    await asyncio.wait_for(announced.wait(), 30)
    rest = [line for line in lines if line.startswith("MLOS REST listening on ")]
    assert len(rest) == 1 and rest[0].startswith("MLOS REST listening on http://127.0.0.1:")
    assert f"MLOS IPC listening on unix://{tmp_path / 'mlos.sock'}" in lines
    url = rest[0].rsplit(" ", 1)[1]
    assert not url.endswith(":0")
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        assert (await http.get("/v2/health/live")).status_code == 200
        slow = asyncio.create_task(http.get("/v1/resources"))
        await asyncio.wait_for(engine.slow_started.wait(), 10)
        os.kill(os.getpid(), signal.SIGTERM)  # while a request is in flight
        response = await asyncio.wait_for(slow, 10)
    assert response.status_code == 200  # drained, not cut off
    await asyncio.wait_for(server, 30)
    assert engine.events == ["start", "slow request done", "stop"]
    with socket.socket() as probe:  # the port is closed again
        assert probe.connect_ex(("127.0.0.1", int(url.rsplit(":", 1)[1]))) != 0
    assert not (tmp_path / "mlos.sock").exists()  # and the IPC socket removed


async def test_busy_port_fails_before_the_engine_starts(tmp_path: Path) -> None:
    engine = ServedStub()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(Unavailable, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve(settings(tmp_path, port), engine=engine, announce=lambda line: None)
    assert engine.events == []


async def test_engine_stops_when_start_up_fails(tmp_path: Path) -> None:
    class Failing(ServedStub):
        async def start(self) -> None:
            await super().start()
            raise Unavailable("registry is locked")

    engine = Failing()
    with pytest.raises(Unavailable, match="registry is locked"):
        await serve(settings(tmp_path), engine=engine, announce=lambda line: None)
    assert engine.events == ["start", "stop"]


class DemoEngine:
    """Just what ensure_demo calls."""

    def __init__(self, plugin_state: int | None, model: bool) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.plugin_state = plugin_state
        self.model = model

    async def list_plugins(self) -> smi_pb2.ListPluginsResponse:
        plugins = []
        if self.plugin_state is not None:
            plugins.append(smi_pb2.PluginStatus(name="onnx", state=self.plugin_state))
        return smi_pb2.ListPluginsResponse(plugins=plugins)

    async def register_plugin(self, req: smi_pb2.RegisterPluginRequest) -> smi_pb2.PluginStatus:
        self.calls.append(("register_plugin", req.name))
        return smi_pb2.PluginStatus(name=req.name, state=smi_pb2.PLUGIN_STATE_REGISTERED)

    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        self.calls.append(("load_plugin", name))
        return smi_pb2.PluginStatus(name=name, state=smi_pb2.PLUGIN_STATE_READY)

    async def get_model(self, name: str, version: str = "") -> smi_pb2.Model:
        if not self.model:
            raise NotFound(f"no model {name!r}")
        return smi_pb2.Model(name=name)

    async def register_model(self, req: smi_pb2.RegisterModelRequest) -> smi_pb2.ModelStatus:
        self.calls.append(("register_model", (req.name, req.plugin, req.path)))
        return smi_pb2.ModelStatus(name=req.name)


@pytest.mark.parametrize(
    ("plugin_state", "model", "expected"),
    [
        (None, False, ["register_plugin", "load_plugin", "register_model"]),
        (smi_pb2.PLUGIN_STATE_UNLOADED, True, ["load_plugin"]),
        (smi_pb2.PLUGIN_STATE_READY, False, ["register_model"]),
        (smi_pb2.PLUGIN_STATE_READY, True, []),
        (smi_pb2.PLUGIN_STATE_LOADING, True, []),
    ],
)
async def test_ensure_demo_is_idempotent(
    tmp_path: Path, plugin_state: int | None, model: bool, expected: list[str]
) -> None:
    path = demo_model_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"already built")  # an existing model file is kept as it is
    engine = DemoEngine(plugin_state, model)
    await ensure_demo(engine, tmp_path)  # type: ignore[arg-type]
    assert [name for name, _ in engine.calls] == expected
    if "register_model" in expected:
        assert engine.calls[-1][1] == ("demo", "onnx", str(path))
    assert path.read_bytes() == b"already built"


async def test_ensure_demo_builds_the_model(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    engine = DemoEngine(smi_pb2.PLUGIN_STATE_READY, True)
    await ensure_demo(engine, tmp_path)  # type: ignore[arg-type]
    assert demo_model_path(tmp_path).stat().st_size > 1000
