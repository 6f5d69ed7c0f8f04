"""/v1 handlers: plugins, models, resources and health, one method per operationId.

Each handler decodes its request, calls the core once and encodes the result with
:mod:`mlos.wire.encoding`; errors are the core's, answered by :mod:`mlos.rest.problems`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from google.protobuf.message import Message
from starlette.responses import Response

from mlos.errors import NotFound
from mlos.rest.types import Call, Dataplane
from mlos.wire.encoding import dumps, from_json, to_json
from mlos_generated import smi_pb2

__all__ = ["Management"]

_SOURCE_KEYS = ("entry_point", "module", "executable")


def _json(message: Message, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(to_json(message)), status, headers, media_type="application/json")


def _register_plugin_request(body: dict[str, Any]) -> smi_pb2.RegisterPluginRequest:
    """The SMI request for a /v1/plugins body, whose source keys sit at the top level."""
    request = smi_pb2.RegisterPluginRequest(name=body["name"], version=body.get("version", ""))
    for key in _SOURCE_KEYS:
        if key in body:
            setattr(request.source, key, body[key])
    return request


class Management:
    """The /v1 operations over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    # ----- health and resources ------------------------------------------------------------

    async def get_health(self, call: Call) -> Response:
        """200 with the health when ready, 503 with the same body when not."""
        health = await self._engine.health()
        return _json(health, 200 if health.ready else 503)

    async def get_resources(self, call: Call) -> Response:
        """CPU, memory and GPU of the host and of each plugin process."""
        return _json(await self._engine.resources())

    # ----- plugins -------------------------------------------------------------------------

    async def register_plugin(self, call: Call) -> Response:
        """Register a plugin (201)."""
        status = await self._engine.register_plugin(_register_plugin_request(call.body.json))
        location = f"/v1/plugins/{quote(status.name, safe='')}"
        return _json(status, 201, {"Location": location})

    async def list_plugins(self, call: Call) -> Response:
        """Every registered plugin."""
        return _json(await self._engine.list_plugins())

    async def get_plugin(self, call: Call) -> Response:
        """One plugin."""
        return _json(await self._engine.get_plugin(call.path["name"]))

    async def load_plugin(self, call: Call) -> Response:
        """Start a registered plugin's process."""
        return _json(await self._engine.load_plugin(call.path["name"]))

    async def unload_plugin(self, call: Call) -> Response:
        """Stop a plugin's process, keeping its registration."""
        return _json(await self._engine.unload_plugin(call.path["name"]))

    async def remove_plugin(self, call: Call) -> Response:
        """Forget a plugin (204)."""
        await self._engine.remove_plugin(call.path["name"])
        return Response(status_code=204)

    # ----- models --------------------------------------------------------------------------

    async def register_model(self, call: Call) -> Response:
        """Register and load a model version (201)."""
        request = from_json(call.body.json, smi_pb2.RegisterModelRequest())
        status = await self._engine.register_model(request)
        name, version = quote(status.name, safe=""), quote(status.version, safe="")
        return _json(status, 201, {"Location": f"/v1/models/{name}/versions/{version}"})

    async def list_models(self, call: Call) -> Response:
        """Every registered model version."""
        return _json(await self._engine.list_models())

    async def get_model(self, call: Call) -> Response:
        """A model with all its versions."""
        return _json(await self._engine.get_model(call.path["name"]))

    async def get_model_version(self, call: Call) -> Response:
        """One model version."""
        name, version = call.path["name"], call.path["version"]
        model = await self._engine.get_model(name, version)
        for status in model.versions:
            if status.version == version:
                return _json(status)
        raise NotFound(f"model {name!r} has no version {version!r}")

    async def remove_model(self, call: Call) -> Response:
        """Forget every version of a model."""
        return _json(await self._engine.remove_model(call.path["name"]))

    async def remove_model_version(self, call: Call) -> Response:
        """Forget one model version."""
        return _json(await self._engine.remove_model(call.path["name"], call.path["version"]))
