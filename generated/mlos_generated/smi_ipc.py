# DO NOT EDIT — generated from spec/smi.proto by tools/protoc_gen_mlos_ipc.py;
# run `make generate`.
"""IPC method table, clients and servicers for mlos.smi.v1."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

from mlos.wire.channel import Channel
from mlos.wire.method import Method
from mlos_generated import smi_pb2

ContextT = TypeVar("ContextT")
"""What a servicer's methods receive about each call: `mlos.wire.CallContext` where
`mlos.wire.ServerConnection` dispatches to it, the server's own call type for its MLOS
service."""

SMI_VERSION = smi_pb2.SmiVersion(major=1, minor=0)
"""The SMI version this module was generated for."""

PLUGIN_DESCRIBE: Method[smi_pb2.DescribeRequest, smi_pb2.PluginInfo] = Method(
    id=0x0101,
    service="mlos.smi.v1.Plugin",
    name="Describe",
    handler="describe",
    request_type=smi_pb2.DescribeRequest,
    response_type=smi_pb2.PluginInfo,
)

PLUGIN_LOAD_MODEL: Method[smi_pb2.LoadModelRequest, smi_pb2.LoadModelResponse] = Method(
    id=0x0102,
    service="mlos.smi.v1.Plugin",
    name="LoadModel",
    handler="load_model",
    request_type=smi_pb2.LoadModelRequest,
    response_type=smi_pb2.LoadModelResponse,
)

PLUGIN_UNLOAD_MODEL: Method[smi_pb2.UnloadModelRequest, smi_pb2.UnloadModelResponse] = Method(
    id=0x0103,
    service="mlos.smi.v1.Plugin",
    name="UnloadModel",
    handler="unload_model",
    request_type=smi_pb2.UnloadModelRequest,
    response_type=smi_pb2.UnloadModelResponse,
)

PLUGIN_INFER: Method[smi_pb2.InferRequest, smi_pb2.InferResponse] = Method(
    id=0x0104,
    service="mlos.smi.v1.Plugin",
    name="Infer",
    handler="infer",
    request_type=smi_pb2.InferRequest,
    response_type=smi_pb2.InferResponse,
)

PLUGIN_HEALTH: Method[smi_pb2.PluginHealthRequest, smi_pb2.PluginHealthResponse] = Method(
    id=0x0105,
    service="mlos.smi.v1.Plugin",
    name="Health",
    handler="health",
    request_type=smi_pb2.PluginHealthRequest,
    response_type=smi_pb2.PluginHealthResponse,
)

PLUGIN_SHUTDOWN: Method[smi_pb2.ShutdownRequest, smi_pb2.ShutdownResponse] = Method(
    id=0x0106,
    service="mlos.smi.v1.Plugin",
    name="Shutdown",
    handler="shutdown",
    request_type=smi_pb2.ShutdownRequest,
    response_type=smi_pb2.ShutdownResponse,
)

MLOS_HEALTH: Method[smi_pb2.HealthRequest, smi_pb2.HealthResponse] = Method(
    id=0x0201,
    service="mlos.smi.v1.MLOS",
    name="Health",
    handler="health",
    request_type=smi_pb2.HealthRequest,
    response_type=smi_pb2.HealthResponse,
)

MLOS_REGISTER_PLUGIN: Method[smi_pb2.RegisterPluginRequest, smi_pb2.PluginStatus] = Method(
    id=0x0202,
    service="mlos.smi.v1.MLOS",
    name="RegisterPlugin",
    handler="register_plugin",
    request_type=smi_pb2.RegisterPluginRequest,
    response_type=smi_pb2.PluginStatus,
)

MLOS_LIST_PLUGINS: Method[smi_pb2.ListPluginsRequest, smi_pb2.ListPluginsResponse] = Method(
    id=0x0203,
    service="mlos.smi.v1.MLOS",
    name="ListPlugins",
    handler="list_plugins",
    request_type=smi_pb2.ListPluginsRequest,
    response_type=smi_pb2.ListPluginsResponse,
)

MLOS_GET_PLUGIN: Method[smi_pb2.PluginRef, smi_pb2.PluginStatus] = Method(
    id=0x0204,
    service="mlos.smi.v1.MLOS",
    name="GetPlugin",
    handler="get_plugin",
    request_type=smi_pb2.PluginRef,
    response_type=smi_pb2.PluginStatus,
)

MLOS_LOAD_PLUGIN: Method[smi_pb2.PluginRef, smi_pb2.PluginStatus] = Method(
    id=0x0205,
    service="mlos.smi.v1.MLOS",
    name="LoadPlugin",
    handler="load_plugin",
    request_type=smi_pb2.PluginRef,
    response_type=smi_pb2.PluginStatus,
)

MLOS_UNLOAD_PLUGIN: Method[smi_pb2.PluginRef, smi_pb2.PluginStatus] = Method(
    id=0x0206,
    service="mlos.smi.v1.MLOS",
    name="UnloadPlugin",
    handler="unload_plugin",
    request_type=smi_pb2.PluginRef,
    response_type=smi_pb2.PluginStatus,
)

MLOS_REMOVE_PLUGIN: Method[smi_pb2.PluginRef, smi_pb2.RemovePluginResponse] = Method(
    id=0x0207,
    service="mlos.smi.v1.MLOS",
    name="RemovePlugin",
    handler="remove_plugin",
    request_type=smi_pb2.PluginRef,
    response_type=smi_pb2.RemovePluginResponse,
)

MLOS_REGISTER_MODEL: Method[smi_pb2.RegisterModelRequest, smi_pb2.ModelStatus] = Method(
    id=0x0208,
    service="mlos.smi.v1.MLOS",
    name="RegisterModel",
    handler="register_model",
    request_type=smi_pb2.RegisterModelRequest,
    response_type=smi_pb2.ModelStatus,
)

MLOS_LIST_MODELS: Method[smi_pb2.ListModelsRequest, smi_pb2.ListModelsResponse] = Method(
    id=0x0209,
    service="mlos.smi.v1.MLOS",
    name="ListModels",
    handler="list_models",
    request_type=smi_pb2.ListModelsRequest,
    response_type=smi_pb2.ListModelsResponse,
)

MLOS_GET_MODEL: Method[smi_pb2.ModelRef, smi_pb2.Model] = Method(
    id=0x020A,
    service="mlos.smi.v1.MLOS",
    name="GetModel",
    handler="get_model",
    request_type=smi_pb2.ModelRef,
    response_type=smi_pb2.Model,
)

MLOS_REMOVE_MODEL: Method[smi_pb2.ModelRef, smi_pb2.RemoveModelResponse] = Method(
    id=0x020B,
    service="mlos.smi.v1.MLOS",
    name="RemoveModel",
    handler="remove_model",
    request_type=smi_pb2.ModelRef,
    response_type=smi_pb2.RemoveModelResponse,
)

MLOS_INFER: Method[smi_pb2.InferRequest, smi_pb2.InferResponse] = Method(
    id=0x020C,
    service="mlos.smi.v1.MLOS",
    name="Infer",
    handler="infer",
    request_type=smi_pb2.InferRequest,
    response_type=smi_pb2.InferResponse,
)

MLOS_GET_RESOURCES: Method[smi_pb2.ResourcesRequest, smi_pb2.ResourcesResponse] = Method(
    id=0x020D,
    service="mlos.smi.v1.MLOS",
    name="GetResources",
    handler="get_resources",
    request_type=smi_pb2.ResourcesRequest,
    response_type=smi_pb2.ResourcesResponse,
)

MLOS_REGISTER_SYSTEM_SHARED_MEMORY: Method[smi_pb2.SharedMemoryRegion, smi_pb2.SharedMemoryStatusResponse] = Method(
    id=0x020E,
    service="mlos.smi.v1.MLOS",
    name="RegisterSystemSharedMemory",
    handler="register_system_shared_memory",
    request_type=smi_pb2.SharedMemoryRegion,
    response_type=smi_pb2.SharedMemoryStatusResponse,
)

MLOS_SYSTEM_SHARED_MEMORY_STATUS: Method[smi_pb2.SharedMemoryRegionRef, smi_pb2.SharedMemoryStatusResponse] = Method(
    id=0x020F,
    service="mlos.smi.v1.MLOS",
    name="SystemSharedMemoryStatus",
    handler="system_shared_memory_status",
    request_type=smi_pb2.SharedMemoryRegionRef,
    response_type=smi_pb2.SharedMemoryStatusResponse,
)

MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY: Method[smi_pb2.SharedMemoryRegionRef, smi_pb2.SharedMemoryStatusResponse] = Method(
    id=0x0210,
    service="mlos.smi.v1.MLOS",
    name="UnregisterSystemSharedMemory",
    handler="unregister_system_shared_memory",
    request_type=smi_pb2.SharedMemoryRegionRef,
    response_type=smi_pb2.SharedMemoryStatusResponse,
)

MLOS_GET_MODEL_METADATA: Method[smi_pb2.ModelRef, smi_pb2.ModelMetadata] = Method(
    id=0x0211,
    service="mlos.smi.v1.MLOS",
    name="GetModelMetadata",
    handler="get_model_metadata",
    request_type=smi_pb2.ModelRef,
    response_type=smi_pb2.ModelMetadata,
)

MLOS_MODEL_READY: Method[smi_pb2.ModelRef, smi_pb2.ModelReadyResponse] = Method(
    id=0x0212,
    service="mlos.smi.v1.MLOS",
    name="ModelReady",
    handler="model_ready",
    request_type=smi_pb2.ModelRef,
    response_type=smi_pb2.ModelReadyResponse,
)

MLOS_GET_SERVER_METADATA: Method[smi_pb2.ServerMetadataRequest, smi_pb2.ServerMetadata] = Method(
    id=0x0213,
    service="mlos.smi.v1.MLOS",
    name="GetServerMetadata",
    handler="get_server_metadata",
    request_type=smi_pb2.ServerMetadataRequest,
    response_type=smi_pb2.ServerMetadata,
)

MLOS_CREATE_TOKEN: Method[smi_pb2.CreateTokenRequest, smi_pb2.CreateTokenResponse] = Method(
    id=0x0214,
    service="mlos.smi.v1.MLOS",
    name="CreateToken",
    handler="create_token",
    request_type=smi_pb2.CreateTokenRequest,
    response_type=smi_pb2.CreateTokenResponse,
)

MLOS_LIST_TOKENS: Method[smi_pb2.ListTokensRequest, smi_pb2.ListTokensResponse] = Method(
    id=0x0215,
    service="mlos.smi.v1.MLOS",
    name="ListTokens",
    handler="list_tokens",
    request_type=smi_pb2.ListTokensRequest,
    response_type=smi_pb2.ListTokensResponse,
)

MLOS_REVOKE_TOKEN: Method[smi_pb2.TokenRef, smi_pb2.TokenInfo] = Method(
    id=0x0216,
    service="mlos.smi.v1.MLOS",
    name="RevokeToken",
    handler="revoke_token",
    request_type=smi_pb2.TokenRef,
    response_type=smi_pb2.TokenInfo,
)

MLOS_AUTHENTICATE: Method[smi_pb2.AuthenticateRequest, smi_pb2.AuthenticateResponse] = Method(
    id=0x0217,
    service="mlos.smi.v1.MLOS",
    name="Authenticate",
    handler="authenticate",
    request_type=smi_pb2.AuthenticateRequest,
    response_type=smi_pb2.AuthenticateResponse,
)

MLOS_UPGRADE_PLUGIN: Method[smi_pb2.UpgradePluginRequest, smi_pb2.PluginStatus] = Method(
    id=0x0218,
    service="mlos.smi.v1.MLOS",
    name="UpgradePlugin",
    handler="upgrade_plugin",
    request_type=smi_pb2.UpgradePluginRequest,
    response_type=smi_pb2.PluginStatus,
)

MLOS_SET_DEFAULT_PLUGIN: Method[smi_pb2.PluginRef, smi_pb2.PluginStatus] = Method(
    id=0x0219,
    service="mlos.smi.v1.MLOS",
    name="SetDefaultPlugin",
    handler="set_default_plugin",
    request_type=smi_pb2.PluginRef,
    response_type=smi_pb2.PluginStatus,
)

PLUGIN_CHANNELS_OPEN_CHANNEL: Method[smi_pb2.ChannelGrant, smi_pb2.OpenChannelResponse] = Method(
    id=0x0301,
    service="mlos.smi.v1.PluginChannels",
    name="OpenChannel",
    handler="open_channel",
    request_type=smi_pb2.ChannelGrant,
    response_type=smi_pb2.OpenChannelResponse,
)

PLUGIN_CHANNELS_CLOSE_CHANNELS: Method[smi_pb2.CloseChannelsRequest, smi_pb2.ChannelStatisticsResponse] = Method(
    id=0x0302,
    service="mlos.smi.v1.PluginChannels",
    name="CloseChannels",
    handler="close_channels",
    request_type=smi_pb2.CloseChannelsRequest,
    response_type=smi_pb2.ChannelStatisticsResponse,
)

PLUGIN_CHANNELS_CHANNEL_STATISTICS: Method[smi_pb2.ChannelStatisticsRequest, smi_pb2.ChannelStatisticsResponse] = Method(
    id=0x0303,
    service="mlos.smi.v1.PluginChannels",
    name="ChannelStatistics",
    handler="channel_statistics",
    request_type=smi_pb2.ChannelStatisticsRequest,
    response_type=smi_pb2.ChannelStatisticsResponse,
)

DIRECT_CHANNELS_OPEN: Method[smi_pb2.DirectChannelRequest, smi_pb2.DirectChannel] = Method(
    id=0x0401,
    service="mlos.smi.v1.DirectChannels",
    name="Open",
    handler="open",
    request_type=smi_pb2.DirectChannelRequest,
    response_type=smi_pb2.DirectChannel,
)


METHODS: dict[int, Method[object, object]] = {
    PLUGIN_DESCRIBE.id: PLUGIN_DESCRIBE,  # type: ignore[dict-item]
    PLUGIN_LOAD_MODEL.id: PLUGIN_LOAD_MODEL,  # type: ignore[dict-item]
    PLUGIN_UNLOAD_MODEL.id: PLUGIN_UNLOAD_MODEL,  # type: ignore[dict-item]
    PLUGIN_INFER.id: PLUGIN_INFER,  # type: ignore[dict-item]
    PLUGIN_HEALTH.id: PLUGIN_HEALTH,  # type: ignore[dict-item]
    PLUGIN_SHUTDOWN.id: PLUGIN_SHUTDOWN,  # type: ignore[dict-item]
    MLOS_HEALTH.id: MLOS_HEALTH,  # type: ignore[dict-item]
    MLOS_REGISTER_PLUGIN.id: MLOS_REGISTER_PLUGIN,  # type: ignore[dict-item]
    MLOS_LIST_PLUGINS.id: MLOS_LIST_PLUGINS,  # type: ignore[dict-item]
    MLOS_GET_PLUGIN.id: MLOS_GET_PLUGIN,  # type: ignore[dict-item]
    MLOS_LOAD_PLUGIN.id: MLOS_LOAD_PLUGIN,  # type: ignore[dict-item]
    MLOS_UNLOAD_PLUGIN.id: MLOS_UNLOAD_PLUGIN,  # type: ignore[dict-item]
    MLOS_REMOVE_PLUGIN.id: MLOS_REMOVE_PLUGIN,  # type: ignore[dict-item]
    MLOS_REGISTER_MODEL.id: MLOS_REGISTER_MODEL,  # type: ignore[dict-item]
    MLOS_LIST_MODELS.id: MLOS_LIST_MODELS,  # type: ignore[dict-item]
    MLOS_GET_MODEL.id: MLOS_GET_MODEL,  # type: ignore[dict-item]
    MLOS_REMOVE_MODEL.id: MLOS_REMOVE_MODEL,  # type: ignore[dict-item]
    MLOS_INFER.id: MLOS_INFER,  # type: ignore[dict-item]
    MLOS_GET_RESOURCES.id: MLOS_GET_RESOURCES,  # type: ignore[dict-item]
    MLOS_REGISTER_SYSTEM_SHARED_MEMORY.id: MLOS_REGISTER_SYSTEM_SHARED_MEMORY,  # type: ignore[dict-item]
    MLOS_SYSTEM_SHARED_MEMORY_STATUS.id: MLOS_SYSTEM_SHARED_MEMORY_STATUS,  # type: ignore[dict-item]
    MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY.id: MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY,  # type: ignore[dict-item]
    MLOS_GET_MODEL_METADATA.id: MLOS_GET_MODEL_METADATA,  # type: ignore[dict-item]
    MLOS_MODEL_READY.id: MLOS_MODEL_READY,  # type: ignore[dict-item]
    MLOS_GET_SERVER_METADATA.id: MLOS_GET_SERVER_METADATA,  # type: ignore[dict-item]
    MLOS_CREATE_TOKEN.id: MLOS_CREATE_TOKEN,  # type: ignore[dict-item]
    MLOS_LIST_TOKENS.id: MLOS_LIST_TOKENS,  # type: ignore[dict-item]
    MLOS_REVOKE_TOKEN.id: MLOS_REVOKE_TOKEN,  # type: ignore[dict-item]
    MLOS_AUTHENTICATE.id: MLOS_AUTHENTICATE,  # type: ignore[dict-item]
    MLOS_UPGRADE_PLUGIN.id: MLOS_UPGRADE_PLUGIN,  # type: ignore[dict-item]
    MLOS_SET_DEFAULT_PLUGIN.id: MLOS_SET_DEFAULT_PLUGIN,  # type: ignore[dict-item]
    PLUGIN_CHANNELS_OPEN_CHANNEL.id: PLUGIN_CHANNELS_OPEN_CHANNEL,  # type: ignore[dict-item]
    PLUGIN_CHANNELS_CLOSE_CHANNELS.id: PLUGIN_CHANNELS_CLOSE_CHANNELS,  # type: ignore[dict-item]
    PLUGIN_CHANNELS_CHANNEL_STATISTICS.id: PLUGIN_CHANNELS_CHANNEL_STATISTICS,  # type: ignore[dict-item]
    DIRECT_CHANNELS_OPEN.id: DIRECT_CHANNELS_OPEN,  # type: ignore[dict-item]
}
"""Every method of this file by id."""


class PluginClient:
    """Calls the Plugin service over an IPC channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def describe(
        self, request: smi_pb2.DescribeRequest, *, timeout: float | None = None
    ) -> smi_pb2.PluginInfo:
        """Call Plugin.Describe."""
        return await self.channel.call(PLUGIN_DESCRIBE, request, timeout=timeout)

    async def load_model(
        self, request: smi_pb2.LoadModelRequest, *, timeout: float | None = None
    ) -> smi_pb2.LoadModelResponse:
        """Call Plugin.LoadModel."""
        return await self.channel.call(PLUGIN_LOAD_MODEL, request, timeout=timeout)

    async def unload_model(
        self, request: smi_pb2.UnloadModelRequest, *, timeout: float | None = None
    ) -> smi_pb2.UnloadModelResponse:
        """Call Plugin.UnloadModel."""
        return await self.channel.call(PLUGIN_UNLOAD_MODEL, request, timeout=timeout)

    async def infer(
        self, request: smi_pb2.InferRequest, *, timeout: float | None = None
    ) -> smi_pb2.InferResponse:
        """Call Plugin.Infer."""
        return await self.channel.call(PLUGIN_INFER, request, timeout=timeout)

    async def health(
        self, request: smi_pb2.PluginHealthRequest, *, timeout: float | None = None
    ) -> smi_pb2.PluginHealthResponse:
        """Call Plugin.Health."""
        return await self.channel.call(PLUGIN_HEALTH, request, timeout=timeout)

    async def shutdown(
        self, request: smi_pb2.ShutdownRequest, *, timeout: float | None = None
    ) -> smi_pb2.ShutdownResponse:
        """Call Plugin.Shutdown."""
        return await self.channel.call(PLUGIN_SHUTDOWN, request, timeout=timeout)


