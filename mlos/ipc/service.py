"""The client-facing `mlos.smi.v1.MLOS` service over IPC: decode, call the core, encode.

Each method calls the one engine method that the REST and gRPC transports call for the same
operation; the engine takes and returns the SMI messages of this service, so nothing is
converted. Errors are the engine's: `mlos.ipc.ServerConnection` answers them with error frames.
The caller's uid (SO_PEERCRED) is on every call as `context.peer_uid`.
"""

from __future__ import annotations

from mlos.core.dataplane import Dataplane
from mlos.errors import InvalidArgument
from mlos.wire.method import CallContext
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["MLOSService"]

_REMOVED = smi_pb2.RemovePluginResponse()


class MLOSService(smi_ipc.MLOSServicer):
    """The MLOS service over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    async def health(
        self, request: smi_pb2.HealthRequest, context: CallContext
    ) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and of every plugin."""
        return await self._engine.health()

    async def register_plugin(
        self, request: smi_pb2.RegisterPluginRequest, context: CallContext
    ) -> smi_pb2.PluginStatus:
        """Register a plugin; it starts on LoadPlugin."""
        return await self._engine.register_plugin(request)

    async def list_plugins(
        self, request: smi_pb2.ListPluginsRequest, context: CallContext
    ) -> smi_pb2.ListPluginsResponse:
        """Every registered plugin."""
        return await self._engine.list_plugins()

    async def get_plugin(
        self, request: smi_pb2.PluginRef, context: CallContext
    ) -> smi_pb2.PluginStatus:
        """One plugin."""
        return await self._engine.get_plugin(request.name)

    async def load_plugin(
        self, request: smi_pb2.PluginRef, context: CallContext
    ) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process and load its models."""
        return await self._engine.load_plugin(request.name)

    async def unload_plugin(
        self, request: smi_pb2.PluginRef, context: CallContext
    ) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        return await self._engine.unload_plugin(request.name)

    async def register_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegion, context: CallContext
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Register a byte range of a POSIX shared-memory object; answer with that region.

        With `release_on_disconnect`, the region is unregistered when this connection closes.
        """
        hooks = context.connection if request.release_on_disconnect else None
        if request.release_on_disconnect and hooks is None:
            raise InvalidArgument("release_on_disconnect needs a connection to tie the region to")
        region = await self._engine.register_system_shm(
            request.name, request.key, request.offset, request.byte_size
        )
        if hooks is not None:
            engine = self._engine
            hooks.add(lambda: engine.release_system_shm(region))
        return await self.system_shared_memory_status(
            smi_pb2.SharedMemoryRegionRef(name=request.name), context
        )

    async def system_shared_memory_status(
        self, request: smi_pb2.SharedMemoryRegionRef, context: CallContext
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Registered regions: one, or all when no name is given."""
        regions = await self._engine.system_shm_status(request.name)
        return smi_pb2.SharedMemoryStatusResponse(regions=[r.to_proto() for r in regions])

    async def unregister_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegionRef, context: CallContext
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Unregister one region, or all; answer with the regions left."""
        await self._engine.unregister_system_shm(request.name)
        return await self.system_shared_memory_status(smi_pb2.SharedMemoryRegionRef(), context)

    async def get_model_metadata(
        self, request: smi_pb2.ModelRef, context: CallContext
    ) -> smi_pb2.ModelMetadata:
        """Metadata of the version that serves requests (or of the version named)."""
        return await self._engine.model_metadata(request.name, request.version)

    async def model_ready(
        self, request: smi_pb2.ModelRef, context: CallContext
    ) -> smi_pb2.ModelReadyResponse:
        """Whether a request for the model (version) would be served now."""
        ready = await self._engine.model_ready(request.name, request.version)
        return smi_pb2.ModelReadyResponse(ready=ready)

    async def get_server_metadata(
        self, request: smi_pb2.ServerMetadataRequest, context: CallContext
    ) -> smi_pb2.ServerMetadata:
        """Server name, version and Open Inference Protocol extensions."""
        return smi_pb2.ServerMetadata(**await self._engine.server_metadata())

    async def remove_plugin(
        self, request: smi_pb2.PluginRef, context: CallContext
    ) -> smi_pb2.RemovePluginResponse:
        """Forget a plugin that serves no model."""
        await self._engine.remove_plugin(request.name)
        return _REMOVED

    async def register_model(
        self, request: smi_pb2.RegisterModelRequest, context: CallContext
    ) -> smi_pb2.ModelStatus:
        """Register and load a model version."""
        return await self._engine.register_model(request)

    async def list_models(
        self, request: smi_pb2.ListModelsRequest, context: CallContext
    ) -> smi_pb2.ListModelsResponse:
        """Every registered model version."""
        return await self._engine.list_models()

    async def get_model(self, request: smi_pb2.ModelRef, context: CallContext) -> smi_pb2.Model:
        """A model with all its versions, or only the version asked for."""
        return await self._engine.get_model(request.name, request.version)

    async def remove_model(
        self, request: smi_pb2.ModelRef, context: CallContext
    ) -> smi_pb2.RemoveModelResponse:
        """Forget one version, or every version of a model."""
        return await self._engine.remove_model(request.name, request.version)

    async def infer(
        self, request: smi_pb2.InferRequest, context: CallContext
    ) -> smi_pb2.InferResponse:
        """Run one inference request."""
        return await self._engine.infer(request)

    async def get_resources(
        self, request: smi_pb2.ResourcesRequest, context: CallContext
    ) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return await self._engine.resources()
