"""The `mlos.smi.v1.MLOS` service, written once against the engine.

gRPC and IPC serve it through mechanical adapters built from the generated method table
(:data:`MLOS_OPERATIONS` names the operation each method is), and REST's /v1 handlers decode
JSON into the same request messages and call the same methods. Every method takes the request
message and the :class:`~mlos.core.pipeline.Call` it runs in, and returns the response message.
"""

from __future__ import annotations

from mlos.core.auth import CONNECTION_PRINCIPAL
from mlos.core.dataplane import Dataplane
from mlos.core.operations import Operation, operation
from mlos.core.pipeline import Call
from mlos.errors import InvalidArgument
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["MLOS_OPERATIONS", "MODEL_FIELDS", "MLOSService"]

_REMOVED = smi_pb2.RemovePluginResponse()

MLOS_OPERATIONS: dict[str, Operation] = {
    method.handler: operation(name)
    for method, name in (
        (smi_ipc.MLOS_HEALTH, "health"),
        (smi_ipc.MLOS_REGISTER_PLUGIN, "register_plugin"),
        (smi_ipc.MLOS_LIST_PLUGINS, "list_plugins"),
        (smi_ipc.MLOS_GET_PLUGIN, "get_plugin"),
        (smi_ipc.MLOS_LOAD_PLUGIN, "load_plugin"),
        (smi_ipc.MLOS_UNLOAD_PLUGIN, "unload_plugin"),
        (smi_ipc.MLOS_REMOVE_PLUGIN, "remove_plugin"),
        (smi_ipc.MLOS_REGISTER_MODEL, "register_model"),
        (smi_ipc.MLOS_LIST_MODELS, "list_models"),
        (smi_ipc.MLOS_GET_MODEL, "get_model"),
        (smi_ipc.MLOS_REMOVE_MODEL, "remove_model"),
        (smi_ipc.MLOS_INFER, "infer"),
        (smi_ipc.MLOS_GET_RESOURCES, "get_resources"),
        (smi_ipc.MLOS_REGISTER_SYSTEM_SHARED_MEMORY, "register_system_shm"),
        (smi_ipc.MLOS_SYSTEM_SHARED_MEMORY_STATUS, "system_shm_status"),
        (smi_ipc.MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY, "unregister_system_shm"),
        (smi_ipc.MLOS_GET_MODEL_METADATA, "model_metadata"),
        (smi_ipc.MLOS_MODEL_READY, "model_ready"),
        (smi_ipc.MLOS_GET_SERVER_METADATA, "server_metadata"),
        (smi_ipc.MLOS_CREATE_TOKEN, "create_token"),
        (smi_ipc.MLOS_LIST_TOKENS, "list_tokens"),
        (smi_ipc.MLOS_REVOKE_TOKEN, "revoke_token"),
        (smi_ipc.MLOS_AUTHENTICATE, "authenticate"),
        (smi_ipc.MLOS_UPGRADE_PLUGIN, "upgrade_plugin"),
        (smi_ipc.MLOS_SET_DEFAULT_PLUGIN, "set_default_plugin"),
    )
}
"""The operation of each MLOS service method, by handler name (`register_plugin`)."""

MODEL_FIELDS: dict[str, tuple[str, str]] = {
    smi_pb2.InferRequest.DESCRIPTOR.full_name: ("model_name", "model_version"),
    smi_pb2.ModelRef.DESCRIPTOR.full_name: ("name", "version"),
    smi_pb2.RegisterModelRequest.DESCRIPTOR.full_name: ("name", "version"),
}
"""Where a request message names its model and version, by message type."""


