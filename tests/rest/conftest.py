"""Fixtures for the REST tests: an in-memory stand-in for the core engine and clients.

`StubEngine` answers the engine calls the REST layer makes from plain dictionaries, with three
models: `add` (z = x + y, FP32, dynamic batch), `echo` (returns its input `in` as `out`, any
datatype) and `upper` (BYTES, upper-cased).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from mlos.core.dataplane import Attachments
from mlos.core.log_settings import LogSettings
from mlos.core.model_config import model_config
from mlos.core.pipeline import Pipeline
from mlos.core.stats import ModelStats
from mlos.core.trace_settings import TraceSettings
from mlos.errors import AlreadyExists, InvalidArgument, NotFound
from mlos.rest.app import create_app
from mlos.wire import tensors
from mlos_generated import inference_pb2, smi_pb2


def _metadata(
    name: str, inputs: list[tuple[str, str, list[int]]], outputs: list[tuple[str, str, list[int]]]
) -> smi_pb2.ModelMetadata:
    metadata = smi_pb2.ModelMetadata(
        name=name, version="1", plugin="stub", platform="stub_platform", max_batch_size=0
    )
    for target, specs in ((metadata.inputs, inputs), (metadata.outputs, outputs)):
        for tensor_name, datatype, shape in specs:
            target.add(name=tensor_name, datatype=datatype, shape=shape)
    return metadata


MODELS = {
    "add": _metadata(
        "add", [("x", "FP32", [-1, 4]), ("y", "FP32", [-1, 4])], [("z", "FP32", [-1, 4])]
    ),
    "echo": _metadata("echo", [("in", "FP32", [-1])], [("out", "FP32", [-1])]),
    "upper": _metadata("upper", [("text", "BYTES", [-1])], [("upper", "BYTES", [-1])]),
}


class StubEngine:
    """An in-memory engine with the methods the REST layer calls."""

    def __init__(self) -> None:
        self.pipeline = Pipeline()
        self.ready = True
        self.plugins: dict[str, smi_pb2.PluginStatus] = {}
        self.registered: dict[str, smi_pb2.RegisterPluginRequest] = {}
        self.models: dict[str, smi_pb2.ModelStatus] = {}
        self.requests: list[smi_pb2.InferRequest] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.trace_settings = TraceSettings()
        self.log_settings = LogSettings("info", root=logging.getLogger("tests.rest.stub"))
        for name, metadata in MODELS.items():
            self.models[name] = smi_pb2.ModelStatus(
                name=name,
                version="1",
                plugin="stub",
                path=f"/models/{name}",
                state=smi_pb2.MODEL_STATE_READY,
                metadata=metadata,
            )

    def is_ready(self) -> bool:
        return self.ready

    async def health(self) -> smi_pb2.HealthResponse:
        return smi_pb2.HealthResponse(
            live=True, ready=self.ready, plugins=list(self.plugins.values())
        )

    async def register_plugin(self, req: smi_pb2.RegisterPluginRequest) -> smi_pb2.PluginStatus:
        if req.name in self.plugins:
            raise AlreadyExists(f"plugin {req.name!r} is registered already")
        self.registered[req.name] = req
        source = (
            req.source if req.HasField("source") else smi_pb2.PluginSource(entry_point=req.name)
        )
        status = smi_pb2.PluginStatus(
            name=req.name,
            version=req.version or "1.0",
            state=smi_pb2.PLUGIN_STATE_READY,
            source=source,
            pid=1234,
        )
        self.plugins[req.name] = status
        return status

    async def list_plugins(self) -> smi_pb2.ListPluginsResponse:
        return smi_pb2.ListPluginsResponse(plugins=list(self.plugins.values()))

    async def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        if name not in self.plugins:
            raise NotFound(f"no plugin {name!r}")
        return self.plugins[name]

    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        status = await self.get_plugin(name)
        status.state = smi_pb2.PLUGIN_STATE_READY
        return status

    async def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        status = await self.get_plugin(name)
        status.state = smi_pb2.PLUGIN_STATE_UNLOADED
        status.pid = 0
        return status

    async def remove_plugin(self, name: str) -> None:
        await self.get_plugin(name)
        del self.plugins[name]

    async def register_model(self, req: smi_pb2.RegisterModelRequest) -> smi_pb2.ModelStatus:
        if req.name in self.models:
            raise AlreadyExists(f"model {req.name!r} is registered already")
        status = smi_pb2.ModelStatus(
            name=req.name,
            version=req.version or "1",
            plugin=req.plugin or "stub",
            path=req.path,
            state=smi_pb2.MODEL_STATE_READY,
            config=req.config,
            metadata=_metadata(req.name, [("x", "FP32", [-1])], [("y", "FP32", [-1])]),
        )
        self.models[req.name] = status
        return status

    async def list_models(self) -> smi_pb2.ListModelsResponse:
        return smi_pb2.ListModelsResponse(models=list(self.models.values()))

    def _status(self, name: str, version: str = "") -> smi_pb2.ModelStatus:
        status = self.models.get(name)
        if status is None or (version and version != status.version):
            raise NotFound(f"no model {name!r}" + (f" version {version!r}" if version else ""))
        return status

    async def get_model(self, name: str, version: str = "") -> smi_pb2.Model:
        return smi_pb2.Model(name=name, versions=[self._status(name, version)])

    async def remove_model(self, name: str, version: str = "") -> smi_pb2.RemoveModelResponse:
        status = self._status(name, version)
        del self.models[name]
        return smi_pb2.RemoveModelResponse(removed=[status])

    async def load_model(self, name: str, version: str = "") -> smi_pb2.Model:
        self.calls.append(("load_model", (name, version)))
        return await self.get_model(name, version)

    async def unload_model(self, name: str, version: str = "") -> smi_pb2.Model:
        self.calls.append(("unload_model", (name, version)))
        return await self.get_model(name, version)

    async def model_metadata(self, name: str, version: str = "") -> smi_pb2.ModelMetadata:
        return self._status(name, version).metadata

    def metadata_versions(self, metadata: smi_pb2.ModelMetadata) -> list[str]:
        return [metadata.version] if metadata.version else []

    def model_versions(self, name: str, ready_only: bool = False) -> list[str]:
        return [
            s.version
            for s in self.models.values()
            if s.name == name and (s.state == smi_pb2.MODEL_STATE_READY or not ready_only)
        ]

    async def model_ready(self, name: str, version: str = "") -> bool:
        try:
            return self._status(name, version).state == smi_pb2.MODEL_STATE_READY
        except NotFound:
            return False

    async def infer(
        self, req: smi_pb2.InferRequest, attachments: Attachments | None = None
    ) -> smi_pb2.InferResponse:
        for tensor in req.inputs:
            if attachments and tensor.name in attachments:
                tensor.contents = bytes(attachments[tensor.name])
        self.requests.append(req)
        status = self._status(req.model_name, req.model_version)
        arrays = {t.name: tensors.to_numpy(t) for t in req.inputs}
        response = smi_pb2.InferResponse(
            model_name=req.model_name, model_version=status.version, id=req.id
        )
        if req.model_name == "add":
            if set(arrays) != {"x", "y"}:
                raise InvalidArgument("model 'add' takes inputs 'x' and 'y'")
            outputs = {"z": tensors.from_numpy("z", arrays["x"] + arrays["y"])}
        elif req.model_name == "echo":
            source = req.inputs[0]
            outputs = {
                "out": smi_pb2.Tensor(
                    name="out",
                    datatype=source.datatype,
                    shape=source.shape,
                    contents=source.contents,
                    parameters=source.parameters,
                )
            }
        else:
            upper = np.array([s.upper() for s in arrays["text"].reshape(-1)], dtype=object)
            outputs = {"upper": tensors.from_numpy("upper", upper.reshape(arrays["text"].shape))}
        wanted = [o.name for o in req.outputs] or list(outputs)
        for name in wanted:
            if name not in outputs:
                raise InvalidArgument(f"unknown output {name!r}")
            response.outputs.append(outputs[name])
        return response

    async def resources(self) -> smi_pb2.ResourcesResponse:
        return smi_pb2.ResourcesResponse(
            host=smi_pb2.HostResources(cpu_count=2, memory_total_bytes=2**33),
            plugins=[smi_pb2.ProcessResources(plugin="stub", pid=1234, rss_bytes=2**20)],
        )

    async def model_config(self, name: str, version: str = "") -> inference_pb2.ModelConfig:
        return model_config(self._status(name, version).metadata)

    async def model_statistics(
        self, name: str = "", version: str = ""
    ) -> inference_pb2.ModelStatisticsResponse:
        names = [self._status(name, version).name] if name else sorted(self.models)
        return inference_pb2.ModelStatisticsResponse(
            model_stats=[ModelStats(n, "1").to_proto() for n in names]
        )

    async def repository_index(
        self, ready_only: bool = False
    ) -> inference_pb2.RepositoryIndexResponse:
        index = inference_pb2.RepositoryIndexResponse()
        for s in self.models.values():
            ready = s.state == smi_pb2.MODEL_STATE_READY
            if ready or not ready_only:
                index.models.add(
                    name=s.name, version=s.version, state="READY" if ready else "UNAVAILABLE"
                )
        return index

    async def server_metadata(self) -> smi_pb2.ServerMetadata:
        return smi_pb2.ServerMetadata(
            name="mlos", version="0.1.0", extensions=["binary_tensor_data"]
        )

    async def update_trace_setting(
        self, model: str = "", changes: dict[str, Any] | None = None
    ) -> dict[str, list[str] | str]:
        if model:
            self._status(model, "")
        return self.trace_settings.update(model, changes or {})

    async def update_log_settings(
        self, changes: dict[str, Any] | None = None
    ) -> dict[str, bool | int | str]:
        return self.log_settings.update(changes or {})

    async def scrape_metrics(self) -> bytes:
        self.calls.append(("scrape_metrics", ()))
        return b"# HELP mlos_server_ready Ready.\n# TYPE mlos_server_ready gauge\nmlos_server_ready 1\n"


@dataclass
class Settings:
    """The settings create_app reads."""

    max_body_bytes: int = 1024 * 1024


@pytest.fixture
def engine() -> StubEngine:
    return StubEngine()


@pytest.fixture
async def client(engine: StubEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine, Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mlos") as http:
        yield http


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A uvicorn server on a loopback port, with the engine it serves."""

    url: str
    engine: StubEngine


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """The REST app over a StubEngine, served by uvicorn on a random loopback port."""
    engine = StubEngine()
    port = _free_port()
    config = uvicorn.Config(
        create_app(engine, Settings()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(f"127.0.0.1:{port}", engine)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