class PluginServicer(abc.ABC, Generic[ContextT]):
    """Implements Plugin; `mlos.wire.ServerConnection` dispatches to it."""

    METHODS = (
        PLUGIN_DESCRIBE,
        PLUGIN_LOAD_MODEL,
        PLUGIN_UNLOAD_MODEL,
        PLUGIN_INFER,
        PLUGIN_HEALTH,
        PLUGIN_SHUTDOWN,
    )

    @abc.abstractmethod
    async def describe(
        self, request: smi_pb2.DescribeRequest, context: ContextT
    ) -> smi_pb2.PluginInfo:
        """Handle Plugin.Describe."""

    @abc.abstractmethod
    async def load_model(
        self, request: smi_pb2.LoadModelRequest, context: ContextT
    ) -> smi_pb2.LoadModelResponse:
        """Handle Plugin.LoadModel."""

    @abc.abstractmethod
    async def unload_model(
        self, request: smi_pb2.UnloadModelRequest, context: ContextT
    ) -> smi_pb2.UnloadModelResponse:
        """Handle Plugin.UnloadModel."""

    @abc.abstractmethod
    async def infer(
        self, request: smi_pb2.InferRequest, context: ContextT
    ) -> smi_pb2.InferResponse:
        """Handle Plugin.Infer."""

    @abc.abstractmethod
    async def health(
        self, request: smi_pb2.PluginHealthRequest, context: ContextT
    ) -> smi_pb2.PluginHealthResponse:
        """Handle Plugin.Health."""

    @abc.abstractmethod
    async def shutdown(
        self, request: smi_pb2.ShutdownRequest, context: ContextT
    ) -> smi_pb2.ShutdownResponse:
        """Handle Plugin.Shutdown."""


