"""The `mlos.smi.v1.MLOS` service: plugins, models, inference, health and resources.

Each method calls the one engine method that the REST /v1 handler for the same operation calls;
the engine takes and returns the SMI messages of this service, so nothing is converted. Errors
are the engine's, answered by :mod:`mlos.grpc.handlers`.
"""

from __future__ import annotations

from mlos.errors import InvalidArgument
from mlos.grpc.handlers import Context
from mlos.grpc.types import Dataplane
from mlos_generated import smi_pb2, smi_pb2_grpc

__all__ = ["Management"]

_REMOVED = smi_pb2.RemovePluginResponse()


class Management(smi_pb2_grpc.MLOSServicer):
    """The MLOS service over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    async def Health(
        self, request: smi_pb2.HealthRequest, context: Context
    ) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and of every plugin."""
        return await self._engine.health()

    async def RegisterPlugin(
        self, request: smi_pb2.RegisterPluginRequest, context: Context
    ) -> smi_pb2.PluginStatus:
        """Register a plugin; it starts on LoadPlugin."""
        return await self._engine.register_plugin(request)

    async def ListPlugins(
        self, request: smi_pb2.ListPluginsRequest, context: Context
    ) -> smi_pb2.ListPluginsResponse:
        """Every registered plugin."""
        return await self._engine.list_plugins()

    async def GetPlugin(self, request: smi_pb2.PluginRef, context: Context) -> smi_pb2.PluginStatus:
        """One plugin."""
        return await self._engine.get_plugin(request.name)

    async def LoadPlugin(
        self, request: smi_pb2.PluginRef, context: Context
    ) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process and load its models."""
        return await self._engine.load_plugin(request.name)

    async def UnloadPlugin(
        self, request: smi_pb2.PluginRef, context: Context
    ) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        return await self._engine.unload_plugin(request.name)

    async def RemovePlugin(
        self, request: smi_pb2.PluginRef, context: Context
    ) -> smi_pb2.RemovePluginResponse:
        """Forget a plugin that serves no model."""
        await self._engine.remove_plugin(request.name)
        return _REMOVED

    async def RegisterModel(
        self, request: smi_pb2.RegisterModelRequest, context: Context
    ) -> smi_pb2.ModelStatus:
        """Register and load a model version."""
        return await self._engine.register_model(request)

    async def ListModels(
        self, request: smi_pb2.ListModelsRequest, context: Context
    ) -> smi_pb2.ListModelsResponse:
        """Every registered model version."""
        return await self._engine.list_models()

    async def GetModel(self, request: smi_pb2.ModelRef, context: Context) -> smi_pb2.Model:
        """A model with all its versions, or only the version asked for."""
        return await self._engine.get_model(request.name, request.version)

    async def RemoveModel(
        self, request: smi_pb2.ModelRef, context: Context
    ) -> smi_pb2.RemoveModelResponse:
        """Forget one version, or every version of a model."""
        return await self._engine.remove_model(request.name, request.version)

    async def Infer(self, request: smi_pb2.InferRequest, context: Context) -> smi_pb2.InferResponse:
        """Run one inference request."""
        return await self._engine.infer(request)

    async def RegisterSystemSharedMemory(
        self, request: smi_pb2.SharedMemoryRegion, context: Context
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Register a byte range of a POSIX shared-memory object; answer with that region."""
        if request.release_on_disconnect:
            raise InvalidArgument(
                "release_on_disconnect is for the IPC API: a gRPC call has no connection to "
                "tie the region to"
            )
        await self._engine.register_system_shm(
            request.name, request.key, request.offset, request.byte_size
        )
        return await self.SystemSharedMemoryStatus(
            smi_pb2.SharedMemoryRegionRef(name=request.name), context
        )

    async def SystemSharedMemoryStatus(
        self, request: smi_pb2.SharedMemoryRegionRef, context: Context
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Registered regions: one, or all when no name is given."""
        regions = await self._engine.system_shm_status(request.name)
        return smi_pb2.SharedMemoryStatusResponse(regions=[r.to_proto() for r in regions])

    async def UnregisterSystemSharedMemory(
        self, request: smi_pb2.SharedMemoryRegionRef, context: Context
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Unregister one region, or all; answer with the regions left."""
        await self._engine.unregister_system_shm(request.name)
        return await self.SystemSharedMemoryStatus(smi_pb2.SharedMemoryRegionRef(), context)

    async def GetModelMetadata(
        self, request: smi_pb2.ModelRef, context: Context
    ) -> smi_pb2.ModelMetadata:
        """Metadata of the version that serves requests (or of the version named)."""
        return await self._engine.model_metadata(request.name, request.version)

    async def ModelReady(
        self, request: smi_pb2.ModelRef, context: Context
    ) -> smi_pb2.ModelReadyResponse:
        """Whether a request for the model (version) would be served now."""
        ready = await self._engine.model_ready(request.name, request.version)
        return smi_pb2.ModelReadyResponse(ready=ready)

    async def GetServerMetadata(
        self, request: smi_pb2.ServerMetadataRequest, context: Context
    ) -> smi_pb2.ServerMetadata:
        """Server name, version and Open Inference Protocol extensions."""
        return smi_pb2.ServerMetadata(**await self._engine.server_metadata())

    async def GetResources(
        self, request: smi_pb2.ResourcesRequest, context: Context
    ) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return await self._engine.resources()
