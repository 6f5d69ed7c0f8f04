"""`inference.GRPCInferenceService`: the Open Inference Protocol over gRPC, as Triton serves it.

Each method calls the engine method that the REST /v2 handler for the same operation calls.
Inference requests and responses go through :mod:`mlos.grpc.oip`; Triton's model configuration
and statistics come from the engine as the JSON mapping of their messages and are parsed into
them. Errors are the engine's, answered by :mod:`mlos.grpc.handlers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import json_format

from mlos.errors import MLOSError, Unimplemented
from mlos.grpc import oip
from mlos.grpc.handlers import Context
from mlos.grpc.types import Dataplane
from mlos_generated import inference_pb2, inference_pb2_grpc

__all__ = ["Inference"]

_LIVE = inference_pb2.ServerLiveResponse(live=True)
_READY = inference_pb2.ServerReadyResponse(ready=True)
_NOT_READY = inference_pb2.ServerReadyResponse(ready=False)
_MODEL_READY = inference_pb2.ModelReadyResponse(ready=True)
_MODEL_NOT_READY = inference_pb2.ModelReadyResponse(ready=False)
_LOADED = inference_pb2.RepositoryModelLoadResponse()
_UNLOADED = inference_pb2.RepositoryModelUnloadResponse()

_SHM_REGISTERED = inference_pb2.SystemSharedMemoryRegisterResponse()
_SHM_UNREGISTERED = inference_pb2.SystemSharedMemoryUnregisterResponse()
_CUDA_REGISTERED = inference_pb2.CudaSharedMemoryRegisterResponse()
_CUDA_UNREGISTERED = inference_pb2.CudaSharedMemoryUnregisterResponse()
_REGION_STATUS = inference_pb2.SystemSharedMemoryStatusResponse.RegionStatus


class Inference(inference_pb2_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol service over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    # ----- server --------------------------------------------------------------------------

    async def ServerLive(
        self, request: inference_pb2.ServerLiveRequest, context: Context
    ) -> inference_pb2.ServerLiveResponse:
        """Live whenever the core answers."""
        return _LIVE

    async def ServerReady(
        self, request: inference_pb2.ServerReadyRequest, context: Context
    ) -> inference_pb2.ServerReadyResponse:
        """Ready when every plugin that should run is ready."""
        return _READY if self._engine.is_ready() else _NOT_READY

    async def ServerMetadata(
        self, request: inference_pb2.ServerMetadataRequest, context: Context
    ) -> inference_pb2.ServerMetadataResponse:
        """Name, version and extensions of the server."""
        document = await self._engine.server_metadata()
        return json_format.ParseDict(
            document, inference_pb2.ServerMetadataResponse(), ignore_unknown_fields=True
        )

    # ----- models --------------------------------------------------------------------------

    async def ModelReady(
        self, request: inference_pb2.ModelReadyRequest, context: Context
    ) -> inference_pb2.ModelReadyResponse:
        """Whether the model (version) can take requests."""
        ready = await self._engine.model_ready(request.name, request.version)
        return _MODEL_READY if ready else _MODEL_NOT_READY

    async def ModelMetadata(
        self, request: inference_pb2.ModelMetadataRequest, context: Context
    ) -> inference_pb2.ModelMetadataResponse:
        """Inputs, outputs and platform of the version that would serve a request."""
        metadata = await self._engine.model_metadata(request.name, request.version)
        response = inference_pb2.ModelMetadataResponse(
            name=metadata.name, platform=metadata.platform
        )
        response.versions.extend(self._engine.metadata_versions(metadata))
        for source, target in (
            (metadata.inputs, response.inputs),
            (metadata.outputs, response.outputs),
        ):
            for spec in source:
                target.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        return response

    async def ModelInfer(
        self, request: inference_pb2.ModelInferRequest, context: Context
    ) -> inference_pb2.ModelInferResponse:
        """Run one inference request."""
        attachments: dict[str, bytes | memoryview] = {}
        converted = oip.infer_request(request, attachments)
        return oip.infer_response(await self._engine.infer(converted, attachments))

    async def ModelStreamInfer(
        self, requests: AsyncIterator[inference_pb2.ModelInferRequest], context: Context
    ) -> AsyncIterator[inference_pb2.ModelStreamInferResponse]:
        """Run a stream of requests in order; a failed request answers with its error message."""
        async for request in requests:
            try:
                attachments: dict[str, bytes | memoryview] = {}
                converted = oip.infer_request(request, attachments)
                response = await self._engine.infer(converted, attachments)
            except MLOSError as error:
                yield inference_pb2.ModelStreamInferResponse(error_message=error.message)
            else:
                yield inference_pb2.ModelStreamInferResponse(
                    infer_response=oip.infer_response(response)
                )

    async def ModelConfig(
        self, request: inference_pb2.ModelConfigRequest, context: Context
    ) -> inference_pb2.ModelConfigResponse:
        """Triton's model configuration of the version served."""
        document = await self._engine.model_config(request.name, request.version)
        response = inference_pb2.ModelConfigResponse()
        json_format.ParseDict(document, response.config, ignore_unknown_fields=True)
        return response

    async def ModelStatistics(
        self, request: inference_pb2.ModelStatisticsRequest, context: Context
    ) -> inference_pb2.ModelStatisticsResponse:
        """Triton's statistics of one model (version), or of every model."""
        document = await self._engine.model_statistics(request.name, request.version)
        return json_format.ParseDict(
            document, inference_pb2.ModelStatisticsResponse(), ignore_unknown_fields=True
        )

    # ----- repository ----------------------------------------------------------------------

    async def RepositoryIndex(
        self, request: inference_pb2.RepositoryIndexRequest, context: Context
    ) -> inference_pb2.RepositoryIndexResponse:
        """Every registered model version and its state (only the ready ones if asked)."""
        response = inference_pb2.RepositoryIndexResponse()
        for entry in await self._engine.repository_index(request.ready):
            json_format.ParseDict(entry, response.models.add(), ignore_unknown_fields=True)
        return response

    async def RepositoryModelLoad(
        self, request: inference_pb2.RepositoryModelLoadRequest, context: Context
    ) -> inference_pb2.RepositoryModelLoadResponse:
        """Load a registered model again."""
        await self._engine.load_model(request.model_name)
        return _LOADED

    async def RepositoryModelUnload(
        self, request: inference_pb2.RepositoryModelUnloadRequest, context: Context
    ) -> inference_pb2.RepositoryModelUnloadResponse:
        """Unload a model, keeping its registration."""
        await self._engine.unload_model(request.model_name)
        return _UNLOADED

    # ----- shared memory, tracing, logging -------------------------------------------------

    async def SystemSharedMemoryStatus(
        self, request: inference_pb2.SystemSharedMemoryStatusRequest, context: Context
    ) -> inference_pb2.SystemSharedMemoryStatusResponse:
        """Registered system shared-memory regions: one, or all when no name is given."""
        response = inference_pb2.SystemSharedMemoryStatusResponse()
        for region in await self._engine.system_shm_status(request.name):
            response.regions[region.name].MergeFrom(
                _REGION_STATUS(
                    name=region.name,
                    key=region.key,
                    offset=region.offset,
                    byte_size=region.byte_size,
                )
            )
        return response

    async def SystemSharedMemoryRegister(
        self, request: inference_pb2.SystemSharedMemoryRegisterRequest, context: Context
    ) -> inference_pb2.SystemSharedMemoryRegisterResponse:
        """Register a byte range of a POSIX shared-memory object under a name."""
        await self._engine.register_system_shm(
            request.name, request.key, request.offset, request.byte_size
        )
        return _SHM_REGISTERED

    async def SystemSharedMemoryUnregister(
        self, request: inference_pb2.SystemSharedMemoryUnregisterRequest, context: Context
    ) -> inference_pb2.SystemSharedMemoryUnregisterResponse:
        """Unregister one region, or all when no name is given."""
        await self._engine.unregister_system_shm(request.name)
        return _SHM_UNREGISTERED

    async def CudaSharedMemoryStatus(
        self, request: inference_pb2.CudaSharedMemoryStatusRequest, context: Context
    ) -> inference_pb2.CudaSharedMemoryStatusResponse:
        """Registered CUDA shared-memory regions."""
        response = inference_pb2.CudaSharedMemoryStatusResponse()
        for region in await self._engine.cuda_shm_status(request.name):
            json_format.ParseDict(
                region, response.regions[region["name"]], ignore_unknown_fields=True
            )
        return response

    async def CudaSharedMemoryRegister(
        self, request: inference_pb2.CudaSharedMemoryRegisterRequest, context: Context
    ) -> inference_pb2.CudaSharedMemoryRegisterResponse:
        """Register a CUDA shared-memory region (the engine says whether it can)."""
        await self._engine.register_cuda_shm(
            request.name, request.raw_handle, request.device_id, request.byte_size
        )
        return _CUDA_REGISTERED

    async def CudaSharedMemoryUnregister(
        self, request: inference_pb2.CudaSharedMemoryUnregisterRequest, context: Context
    ) -> inference_pb2.CudaSharedMemoryUnregisterResponse:
        """Unregister one CUDA region, or all when no name is given."""
        await self._engine.unregister_cuda_shm(request.name)
        return _CUDA_UNREGISTERED

    async def TraceSetting(
        self, request: inference_pb2.TraceSettingRequest, context: Context
    ) -> inference_pb2.TraceSettingResponse:
        """Not supported."""
        raise Unimplemented("tracing is not supported")

    async def LogSettings(
        self, request: inference_pb2.LogSettingsRequest, context: Context
    ) -> inference_pb2.LogSettingsResponse:
        """Not supported."""
        raise Unimplemented("log settings are not supported")
