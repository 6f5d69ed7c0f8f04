"""/v2 handlers: the Open Inference Protocol and Triton's extensions, one method per operationId.

Operations that exist with and without `/versions/{version}` share one method: the version is
empty when the path has none, and the core picks the version to serve.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mlos.core.pipeline import Call
from mlos.rest.types import EngineHandlers, Request
from mlos.wire.encoding import dumps, triton_json
from mlos.wire.oip_http import decode_request, encode_response
from mlos_generated import smi_pb2

__all__ = ["Inference"]


def _json(document: Any) -> Response:
    return Response(dumps(document), media_type="application/json")


def _status(ok: bool) -> Response:
    """Health and readiness answer with the status alone: 200 true, 400 false."""
    return Response(status_code=200 if ok else 400)


def _tensors(metadata: list[smi_pb2.TensorMetadata]) -> list[dict[str, Any]]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata]


def _version(request: Request) -> str:
    return request.path.get("version", "")


class Inference(EngineHandlers):
    """The /v2 operations over one core engine."""

    # ----- server --------------------------------------------------------------------------

    async def server_metadata(self, request: Request, call: Call) -> Response:
        """Name, version and extensions of the server."""
        metadata = await self._engine.server_metadata()
        return _json(
            {
                "name": metadata.name,
                "version": metadata.version,
                "extensions": list(metadata.extensions),
            }
        )

    async def server_live(self, request: Request, call: Call) -> Response:
        """200 when live."""
        return _status((await self._engine.health()).live)

    async def server_ready(self, request: Request, call: Call) -> Response:
        """200 when ready."""
        return _status(self._engine.is_ready())

    # ----- models --------------------------------------------------------------------------

    async def model_metadata(self, request: Request, call: Call) -> Response:
        """Inputs, outputs and platform of the version served."""
        metadata = await self._engine.model_metadata(request.path["name"], _version(request))
        return _json(
            {
                "name": metadata.name,
                "versions": self._engine.metadata_versions(metadata),
                "platform": metadata.platform,
                "inputs": _tensors(list(metadata.inputs)),
                "outputs": _tensors(list(metadata.outputs)),
            }
        )

    async def model_ready(self, request: Request, call: Call) -> Response:
        """200 when the model (version) can take requests; otherwise the error an inference
        request would get now (404 unknown, 409 unloaded, 503 its plugin restarting)."""
        name, version = request.path["name"], _version(request)
        if not await self._engine.model_ready(name, version):
            await self._engine.model_metadata(name, version)  # raises why it is not ready
        return Response(status_code=200)

    async def model_infer(self, request: Request, call: Call) -> Response:
        """Run one inference request."""
        message, attachments, output_format = decode_request(
            request.body.json, request.body.binary, request.path["name"], _version(request)
        )
        response = await self._engine.infer(message, attachments)
        body, headers = encode_response(response, output_format)
        return Response(body, headers=headers)

    async def model_config(self, request: Request, call: Call) -> Response:
        """Triton model configuration."""
        config = await self._engine.model_config(request.path["name"], _version(request))
        return _json(triton_json(config))

    async def all_model_statistics(self, request: Request, call: Call) -> Response:
        """Statistics of every model."""
        return _json(triton_json(await self._engine.model_statistics()))

    async def model_statistics(self, request: Request, call: Call) -> Response:
        """Statistics of a model, or of one version."""
        statistics = await self._engine.model_statistics(request.path["name"], _version(request))
        return _json(triton_json(statistics))

    model_version_metadata = model_metadata
    model_version_ready = model_ready
    model_version_infer = model_infer
    model_version_config = model_config
    model_version_statistics = model_statistics

    # ----- repository ----------------------------------------------------------------------

    async def repository_index(self, request: Request, call: Call) -> Response:
        """Every registered model version and its state."""
        ready_only = bool((request.body.json or {}).get("ready", False))
        index = await self._engine.repository_index(ready_only)
        return _json([triton_json(model) for model in index.models])

    async def repository_model_load(self, request: Request, call: Call) -> Response:
        """Load (or reload) a registered model."""
        await self._engine.load_model(request.path["name"])
        return Response(status_code=200)

    async def repository_model_unload(self, request: Request, call: Call) -> Response:
        """Unload a model, keeping its registration."""
        await self._engine.unload_model(request.path["name"])
        return Response(status_code=200)
