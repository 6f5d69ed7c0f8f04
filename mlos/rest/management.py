"""/v1 handlers: plugins, models, resources and health, one method per operationId.

Each handler decodes its JSON into the request message of the MLOS service, calls the one
implementation of that service (:class:`mlos.core.service.MLOSService`, which gRPC and IPC serve
too) and encodes the answer with :mod:`mlos.wire.encoding`; errors are the core's, answered by
:mod:`mlos.rest.problems`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from google.protobuf.message import Message
from starlette.responses import Response

from mlos.core.auth import role_by_name
from mlos.core.dataplane import Dataplane
from mlos.core.pipeline import Call
from mlos.core.service import MLOSService
from mlos.errors import NotFound
from mlos.rest.types import Request
from mlos.wire.encoding import dumps, from_json, to_json
from mlos_generated import smi_pb2

__all__ = ["Management"]

_SOURCE_KEYS = ("entry_point", "module", "executable")


def _json(message: Message, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(to_json(message)), status, headers, media_type="application/json")


_HEALTH = smi_pb2.HealthRequest()
_RESOURCES = smi_pb2.ResourcesRequest()
_LIST_PLUGINS = smi_pb2.ListPluginsRequest()
_LIST_MODELS = smi_pb2.ListModelsRequest()
_LIST_TOKENS = smi_pb2.ListTokensRequest()


def _plugin(request: Request) -> smi_pb2.PluginRef:
    return smi_pb2.PluginRef(name=request.path["name"], version=request.path.get("version", ""))


def _model(request: Request) -> smi_pb2.ModelRef:
    return smi_pb2.ModelRef(name=request.path["name"], version=request.path.get("version", ""))


def _register_plugin_request(body: dict[str, Any]) -> smi_pb2.RegisterPluginRequest:
    """The SMI request for a /v1/plugins body, whose source keys sit at the top level."""
    request = smi_pb2.RegisterPluginRequest(name=body["name"], version=body.get("version", ""))
    for key in _SOURCE_KEYS:
        if key in body:
            setattr(request.source, key, body[key])
    if "python" in body:
        request.python = body["python"]
    if "limits" in body:
        from_json(body["limits"], request.limits, where="limits")
    if body.get("default"):
        request.default = True
    return request


def _upgrade_plugin_request(name: str, body: dict[str, Any] | None) -> smi_pb2.UpgradePluginRequest:
    """The SMI request for a /v1/plugins/{name}/upgrade body (source keys at the top level)."""
    body = body or {}
    request = smi_pb2.UpgradePluginRequest(
        name=name,
        version=body.get("version", ""),
        drain_timeout_seconds=float(body.get("drain_timeout_seconds", 0)),
    )
    for key in _SOURCE_KEYS:
        if key in body:
            setattr(request.source, key, body[key])
    if "python" in body:
        request.python = body["python"]
    return request


class Management:
    """The /v1 operations over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._service = MLOSService(engine)

    # ----- health and resources ------------------------------------------------------------

    async def get_health(self, request: Request, call: Call) -> Response:
        """200 with the health when ready, 503 with the same body when not."""
        health = await self._service.health(_HEALTH, call)
        return _json(health, 200 if health.ready else 503)

    async def get_resources(self, request: Request, call: Call) -> Response:
        """CPU, memory and GPU of the host and of each plugin process."""
        return _json(await self._service.get_resources(_RESOURCES, call))

    # ----- plugins -------------------------------------------------------------------------

    async def register_plugin(self, request: Request, call: Call) -> Response:
        """Register a plugin (201)."""
        message = _register_plugin_request(request.body.json)
        status = await self._service.register_plugin(message, call)
        location = f"/v1/plugins/{quote(status.name, safe='')}"
        return _json(status, 201, {"Location": location})

    async def list_plugins(self, request: Request, call: Call) -> Response:
        """Every registered plugin."""
        return _json(await self._service.list_plugins(_LIST_PLUGINS, call))

    async def get_plugin(self, request: Request, call: Call) -> Response:
        """One plugin."""
        return _json(await self._service.get_plugin(_plugin(request), call))

    async def load_plugin(self, request: Request, call: Call) -> Response:
        """Start a registered plugin's process."""
        return _json(await self._service.load_plugin(_plugin(request), call))

    async def unload_plugin(self, request: Request, call: Call) -> Response:
        """Stop a plugin's process, keeping its registration."""
        return _json(await self._service.unload_plugin(_plugin(request), call))

    async def upgrade_plugin(self, request: Request, call: Call) -> Response:
        """Hot swap a plugin to a new version (409 when it does not switch)."""
        message = _upgrade_plugin_request(request.path["name"], request.body.json)
        return _json(await self._service.upgrade_plugin(message, call))

    async def get_plugin_version(self, request: Request, call: Call) -> Response:
        """One registered version of a plugin."""
        return await self.get_plugin(request, call)

    async def load_plugin_version(self, request: Request, call: Call) -> Response:
        """Start one registered version's process."""
        return await self.load_plugin(request, call)

    async def unload_plugin_version(self, request: Request, call: Call) -> Response:
        """Stop one version's process, keeping its registration."""
        return await self.unload_plugin(request, call)

    async def set_default_plugin(self, request: Request, call: Call) -> Response:
        """Make a registered version its name's default."""
        return _json(await self._service.set_default_plugin(_plugin(request), call))

    async def remove_plugin_version(self, request: Request, call: Call) -> Response:
        """Forget one version of a plugin (204)."""
        return await self.remove_plugin(request, call)

    async def remove_plugin(self, request: Request, call: Call) -> Response:
        """Forget a plugin (204)."""
        await self._service.remove_plugin(_plugin(request), call)
        return Response(status_code=204)

    # ----- models --------------------------------------------------------------------------

    async def register_model(self, request: Request, call: Call) -> Response:
        """Register and load a model version (201)."""
        message = from_json(request.body.json, smi_pb2.RegisterModelRequest())
        status = await self._service.register_model(message, call)
        name, version = quote(status.name, safe=""), quote(status.version, safe="")
        return _json(status, 201, {"Location": f"/v1/models/{name}/versions/{version}"})

    async def list_models(self, request: Request, call: Call) -> Response:
        """Every registered model version."""
        return _json(await self._service.list_models(_LIST_MODELS, call))

    async def get_model(self, request: Request, call: Call) -> Response:
        """A model with all its versions."""
        return _json(await self._service.get_model(_model(request), call))

    async def get_model_version(self, request: Request, call: Call) -> Response:
        """One model version."""
        ref = _model(request)
        model = await self._service.get_model(ref, call)
        for status in model.versions:
            if status.version == ref.version:
                return _json(status)
        raise NotFound(f"model {ref.name!r} has no version {ref.version!r}")

    async def remove_model(self, request: Request, call: Call) -> Response:
        """Forget every version of a model."""
        return _json(await self._service.remove_model(_model(request), call))

    remove_model_version = remove_model

    # ----- tokens --------------------------------------------------------------------------

    async def create_token(self, request: Request, call: Call) -> Response:
        """Create a token (201); the body carries its secret, this once."""
        body = dict(request.body.json)
        role = body.pop("role")
        message = from_json(body, smi_pb2.CreateTokenRequest())
        message.role = smi_pb2.Role.ValueType(role_by_name(role))
        created = await self._service.create_token(message, call)
        location = f"/v1/tokens/{quote(created.info.id, safe='')}"
        return _json(created, 201, {"Location": location, "Cache-Control": "no-store"})

    async def list_tokens(self, request: Request, call: Call) -> Response:
        """Every token, without secrets."""
        return _json(await self._service.list_tokens(_LIST_TOKENS, call))

    async def revoke_token(self, request: Request, call: Call) -> Response:
        """Revoke a token for good."""
        ref = smi_pb2.TokenRef(id=request.path["id"])
        return _json(await self._service.revoke_token(ref, call))
