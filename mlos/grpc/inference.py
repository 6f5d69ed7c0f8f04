"""`inference.GRPCInferenceService`: the Open Inference Protocol over gRPC, as Triton serves it.

Each handler takes the request message and the pipeline's :class:`~mlos.core.pipeline.Call`
and calls the engine method that the REST /v2 handler for the same operation calls;
:data:`ROUTES` names the operation of each gRPC method, and :func:`servicer` serves them all
through the engine's call pipeline. Inference requests and responses go through
:mod:`mlos.grpc.oip`; Triton's model configuration, statistics and repository index are the
engine's messages as they are. Errors are the engine's, answered by :mod:`mlos.grpc.handlers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from mlos.core.dataplane import Dataplane
from mlos.core.operations import operation
from mlos.core.pipeline import Call
from mlos.errors import MLOSError
from mlos.grpc import oip
from mlos.grpc.handlers import Context
from mlos.grpc.routes import PipelineServicer, Route, call_for
from mlos_generated import inference_pb2

__all__ = ["Inference", "servicer"]

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


class Inference:
    """The Open Inference Protocol's handlers over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    # ----- server --------------------------------------------------------------------------

    async def server_live(
        self, request: inference_pb2.ServerLiveRequest, call: Call
    ) -> inference_pb2.ServerLiveResponse:
        """Live whenever the core answers."""
        return _LIVE

    async def server_ready(
        self, request: inference_pb2.ServerReadyRequest, call: Call
    ) -> inference_pb2.ServerReadyResponse:
        """Ready when every plugin that should run is ready."""
        return _READY if self._engine.is_ready() else _NOT_READY

    async def server_metadata(
        self, request: inference_pb2.ServerMetadataRequest, call: Call
    ) -> inference_pb2.ServerMetadataResponse:
        """Name, version and extensions of the server."""
        metadata = await self._engine.server_metadata()
        return inference_pb2.ServerMetadataResponse(
            name=metadata.name, version=metadata.version, extensions=metadata.extensions
        )

    # ----- models --------------------------------------------------------------------------

    async def model_ready(
        self, request: inference_pb2.ModelReadyRequest, call: Call
    ) -> inference_pb2.ModelReadyResponse:
        """Whether the model (version) can take requests."""
        ready = await self._engine.model_ready(request.name, request.version)
        return _MODEL_READY if ready else _MODEL_NOT_READY

    async def model_metadata(
        self, request: inference_pb2.ModelMetadataRequest, call: Call
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

    async def model_infer(
        self, request: inference_pb2.ModelInferRequest, call: Call
    ) -> inference_pb2.ModelInferResponse:
        """Run one inference request."""
        attachments: dict[str, bytes | memoryview] = {}
        converted = oip.infer_request(request, attachments)
        return oip.infer_response(await self._engine.infer(converted, attachments))

    async def stream_infer(
        self, requests: AsyncIterator[inference_pb2.ModelInferRequest], context: Context
    ) -> AsyncIterator[inference_pb2.ModelStreamInferResponse]:
        """Run a stream of requests in order, each through the pipeline; a failed request
        answers with its error message."""
        infer = operation("infer")
        pipeline = self._engine.pipeline
        async for request in requests:
            try:
                call = call_for(infer, context, request.model_name, request.model_version)
                response = await pipeline.run(call, self.model_infer, request)
            except MLOSError as error:
                yield inference_pb2.ModelStreamInferResponse(error_message=error.message)
            else:
                yield inference_pb2.ModelStreamInferResponse(infer_response=response)

    async def model_config(
        self, request: inference_pb2.ModelConfigRequest, call: Call
    ) -> inference_pb2.ModelConfigResponse:
        """Triton's model configuration of the version served."""
        config = await self._engine.model_config(request.name, request.version)
        return inference_pb2.ModelConfigResponse(config=config)

    async def model_statistics(
        self, request: inference_pb2.ModelStatisticsRequest, call: Call
    ) -> inference_pb2.ModelStatisticsResponse:
        """Triton's statistics of one model (version), or of every model."""
        return await self._engine.model_statistics(request.name, request.version)

    # ----- repository ----------------------------------------------------------------------

    async def repository_index(
        self, request: inference_pb2.RepositoryIndexRequest, call: Call
    ) -> inference_pb2.RepositoryIndexResponse:
        """Every registered model version and its state (only the ready ones if asked)."""
        return await self._engine.repository_index(request.ready)

    async def repository_model_load(
        self, request: inference_pb2.RepositoryModelLoadRequest, call: Call
    ) -> inference_pb2.RepositoryModelLoadResponse:
        """Load a registered model again."""
        await self._engine.load_model(request.model_name)
        return _LOADED

    async def repository_model_unload(
        self, request: inference_pb2.RepositoryModelUnloadRequest, call: Call
    ) -> inference_pb2.RepositoryModelUnloadResponse:
        """Unload a model, keeping its registration."""
        await self._engine.unload_model(request.model_name)
        return _UNLOADED

    # ----- shared memory, trace and log settings -------------------------------------------------

    async def system_shared_memory_status(
        self, request: inference_pb2.SystemSharedMemoryStatusRequest, call: Call
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

    async def system_shared_memory_register(
        self, request: inference_pb2.SystemSharedMemoryRegisterRequest, call: Call
    ) -> inference_pb2.SystemSharedMemoryRegisterResponse:
        """Register a byte range of a POSIX shared-memory object under a name."""
        await self._engine.register_system_shm(
            request.name, request.key, request.offset, request.byte_size
        )
        return _SHM_REGISTERED

    async def system_shared_memory_unregister(
        self, request: inference_pb2.SystemSharedMemoryUnregisterRequest, call: Call
    ) -> inference_pb2.SystemSharedMemoryUnregisterResponse:
        """Unregister one region, or all when no name is given."""
        await self._engine.unregister_system_shm(request.name)
        return _SHM_UNREGISTERED

    async def cuda_shared_memory_status(
        self, request: inference_pb2.CudaSharedMemoryStatusRequest, call: Call
    ) -> inference_pb2.CudaSharedMemoryStatusResponse:
        """Registered CUDA shared-memory regions."""
        response = inference_pb2.CudaSharedMemoryStatusResponse()
        for region in await self._engine.cuda_shm_status(request.name):
            response.regions[region.name].MergeFrom(region)
        return response

    async def cuda_shared_memory_register(
        self, request: inference_pb2.CudaSharedMemoryRegisterRequest, call: Call
    ) -> inference_pb2.CudaSharedMemoryRegisterResponse:
        """Register a CUDA shared-memory region (the engine says whether it can)."""
        await self._engine.register_cuda_shm(
            request.name, request.raw_handle, request.device_id, request.byte_size
        )
        return _CUDA_REGISTERED

    async def cuda_shared_memory_unregister(
        self, request: inference_pb2.CudaSharedMemoryUnregisterRequest, call: Call
    ) -> inference_pb2.CudaSharedMemoryUnregisterResponse:
        """Unregister one CUDA region, or all when no name is given."""
        await self._engine.unregister_cuda_shm(request.name)
        return _CUDA_UNREGISTERED

    async def trace_setting(
        self, request: inference_pb2.TraceSettingRequest, call: Call
    ) -> inference_pb2.TraceSettingResponse:
        """Change trace settings (a setting with no value is cleared), server-wide or of
        `model_name`; answer the settings in force."""
        changes = {
            name: list(setting.value) or None for name, setting in request.settings.items()
        }
        settings = await self._engine.update_trace_setting(request.model_name, changes)
        response = inference_pb2.TraceSettingResponse()
        for name, value in settings.items():
            response.settings[name].value.extend(value if isinstance(value, list) else [value])
        return response

    async def log_settings(
        self, request: inference_pb2.LogSettingsRequest, call: Call
    ) -> inference_pb2.LogSettingsResponse:
        """Change the log settings (a setting with no value stays as it is); answer them all."""
        changes = {name: _log_value(setting) for name, setting in request.settings.items()}
        settings = await self._engine.update_log_settings(changes)
        response = inference_pb2.LogSettingsResponse()
        for name, value in settings.items():
            target = response.settings[name]
            if isinstance(value, bool):
                target.bool_param = value
            elif isinstance(value, int):
                target.uint32_param = value
            else:
                target.string_param = value
        return response


def _model(request: Any) -> tuple[str, str]:
    return request.name, request.version


def _infer_model(request: Any) -> tuple[str, str]:
    return request.model_name, request.model_version


def _repository_model(request: Any) -> tuple[str, str]:
    return request.model_name, ""


_trace_model = _repository_model


def _log_value(setting: inference_pb2.LogSettingsRequest.SettingValue) -> bool | int | str | None:
    kind = setting.WhichOneof("parameter_choice")
    value: bool | int | str | None = getattr(setting, kind) if kind is not None else None
    return value


def servicer(engine: Dataplane) -> PipelineServicer:
    """`GRPCInferenceService` over `engine`: every method a call through its pipeline."""
    oip_handlers = Inference(engine)

    def route(name: str, handler: Any, model_of: Any = None) -> Route:
        return Route(operation(name), handler, model_of)

    routes = {
        "ServerLive": route("server_live", oip_handlers.server_live),
        "ServerReady": route("server_ready", oip_handlers.server_ready),
        "ServerMetadata": route("server_metadata", oip_handlers.server_metadata),
        "ModelReady": route("model_ready", oip_handlers.model_ready, _model),
        "ModelMetadata": route("model_metadata", oip_handlers.model_metadata, _model),
        "ModelInfer": route("infer", oip_handlers.model_infer, _infer_model),
        "ModelConfig": route("model_config", oip_handlers.model_config, _model),
        "ModelStatistics": route("model_statistics", oip_handlers.model_statistics, _model),
        "RepositoryIndex": route("repository_index", oip_handlers.repository_index),
        "RepositoryModelLoad": route(
            "load_model", oip_handlers.repository_model_load, _repository_model
        ),
        "RepositoryModelUnload": route(
            "unload_model", oip_handlers.repository_model_unload, _repository_model
        ),
        "SystemSharedMemoryStatus": route(
            "system_shm_status", oip_handlers.system_shared_memory_status
        ),
        "SystemSharedMemoryRegister": route(
            "register_system_shm", oip_handlers.system_shared_memory_register
        ),
        "SystemSharedMemoryUnregister": route(
            "unregister_system_shm", oip_handlers.system_shared_memory_unregister
        ),
        "CudaSharedMemoryStatus": route("cuda_shm_status", oip_handlers.cuda_shared_memory_status),
        "CudaSharedMemoryRegister": route(
            "register_cuda_shm", oip_handlers.cuda_shared_memory_register
        ),
        "CudaSharedMemoryUnregister": route(
            "unregister_cuda_shm", oip_handlers.cuda_shared_memory_unregister
        ),
        "TraceSetting": route("trace_setting", oip_handlers.trace_setting, _trace_model),
        "LogSettings": route("log_settings", oip_handlers.log_settings),
    }
    adapted = PipelineServicer(engine.pipeline, routes)
    adapted.add("ModelStreamInfer", oip_handlers.stream_infer)
    return adapted
