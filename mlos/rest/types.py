"""The boundary of the REST transport: what it needs from the core, and what a handler sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.responses import Response

from mlos_generated import smi_pb2

__all__ = ["BODY_SCOPE_KEY", "Call", "Dataplane", "Handler", "ParsedBody"]

BODY_SCOPE_KEY = "mlos.body"
"""The ASGI scope key under which the body parser leaves a :class:`ParsedBody`."""


class Dataplane(Protocol):
    """The core engine as the REST transport calls it (mlos.core.engine.Engine).

    Every method raises an :class:`mlos.errors.MLOSError` when it fails.
    """

    async def health(self) -> smi_pb2.HealthResponse: ...
    async def register_plugin(self, req: smi_pb2.RegisterPluginRequest) -> smi_pb2.PluginStatus: ...
    async def list_plugins(self) -> smi_pb2.ListPluginsResponse: ...
    async def get_plugin(self, name: str) -> smi_pb2.PluginStatus: ...
    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus: ...
    async def unload_plugin(self, name: str) -> smi_pb2.PluginStatus: ...
    async def remove_plugin(self, name: str) -> None: ...
    async def register_model(self, req: smi_pb2.RegisterModelRequest) -> smi_pb2.ModelStatus: ...
    async def list_models(self) -> smi_pb2.ListModelsResponse: ...
    async def get_model(self, name: str, version: str = "") -> smi_pb2.Model: ...
    async def remove_model(self, name: str, version: str = "") -> smi_pb2.RemoveModelResponse: ...
    async def load_model(self, name: str, version: str = "") -> None: ...
    async def unload_model(self, name: str, version: str = "") -> None: ...
    async def model_metadata(self, name: str, version: str = "") -> smi_pb2.ModelMetadata: ...
    async def model_ready(self, name: str, version: str = "") -> bool: ...
    async def infer(self, req: smi_pb2.InferRequest) -> smi_pb2.InferResponse: ...
    async def resources(self) -> smi_pb2.ResourcesResponse: ...
    async def model_config(self, name: str, version: str = "") -> dict[str, Any]: ...
    async def model_statistics(self, name: str = "", version: str = "") -> dict[str, Any]: ...
    async def repository_index(self) -> list[dict[str, Any]]: ...
    async def server_metadata(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A request body after parsing and validation.

    `json` is the parsed JSON document (None for an empty body). `binary` holds whatever follows
    the JSON part when the request carries `Inference-Header-Content-Length` (Triton's binary
    tensor data extension); it is empty otherwise.
    """

    json: Any = None
    binary: memoryview = field(default_factory=lambda: memoryview(b""))


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: path parameters, the parsed body and the request headers."""

    path: Mapping[str, str]
    body: ParsedBody
    headers: Headers


Handler = Callable[[Call], Awaitable[Response]]
"""A REST operation: one per operationId of spec/openapi.yaml."""
