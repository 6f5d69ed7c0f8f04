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

from mlos.errors import InvalidArgument
from mlos.rest.types import Call, Dataplane
from mlos.wire.encoding import dumps

__all__ = ["SharedMemory"]


def _json(document: Any) -> Response:
    return Response(dumps(document), media_type="application/json")


def _ok() -> Response:
    return Response(status_code=200)


class SharedMemory:
    """The /v2/systemsharedmemory and /v2/cudasharedmemory operations over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    # ----- system shared memory ------------------------------------------------------------

    async def system_shared_memory_status(self, call: Call) -> Response:
        """Every registered region."""
        return _json([region.as_json() for region in await self._engine.system_shm_status()])

    async def system_shared_memory_region_status(self, call: Call) -> Response:
        """One region, as a list of one."""
        regions = await self._engine.system_shm_status(call.path["region"])
        return _json([region.as_json() for region in regions])

    async def system_shared_memory_register(self, call: Call) -> Response:
        """Register a range of a POSIX shared-memory object."""
        body = call.body.json
        await self._engine.register_system_shm(
            call.path["region"], body["key"], int(body.get("offset", 0)), int(body["byte_size"])
        )
        return _ok()

    async def system_shared_memory_unregister(self, call: Call) -> Response:
        """Unregister one region."""
        await self._engine.unregister_system_shm(call.path["region"])
        return _ok()

    async def system_shared_memory_unregister_all(self, call: Call) -> Response:
        """Unregister every region."""
        await self._engine.unregister_system_shm()
        return _ok()

    # ----- CUDA shared memory (not supported: the core answers as a server without GPUs) ----

    async def cuda_shared_memory_status(self, call: Call) -> Response:
        """Every registered CUDA region (none)."""
        return _json(await self._engine.cuda_shm_status())

    async def cuda_shared_memory_region_status(self, call: Call) -> Response:
        """One CUDA region (never found)."""
        return _json(await self._engine.cuda_shm_status(call.path["region"]))

    async def cuda_shared_memory_register(self, call: Call) -> Response:
        """Register a CUDA IPC handle (refused)."""
        body = call.body.json or {}
        try:
            handle = base64.b64decode(str((body.get("raw_handle") or {}).get("b64", "")))
        except binascii.Error:
            raise InvalidArgument("raw_handle.b64 is not base64") from None
        await self._engine.register_cuda_shm(
            call.path["region"],
            handle,
            int(body.get("device_id", 0)),
            int(body.get("byte_size", 0)),
        )
        return _ok()

    async def cuda_shared_memory_unregister(self, call: Call) -> Response:
        """Unregister one CUDA region."""
        await self._engine.unregister_cuda_shm(call.path["region"])
        return _ok()

    async def cuda_shared_memory_unregister_all(self, call: Call) -> Response:
        """Unregister every CUDA region."""
        await self._engine.unregister_cuda_shm()
        return _ok()
