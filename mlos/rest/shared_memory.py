"""/v2 handlers for Triton's shared-memory extensions, one method per operationId.

Registration, status and unregistration are the core's (:mod:`mlos.core.shm`); these handlers
only read the path and body and write Triton's JSON. Inference with shared-memory tensors goes
through the ordinary inference operations.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.responses import Response

from mlos.core.pipeline import Call
from mlos.errors import InvalidArgument
from mlos.rest.types import EngineHandlers, Request
from mlos.wire.encoding import dumps, triton_json

__all__ = ["SharedMemory"]


def _json(document: Any) -> Response:
    return Response(dumps(document), media_type="application/json")


def _ok() -> Response:
    return Response(status_code=200)


class SharedMemory(EngineHandlers):
    """The /v2/systemsharedmemory and /v2/cudasharedmemory operations over one core engine."""

    # ----- system shared memory ------------------------------------------------------------

    async def system_shared_memory_status(self, request: Request, call: Call) -> Response:
        """Every registered region."""
        return _json([region.as_json() for region in await self._engine.system_shm_status()])

    async def system_shared_memory_region_status(self, request: Request, call: Call) -> Response:
        """One region, as a list of one."""
        regions = await self._engine.system_shm_status(request.path["region"])
        return _json([region.as_json() for region in regions])

    async def system_shared_memory_register(self, request: Request, call: Call) -> Response:
        """Register a range of a POSIX shared-memory object."""
        body = request.body.json
        await self._engine.register_system_shm(
            request.path["region"], body["key"], int(body.get("offset", 0)), int(body["byte_size"])
        )
        return _ok()

    async def system_shared_memory_unregister(self, request: Request, call: Call) -> Response:
        """Unregister the region the path names, or every one (`.../unregister`)."""
        await self._engine.unregister_system_shm(request.path.get("region", ""))
        return _ok()

    system_shared_memory_unregister_all = system_shared_memory_unregister

    # ----- CUDA shared memory (not supported: the core answers as a server without GPUs) ----

    async def cuda_shared_memory_status(self, request: Request, call: Call) -> Response:
        """Every registered CUDA region (none)."""
        return _json([triton_json(region) for region in await self._engine.cuda_shm_status()])

    async def cuda_shared_memory_region_status(self, request: Request, call: Call) -> Response:
        """One CUDA region (never found)."""
        regions = await self._engine.cuda_shm_status(request.path["region"])
        return _json([triton_json(region) for region in regions])

    async def cuda_shared_memory_register(self, request: Request, call: Call) -> Response:
        """Register a CUDA IPC handle (refused)."""
        body = request.body.json or {}
        try:
            raw = str((body.get("raw_handle") or {}).get("b64", ""))
            handle = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):  # ValueError: a character that is not ASCII
            raise InvalidArgument("raw_handle.b64 is not base64") from None
        await self._engine.register_cuda_shm(
            request.path["region"],
            handle,
            int(body.get("device_id", 0)),
            int(body.get("byte_size", 0)),
        )
        return _ok()

    async def cuda_shared_memory_unregister(self, request: Request, call: Call) -> Response:
        """Unregister the CUDA region the path names, or every one (`.../unregister`)."""
        await self._engine.unregister_cuda_shm(request.path.get("region", ""))
        return _ok()

    cuda_shared_memory_unregister_all = cuda_shared_memory_unregister