class MLOSClient:
    """Calls the MLOS service over an IPC channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def health(
        self, request: smi_pb2.HealthRequest, *, timeout: float | None = None
    ) -> smi_pb2.HealthResponse:
        """Call MLOS.Health."""
        return await self.channel.call(MLOS_HEALTH, request, timeout=timeout)

    async def register_plugin(
        self, request: smi_pb2.RegisterPluginRequest, *, timeout: float | None = None
    ) -> smi_pb2.PluginStatus:
        """Call MLOS.RegisterPlugin."""
        return await self.channel.call(MLOS_REGISTER_PLUGIN, request, timeout=timeout)

    async def list_plugins(
        self, request: smi_pb2.ListPluginsRequest, *, timeout: float | None = None
    ) -> smi_pb2.ListPluginsResponse:
        """Call MLOS.ListPlugins."""
        return await self.channel.call(MLOS_LIST_PLUGINS, request, timeout=timeout)

    async def get_plugin(
        self, request: smi_pb2.PluginRef, *, timeout: float | None = None
    ) -> smi_pb2.PluginStatus:
        """Call MLOS.GetPlugin."""
        return await self.channel.call(MLOS_GET_PLUGIN, request, timeout=timeout)

    async def load_plugin(
        self, request: smi_pb2.PluginRef, *, timeout: float | None = None
    ) -> smi_pb2.PluginStatus:
        """Call MLOS.LoadPlugin."""
        return await self.channel.call(MLOS_LOAD_PLUGIN, request, timeout=timeout)

    async def unload_plugin(
        self, request: smi_pb2.PluginRef, *, timeout: float | None = None
    ) -> smi_pb2.PluginStatus:
        """Call MLOS.UnloadPlugin."""
        return await self.channel.call(MLOS_UNLOAD_PLUGIN, request, timeout=timeout)

    async def remove_plugin(
        self, request: smi_pb2.PluginRef, *, timeout: float | None = None
    ) -> smi_pb2.RemovePluginResponse:
        """Call MLOS.RemovePlugin."""
        return await self.channel.call(MLOS_REMOVE_PLUGIN, request, timeout=timeout)

    async def register_model(
        self, request: smi_pb2.RegisterModelRequest, *, timeout: float | None = None
    ) -> smi_pb2.ModelStatus:
        """Call MLOS.RegisterModel."""
        return await self.channel.call(MLOS_REGISTER_MODEL, request, timeout=timeout)

    async def list_models(
        self, request: smi_pb2.ListModelsRequest, *, timeout: float | None = None
    ) -> smi_pb2.ListModelsResponse:
        """Call MLOS.ListModels."""
        return await self.channel.call(MLOS_LIST_MODELS, request, timeout=timeout)

    async def get_model(
        self, request: smi_pb2.ModelRef, *, timeout: float | None = None
    ) -> smi_pb2.Model:
        """Call MLOS.GetModel."""
        return await self.channel.call(MLOS_GET_MODEL, request, timeout=timeout)

    async def remove_model(
        self, request: smi_pb2.ModelRef, *, timeout: float | None = None
    ) -> smi_pb2.RemoveModelResponse:
        """Call MLOS.RemoveModel."""
        return await self.channel.call(MLOS_REMOVE_MODEL, request, timeout=timeout)

    async def infer(
        self, request: smi_pb2.InferRequest, *, timeout: float | None = None
    ) -> smi_pb2.InferResponse:
        """Call MLOS.Infer."""
        return await self.channel.call(MLOS_INFER, request, timeout=timeout)

    async def get_resources(
        self, request: smi_pb2.ResourcesRequest, *, timeout: float | None = None
    ) -> smi_pb2.ResourcesResponse:
        """Call MLOS.GetResources."""
        return await self.channel.call(MLOS_GET_RESOURCES, request, timeout=timeout)

    async def register_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegion, *, timeout: float | None = None
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Call MLOS.RegisterSystemSharedMemory."""
        return await self.channel.call(MLOS_REGISTER_SYSTEM_SHARED_MEMORY, request, timeout=timeout)

    async def system_shared_memory_status(
        self, request: smi_pb2.SharedMemoryRegionRef, *, timeout: float | None = None
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Call MLOS.SystemSharedMemoryStatus."""
        return await self.channel.call(MLOS_SYSTEM_SHARED_MEMORY_STATUS, request, timeout=timeout)

    async def unregister_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegionRef, *, timeout: float | None = None
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Call MLOS.UnregisterSystemSharedMemory."""
        return await self.channel.call(MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY, request, timeout=timeout)

    async def get_model_metadata(
        self, request: smi_pb2.ModelRef, *, timeout: float | None = None
    ) -> smi_pb2.ModelMetadata:
        """Call MLOS.GetModelMetadata."""
        return await self.channel.call(MLOS_GET_MODEL_METADATA, request, timeout=timeout)

    async def model_ready(
        self, request: smi_pb2.ModelRef, *, timeout: float | None = None
    ) -> smi_pb2.ModelReadyResponse:
        """Call MLOS.ModelReady."""
        return await self.channel.call(MLOS_MODEL_READY, request, timeout=timeout)

    async def get_server_metadata(
        self, request: smi_pb2.ServerMetadataRequest, *, timeout: float | None = None
    ) -> smi_pb2.ServerMetadata:
        """Call MLOS.GetServerMetadata."""
        return await self.channel.call(MLOS_GET_SERVER_METADATA, request, timeout=timeout)

    async def create_token(
        self, request: smi_pb2.CreateTokenRequest, *, timeout: float | None = None
    ) -> smi_pb2.CreateTokenResponse:
        """Call MLOS.CreateToken."""
        return await self.channel.call(MLOS_CREATE_TOKEN, request, timeout=timeout)

    async def list_tokens(
        self, request: smi_pb2.ListTokensRequest, *, timeout: float | None = None
    ) -> smi_pb2.ListTokensResponse:
        """Call MLOS.ListTokens."""
        return await self.channel.call(MLOS_LIST_TOKENS, request, timeout=timeout)

    async def revoke_token(
        self, request: smi_pb2.TokenRef, *, timeout: float | None = None
    ) -> smi_pb2.TokenInfo:
        """Call MLOS.RevokeToken."""
        return await self.channel.call(MLOS_REVOKE_TOKEN, request, timeout=timeout)

    async def authenticate(
        self, request: smi_pb2.AuthenticateRequest, *, timeout: float | None = None
    ) -> smi_pb2.AuthenticateResponse:
        """Call MLOS.Authenticate."""
        return await self.channel.call(MLOS_AUTHENTICATE, request, timeout=timeout)

    async def upgrade_plugin(
        self, request: smi_pb2.UpgradePluginRequest, *, timeout: float | None = None
    ) -> smi_pb2.PluginStatus:
        """Call MLOS.UpgradePlugin."""
        return await self.channel.call(MLOS_UPGRADE_PLUGIN, request, timeout=timeout)

    async def set_default_plugin(
        self, request: smi_pb2.PluginRef, *, timeout: float | None = None
    ) -> smi_pb2.PluginStatus:
        """Call MLOS.SetDefaultPlugin."""
        return await self.channel.call(MLOS_SET_DEFAULT_PLUGIN, request, timeout=timeout)


class MLOSServicer(abc.ABC, Generic[ContextT]):
    """Implements MLOS; `mlos.wire.ServerConnection` dispatches to it."""

    METHODS = (
        MLOS_HEALTH,
        MLOS_REGISTER_PLUGIN,
        MLOS_LIST_PLUGINS,
        MLOS_GET_PLUGIN,
        MLOS_LOAD_PLUGIN,
        MLOS_UNLOAD_PLUGIN,
        MLOS_REMOVE_PLUGIN,
        MLOS_REGISTER_MODEL,
        MLOS_LIST_MODELS,
        MLOS_GET_MODEL,
        MLOS_REMOVE_MODEL,
        MLOS_INFER,
        MLOS_GET_RESOURCES,
        MLOS_REGISTER_SYSTEM_SHARED_MEMORY,
        MLOS_SYSTEM_SHARED_MEMORY_STATUS,
        MLOS_UNREGISTER_SYSTEM_SHARED_MEMORY,
        MLOS_GET_MODEL_METADATA,
        MLOS_MODEL_READY,
        MLOS_GET_SERVER_METADATA,
        MLOS_CREATE_TOKEN,
        MLOS_LIST_TOKENS,
        MLOS_REVOKE_TOKEN,
        MLOS_AUTHENTICATE,
        MLOS_UPGRADE_PLUGIN,
        MLOS_SET_DEFAULT_PLUGIN,
    )

    @abc.abstractmethod
    async def health(
        self, request: smi_pb2.HealthRequest, context: ContextT
    ) -> smi_pb2.HealthResponse:
        """Handle MLOS.Health."""

    @abc.abstractmethod
    async def register_plugin(
        self, request: smi_pb2.RegisterPluginRequest, context: ContextT
    ) -> smi_pb2.PluginStatus:
        """Handle MLOS.RegisterPlugin."""

    @abc.abstractmethod
    async def list_plugins(
        self, request: smi_pb2.ListPluginsRequest, context: ContextT
    ) -> smi_pb2.ListPluginsResponse:
        """Handle MLOS.ListPlugins."""

    @abc.abstractmethod
    async def get_plugin(
        self, request: smi_pb2.PluginRef, context: ContextT
    ) -> smi_pb2.PluginStatus:
        """Handle MLOS.GetPlugin."""

    @abc.abstractmethod
    async def load_plugin(
        self, request: smi_pb2.PluginRef, context: ContextT
    ) -> smi_pb2.PluginStatus:
        """Handle MLOS.LoadPlugin."""

    @abc.abstractmethod
    async def unload_plugin(
        self, request: smi_pb2.PluginRef, context: ContextT
    ) -> smi_pb2.PluginStatus:
        """Handle MLOS.UnloadPlugin."""

    @abc.abstractmethod
    async def remove_plugin(
        self, request: smi_pb2.PluginRef, context: ContextT
    ) -> smi_pb2.RemovePluginResponse:
        """Handle MLOS.RemovePlugin."""

    @abc.abstractmethod
    async def register_model(
        self, request: smi_pb2.RegisterModelRequest, context: ContextT
    ) -> smi_pb2.ModelStatus:
        """Handle MLOS.RegisterModel."""

    @abc.abstractmethod
    async def list_models(
        self, request: smi_pb2.ListModelsRequest, context: ContextT
    ) -> smi_pb2.ListModelsResponse:
        """Handle MLOS.ListModels."""

    @abc.abstractmethod
    async def get_model(
        self, request: smi_pb2.ModelRef, context: ContextT
    ) -> smi_pb2.Model:
        """Handle MLOS.GetModel."""

    @abc.abstractmethod
    async def remove_model(
        self, request: smi_pb2.ModelRef, context: ContextT
    ) -> smi_pb2.RemoveModelResponse:
        """Handle MLOS.RemoveModel."""

    @abc.abstractmethod
    async def infer(
        self, request: smi_pb2.InferRequest, context: ContextT
    ) -> smi_pb2.InferResponse:
        """Handle MLOS.Infer."""

    @abc.abstractmethod
    async def get_resources(
        self, request: smi_pb2.ResourcesRequest, context: ContextT
    ) -> smi_pb2.ResourcesResponse:
        """Handle MLOS.GetResources."""

    @abc.abstractmethod
    async def register_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegion, context: ContextT
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Handle MLOS.RegisterSystemSharedMemory."""

    @abc.abstractmethod
    async def system_shared_memory_status(
        self, request: smi_pb2.SharedMemoryRegionRef, context: ContextT
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Handle MLOS.SystemSharedMemoryStatus."""

    @abc.abstractmethod
    async def unregister_system_shared_memory(
        self, request: smi_pb2.SharedMemoryRegionRef, context: ContextT
    ) -> smi_pb2.SharedMemoryStatusResponse:
        """Handle MLOS.UnregisterSystemSharedMemory."""

    @abc.abstractmethod
    async def get_model_metadata(
        self, request: smi_pb2.ModelRef, context: ContextT
    ) -> smi_pb2.ModelMetadata:
        """Handle MLOS.GetModelMetadata."""

    @abc.abstractmethod
    async def model_ready(
        self, request: smi_pb2.ModelRef, context: ContextT
    ) -> smi_pb2.ModelReadyResponse:
        """Handle MLOS.ModelReady."""

    @abc.abstractmethod
    async def get_server_metadata(
        self, request: smi_pb2.ServerMetadataRequest, context: ContextT
    ) -> smi_pb2.ServerMetadata:
        """Handle MLOS.GetServerMetadata."""

    @abc.abstractmethod
    async def create_token(
        self, request: smi_pb2.CreateTokenRequest, context: ContextT
    ) -> smi_pb2.CreateTokenResponse:
        """Handle MLOS.CreateToken."""

    @abc.abstractmethod
    async def list_tokens(
        self, request: smi_pb2.ListTokensRequest, context: ContextT
    ) -> smi_pb2.ListTokensResponse:
        """Handle MLOS.ListTokens."""

    @abc.abstractmethod
    async def revoke_token(
        self, request: smi_pb2.TokenRef, context: ContextT
    ) -> smi_pb2.TokenInfo:
        """Handle MLOS.RevokeToken."""

    @abc.abstractmethod
    async def authenticate(
        self, request: smi_pb2.AuthenticateRequest, context: ContextT
    ) -> smi_pb2.AuthenticateResponse:
        """Handle MLOS.Authenticate."""

    @abc.abstractmethod
    async def upgrade_plugin(
        self, request: smi_pb2.UpgradePluginRequest, context: ContextT
    ) -> smi_pb2.PluginStatus:
        """Handle MLOS.UpgradePlugin."""

    @abc.abstractmethod
    async def set_default_plugin(
        self, request: smi_pb2.PluginRef, context: ContextT
    ) -> smi_pb2.PluginStatus:
        """Handle MLOS.SetDefaultPlugin."""


class PluginChannelsClient:
    """Calls the PluginChannels service over an IPC channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def open_channel(
        self, request: smi_pb2.ChannelGrant, *, timeout: float | None = None
    ) -> smi_pb2.OpenChannelResponse:
        """Call PluginChannels.OpenChannel."""
        return await self.channel.call(PLUGIN_CHANNELS_OPEN_CHANNEL, request, timeout=timeout)

    async def close_channels(
        self, request: smi_pb2.CloseChannelsRequest, *, timeout: float | None = None
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Call PluginChannels.CloseChannels."""
        return await self.channel.call(PLUGIN_CHANNELS_CLOSE_CHANNELS, request, timeout=timeout)

    async def channel_statistics(
        self, request: smi_pb2.ChannelStatisticsRequest, *, timeout: float | None = None
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Call PluginChannels.ChannelStatistics."""
        return await self.channel.call(PLUGIN_CHANNELS_CHANNEL_STATISTICS, request, timeout=timeout)


class PluginChannelsServicer(abc.ABC, Generic[ContextT]):
    """Implements PluginChannels; `mlos.wire.ServerConnection` dispatches to it."""

    METHODS = (
        PLUGIN_CHANNELS_OPEN_CHANNEL,
        PLUGIN_CHANNELS_CLOSE_CHANNELS,
        PLUGIN_CHANNELS_CHANNEL_STATISTICS,
    )

    @abc.abstractmethod
    async def open_channel(
        self, request: smi_pb2.ChannelGrant, context: ContextT
    ) -> smi_pb2.OpenChannelResponse:
        """Handle PluginChannels.OpenChannel."""

    @abc.abstractmethod
    async def close_channels(
        self, request: smi_pb2.CloseChannelsRequest, context: ContextT
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Handle PluginChannels.CloseChannels."""

    @abc.abstractmethod
    async def channel_statistics(
        self, request: smi_pb2.ChannelStatisticsRequest, context: ContextT
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Handle PluginChannels.ChannelStatistics."""


class DirectChannelsClient:
    """Calls the DirectChannels service over an IPC channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def open(
        self, request: smi_pb2.DirectChannelRequest, *, timeout: float | None = None
    ) -> smi_pb2.DirectChannel:
        """Call DirectChannels.Open."""
        return await self.channel.call(DIRECT_CHANNELS_OPEN, request, timeout=timeout)


class DirectChannelsServicer(abc.ABC, Generic[ContextT]):
    """Implements DirectChannels; `mlos.wire.ServerConnection` dispatches to it."""

    METHODS = (
        DIRECT_CHANNELS_OPEN,
    )

    @abc.abstractmethod
    async def open(
        self, request: smi_pb2.DirectChannelRequest, context: ContextT
    ) -> smi_pb2.DirectChannel:
        """Handle DirectChannels.Open."""