class MLOSService(smi_ipc.MLOSServicer[Call]):
    """The MLOS service over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    async def health(self, request: smi_pb2.HealthRequest, call: Call) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and of every plugin."""
        return await self._engine.health()

    async def register_plugin(
        self, request: smi_pb2.RegisterPluginRequest, call: Call
    ) -> smi_pb2.PluginStatus:
        """Register a plugin; it starts on LoadPlugin."""
        return await self._engine.register_plugin(request)

    async def list_plugins(
        self, request: smi_pb2.ListPluginsRequest, call: Call
    ) -> smi_pb2.ListPluginsResponse:
        """Every registered plugin."""
        return await self._engine.list_plugins()

    async def get_plugin(self, request: smi_pb2.PluginRef, call: Call) -> smi_pb2.PluginStatus:
        """One plugin."""
        return await self._engine.get_plugin(_plugin_ref(request))

    async def load_plugin(self, request: smi_pb2.PluginRef, call: Call) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process and load its models."""
        return await self._engine.load_plugin(_plugin_ref(request))

    async def unload_plugin(
        self, request: smi_pb2.PluginRef, call: Call
    ) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        return await self._engine.unload_plugin(_plugin_ref(request))

    async def remove_plugin(
        self, request: smi_pb2.PluginRef, call: Call
    ) -> smi_pb2.RemovePluginResponse:
        """Forget a plugin that serves no model."""
        await self._engine.remove_plugin(_plugin_ref(request))
        return _REMOVED

    async def upgrade_plugin(
        self, request: smi_pb2.UpgradePluginRequest, call: Call
    ) -> smi_pb2.PluginStatus:
        """Hot swap a plugin to a new version: nothing switches unless it loads and warms up
        every model."""
        return await self._engine.upgrade_plugin(request)

    async def set_default_plugin(
        self, request: smi_pb2.PluginRef, call: Call
    ) -> smi_pb2.PluginStatus:
        """Make a registered version its name's default; the models following it move."""
        return await self._engine.set_default_plugin(request.name, request.version)

    async def register_model(
        self, request: smi_pb2.RegisterModelRequest, call: Call
    ) -> smi_pb2.ModelStatus:
        """Register and load a model version."""
        return await self._engine.register_model(request)

    async def list_models(
        self, request: smi_pb2.ListModelsRequest, call: Call
    ) -> smi_pb2.ListModelsResponse:
        """Every registered model version."""
        return await self._engine.list_models()

    async def get_model(self, request: smi_pb2.ModelRef, call: Call) -> smi_pb2.Model:
        """A model with all its versions, or only the version asked for."""
        return await self._engine.get_model(request.name, request.version)

    async def remove_model(
        self, request: smi_pb2.ModelRef, call: Call
    ) -> smi_pb2.RemoveModelResponse:
        """Forget one version, or every version of a model."""
        return await self._engine.remove_model(request.name, request.version)

    async def infer(self, request: smi_pb2.InferRequest, call: Call) -> smi_pb2.InferResponse:
        """Run one inference request."""
        return await self._engine.infer(request)

    async def get_resources(
        self, request: smi_pb2.ResourcesRequest, call: Call
    ) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return await self._engine.resources()

    async def register_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegion, call: Call
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Register a byte range of a POSIX shared-memory object; answer with that region.

        With `release_on_disconnect`, the region is unregistered when the caller's connection
        closes; only a transport with connections (IPC) offers that.
        """
        hooks = call.connection if request.release_on_disconnect else None
        if request.release_on_disconnect and hooks is None:
            raise InvalidArgument(
                "release_on_disconnect is for the IPC API: this call has no connection to tie "
                "the region to"
            )
        region = await self._engine.register_system_shm(
            request.name, request.key, request.offset, request.byte_size
        )
        if hooks is not None:
            engine = self._engine
            hooks.add(lambda: engine.release_system_shm(region))
        return await self._regions(request.name)

    async def system_shared_memory_status(
        self, request: smi_pb2.SharedMemoryRegionRef, call: Call
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Registered regions: one, or all when no name is given."""
        return await self._regions(request.name)

    async def unregister_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegionRef, call: Call
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Unregister one region, or all; answer with the regions left."""
        await self._engine.unregister_system_shm(request.name)
        return await self._regions("")

    async def _regions(self, name: str) -> smi_pb2.SharedMemoryStatusResponse:
        regions = await self._engine.system_shm_status(name)
        return smi_pb2.SharedMemoryStatusResponse(regions=[r.to_proto() for r in regions])

    async def get_model_metadata(
        self, request: smi_pb2.ModelRef, call: Call
    ) -> smi_pb2.ModelMetadata:
        """Metadata of the version that serves requests (or of the version named)."""
        return await self._engine.model_metadata(request.name, request.version)

    async def model_ready(
        self, request: smi_pb2.ModelRef, call: Call
    ) -> smi_pb2.ModelReadyResponse:
        """Whether a request for the model (version) would be served now."""
        ready = await self._engine.model_ready(request.name, request.version)
        return smi_pb2.ModelReadyResponse(ready=ready)

    async def get_server_metadata(
        self, request: smi_pb2.ServerMetadataRequest, call: Call
    ) -> smi_pb2.ServerMetadata:
        """Server name, version and Open Inference Protocol extensions."""
        return await self._engine.server_metadata()

    async def create_token(
        self, request: smi_pb2.CreateTokenRequest, call: Call
    ) -> smi_pb2.CreateTokenResponse:
        """Create a token; the answer carries its secret, once."""
        return await self._engine.create_token(request)

    async def list_tokens(
        self, request: smi_pb2.ListTokensRequest, call: Call
    ) -> smi_pb2.ListTokensResponse:
        """Every token, without secrets."""
        return await self._engine.list_tokens()

    async def revoke_token(self, request: smi_pb2.TokenRef, call: Call) -> smi_pb2.TokenInfo:
        """Revoke a token for good."""
        return await self._engine.revoke_token(request.id)

    async def authenticate(
        self, request: smi_pb2.AuthenticateRequest, call: Call
    ) -> smi_pb2.AuthenticateResponse:
        """Check a token; on a connection (IPC), the calls that follow run as its principal."""
        principal = self._engine.authenticate(request.token)
        if call.connection is not None:
            call.connection.state[CONNECTION_PRINCIPAL] = principal
        return smi_pb2.AuthenticateResponse(
            principal=principal.name, role=smi_pb2.Role.ValueType(principal.role)
        )


def _plugin_ref(request: smi_pb2.PluginRef) -> str:
    """The plugin version a PluginRef names: `name@version`, or the bare name (its default
    version) when it gives no version."""
    return f"{request.name}@{request.version}" if request.version else request.name
