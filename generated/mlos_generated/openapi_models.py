# DO NOT EDIT — generated from spec/openapi.yaml by tools/gen_openapi.py; run `make generate`.
"""Typed shapes of the REST API: one per schema under components/schemas."""

from typing import Any, Literal, Required, TypeAlias, TypedDict

__all__ = [
    "ClusterNode",
    "ClusterStatus",
    "ConfigDataType",
    "CreateTokenRequest",
    "CreateTokenResponse",
    "CudaSharedMemoryRegion",
    "CudaSharedMemoryRegisterRequest",
    "CudaSharedMemoryStatusResponse",
    "Datatype",
    "DynamicBatching",
    "ErrorResponse",
    "GpuResources",
    "HealthResponse",
    "HostResources",
    "InferBatchStatistics",
    "InferStatistics",
    "InferenceRequest",
    "InferenceResponse",
    "ListModelsResponse",
    "ListPluginsResponse",
    "ListTokensResponse",
    "LogSettingsRequest",
    "LogSettingsResponse",
    "MemoryUsage",
    "MetadataTensor",
    "Model",
    "ModelConfig",
    "ModelFile",
    "ModelInput",
    "ModelInstanceGroup",
    "ModelMetadata",
    "ModelMetadataResponse",
    "ModelOutput",
    "ModelResourceUse",
    "ModelResources",
    "ModelState",
    "ModelStatistics",
    "ModelStatisticsResponse",
    "ModelStatus",
    "Name",
    "Parameters",
    "Path",
    "PluginCapabilities",
    "PluginInfo",
    "PluginLimits",
    "PluginSource",
    "PluginState",
    "PluginStatus",
    "Problem",
    "ProcessResources",
    "RegisterModelRequest",
    "RegisterPluginRequest",
    "RemoveModelResponse",
    "RepositoryIndexRequest",
    "RepositoryIndexResponse",
    "RepositoryLoadRequest",
    "RepositoryModel",
    "RepositoryUnloadRequest",
    "RequestInput",
    "RequestOutput",
    "ResourceBudget",
    "ResourcesResponse",
    "ResponseOutput",
    "Role",
    "ServerMetadataResponse",
    "SmiVersion",
    "StatisticDuration",
    "SystemSharedMemoryRegion",
    "SystemSharedMemoryRegisterRequest",
    "SystemSharedMemoryStatusResponse",
    "TensorData",
    "TensorMetadata",
    "TokenInfo",
    "TraceSettingRequest",
    "TraceSettingResponse",
    "UpgradePluginRequest",
    "Version",
]


class ClusterNode(TypedDict):
    """The `ClusterNode` schema."""

    address: str
    converged: bool
    draining: bool
    grpc_address: str
    health: Literal["ready", "not_ready", "draining", "lost"]
    heartbeat_age_seconds: float
    heartbeat_at: float
    id: str
    models: list[dict[str, Any]]
    plugins: list[dict[str, Any]]
    ready: bool
    started_at: float
    version: str


class ClusterStatus(TypedDict):
    """The `ClusterStatus` schema."""

    database: Literal["sqlite", "postgresql"]
    listening: bool
    lost_after_seconds: float
    node: str
    nodes: list["ClusterNode"]


ConfigDataType: TypeAlias = Literal[
    "TYPE_INVALID",
    "TYPE_BOOL",
    "TYPE_UINT8",
    "TYPE_UINT16",
    "TYPE_UINT32",
    "TYPE_UINT64",
    "TYPE_INT8",
    "TYPE_INT16",
    "TYPE_INT32",
    "TYPE_INT64",
    "TYPE_FP16",
    "TYPE_FP32",
    "TYPE_FP64",
    "TYPE_STRING",
    "TYPE_BF16",
]


class CreateTokenRequest(TypedDict, total=False):
    """The `CreateTokenRequest` schema."""

    models: list["Name"]
    name: Required[str]
    rate_limit: str
    role: Required["Role"]
    ttl_seconds: int


class CreateTokenResponse(TypedDict):
    """The `CreateTokenResponse` schema."""

    info: "TokenInfo"
    token: str


class CudaSharedMemoryRegion(TypedDict):
    """The `CudaSharedMemoryRegion` schema."""

    byte_size: int
    device_id: int
    name: str


class CudaSharedMemoryRegisterRequest(TypedDict, total=False):
    """The `CudaSharedMemoryRegisterRequest` schema."""

    byte_size: int
    device_id: int
    raw_handle: dict[str, Any]


CudaSharedMemoryStatusResponse: TypeAlias = list["CudaSharedMemoryRegion"]


Datatype: TypeAlias = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "BYTES",
]


class DynamicBatching(TypedDict, total=False):
    """Gather concurrent requests into batches along the batch dimension (Triton's `dynamic_batching`). Only for a model with a batch dimension (`max_batch_size` > 0); the largest batch is the model's `max_batch_size` (the plugin option of that name)."""

    default_priority_level: int
    max_queue_delay_us: int
    max_queue_size: int
    preferred_batch_size: list[int]
    priority_levels: int


class ErrorResponse(TypedDict):
    """An Open Inference Protocol error."""

    error: str


class GpuResources(TypedDict):
    """The `GpuResources` schema."""

    index: int
    memory_total_bytes: int
    memory_used_bytes: int
    name: str
    plugins: list[str]
    utilization_percent: int


class HealthResponse(TypedDict):
    """The `HealthResponse` schema."""

    live: bool
    plugins: list["PluginStatus"]
    ready: bool


class HostResources(TypedDict):
    """The `HostResources` schema."""

    cpu_count: int
    cpu_percent: float
    gpus: list["GpuResources"]
    memory_available_bytes: int
    memory_total_bytes: int


class InferBatchStatistics(TypedDict):
    """The `InferBatchStatistics` schema."""

    batch_size: int
    compute_infer: "StatisticDuration"
    compute_input: "StatisticDuration"
    compute_output: "StatisticDuration"


class InferStatistics(TypedDict, total=False):
    """The `InferStatistics` schema."""

    cache_hit: "StatisticDuration"
    cache_miss: "StatisticDuration"
    compute_infer: Required["StatisticDuration"]
    compute_input: Required["StatisticDuration"]
    compute_output: Required["StatisticDuration"]
    fail: Required["StatisticDuration"]
    queue: Required["StatisticDuration"]
    success: Required["StatisticDuration"]


class InferenceRequest(TypedDict, total=False):
    """An inference request. The parameter `binary_data_output` (boolean) asks for every output
    as binary data unless the output says otherwise. With no `outputs`, every output of the
    model is returned.
    """

    id: str
    inputs: Required[list["RequestInput"]]
    outputs: list["RequestOutput"]
    parameters: "Parameters"


class InferenceResponse(TypedDict, total=False):
    """The `InferenceResponse` schema."""

    id: str
    model_name: Required[str]
    model_version: str
    outputs: Required[list["ResponseOutput"]]
    parameters: "Parameters"


class ListModelsResponse(TypedDict):
    """The `ListModelsResponse` schema."""

    models: list["ModelStatus"]


class ListPluginsResponse(TypedDict):
    """The `ListPluginsResponse` schema."""

    plugins: list["PluginStatus"]


class ListTokensResponse(TypedDict):
    """The `ListTokensResponse` schema."""

    tokens: list["TokenInfo"]


class LogSettingsRequest(TypedDict, total=False):
    """Log settings to change; a null value leaves its setting as it is, and the server
    refuses any other name. log_file cannot be changed (only null is accepted).
    """

    log_error: bool | Literal[None]
    log_file: Literal[None]
    log_format: Literal["default", "ISO8601", "json", None]
    log_info: bool | Literal[None]
    log_verbose_level: int | Literal[None]
    log_warning: bool | Literal[None]


class LogSettingsResponse(TypedDict):
    """The `LogSettingsResponse` schema."""

    log_error: bool
    log_file: str
    log_format: Literal["default", "ISO8601", "json"]
    log_info: bool
    log_verbose_level: int
    log_warning: bool


class MemoryUsage(TypedDict):
    """The `MemoryUsage` schema."""

    byte_size: int
    id: int
    type: str


class MetadataTensor(TypedDict):
    """The `MetadataTensor` schema."""

    datatype: "Datatype"
    name: str
    shape: list[int]


class Model(TypedDict):
    """The `Model` schema."""

    name: str
    versions: list["ModelStatus"]


class ModelConfig(TypedDict, total=False):
    """Triton model configuration, as the JSON mapping of inference.ModelConfig
    (spec/inference.proto) with proto field names.
    """

    backend: str
    default_model_filename: str
    dynamic_batching: dict[str, Any]
    input: Required[list["ModelInput"]]
    instance_group: list["ModelInstanceGroup"]
    max_batch_size: Required[int]
    name: Required[str]
    output: Required[list["ModelOutput"]]
    parameters: dict[str, Any]
    platform: Required[str]
    runtime: str
    version_policy: dict[str, Any]


class ModelFile(TypedDict):
    """One file of a model version, with the size and digest it must have."""

    path: str
    sha256: str
    size: int


class ModelInput(TypedDict, total=False):
    """The `ModelInput` schema."""

    allow_ragged_batch: bool
    data_type: Required["ConfigDataType"]
    dims: Required[list[int]]
    format: Literal["FORMAT_NONE", "FORMAT_NHWC", "FORMAT_NCHW"]
    is_shape_tensor: bool
    name: Required[str]
    optional: bool


class ModelInstanceGroup(TypedDict, total=False):
    """The `ModelInstanceGroup` schema."""

    count: int
    gpus: list[int]
    kind: Literal["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]
    name: str


class ModelMetadata(TypedDict):
    """What a plugin reports about a loaded model."""

    inputs: list["TensorMetadata"]
    max_batch_size: int
    name: str
    outputs: list["TensorMetadata"]
    platform: str
    plugin: str
    properties: dict[str, str]
    version: str


class ModelMetadataResponse(TypedDict, total=False):
    """The `ModelMetadataResponse` schema."""

    inputs: Required[list["MetadataTensor"]]
    name: Required[str]
    outputs: Required[list["MetadataTensor"]]
    platform: Required[str]
    versions: list[str]


class ModelOutput(TypedDict, total=False):
    """The `ModelOutput` schema."""

    data_type: Required["ConfigDataType"]
    dims: Required[list[int]]
    is_shape_tensor: bool
    label_filename: str
    name: Required[str]


class ModelResourceUse(TypedDict):
    """One model version's grant, and what it was measured using."""

    basis: Literal["declared", "estimated", "measured"]
    cpus_granted: float
    gpus_granted: int
    memory_granted_bytes: int
    memory_used_bytes: int
    name: str
    plugin: str
    version: str


class ModelResources(TypedDict, total=False):
    """What the model version needs from the server's resource budget, reserved whatever it then uses. Memory left out (or 0) is estimated from the files' size and then measured."""

    cpus: float
    gpus: int
    memory_bytes: int


ModelState: TypeAlias = Literal[
    "unspecified",
    "loading",
    "ready",
    "unavailable",
    "failed",
    "unloaded",
]


class ModelStatistics(TypedDict, total=False):
    """The `ModelStatistics` schema."""

    batch_stats: Required[list["InferBatchStatistics"]]
    execution_count: Required[int]
    inference_count: Required[int]
    inference_stats: Required["InferStatistics"]
    last_inference: Required[int]
    memory_usage: list["MemoryUsage"]
    name: Required[str]
    response_stats: dict[str, Any]
    version: Required[str]


class ModelStatisticsResponse(TypedDict):
    """The `ModelStatisticsResponse` schema."""

    model_stats: list["ModelStatistics"]


class ModelStatus(TypedDict, total=False):
    """A registered model version."""

    config: Required[dict[str, str]]
    dynamic_batching: "DynamicBatching"
    instance_count: Required[int]
    message: Required[str]
    metadata: Required["ModelMetadata"]
    name: Required[str]
    path: Required[str]
    plugin: Required[str]
    state: Required["ModelState"]
    version: Required[str]


Name: TypeAlias = str


Parameters: TypeAlias = dict[str, str | float | bool]


Path: TypeAlias = str


class PluginCapabilities(TypedDict):
    """The `PluginCapabilities` schema."""

    datatypes: list[str]
    file_extensions: list[str]
    formats: list[str]
    gpu: bool
    max_batch_size: int
    max_concurrency: int
    shared_memory: bool


class PluginInfo(TypedDict):
    """What a plugin reports about itself."""

    capabilities: "PluginCapabilities"
    name: str
    smi_versions: list["SmiVersion"]
    version: str


class PluginLimits(TypedDict, total=False):
    """Resource limits of a plugin process (docs/operations.md). A field left out (or 0, or
    empty) takes the server's configured value, if any.
    """

    cpu_quota: float
    cpu_weight: int
    cpus: str
    memory_bytes: int
    open_files: int
    processes: int


class PluginSource(TypedDict, total=False):
    """Where a plugin comes from; only the key that is set appears."""

    entry_point: str
    executable: str
    module: str


PluginState: TypeAlias = Literal[
    "unspecified",
    "registered",
    "loading",
    "ready",
    "failed",
    "unloaded",
]


class PluginStatus(TypedDict):
    """A registered plugin."""

    default: bool
    info: "PluginInfo"
    label: str
    last_exit: str
    limits: "PluginLimits"
    message: str
    models: list[str]
    name: str
    pid: int
    python: str
    registered_version: str
    restarts: int
    sandbox: str
    source: "PluginSource"
    state: "PluginState"
    version: str


class Problem(TypedDict):
    """RFC 9457 problem details with the MLOS error code."""

    code: Literal[
        "invalid_argument",
        "not_found",
        "already_exists",
        "failed_precondition",
        "unavailable",
        "resource_exhausted",
        "incompatible_version",
        "deadline_exceeded",
        "unauthenticated",
        "permission_denied",
        "unimplemented",
        "internal",
        "insufficient_resources",
    ]
    detail: str
    status: int
    title: str
    type: str


class ProcessResources(TypedDict):
    """The `ProcessResources` schema."""

    baseline_bytes: int
    cpu_percent: float
    cpus_granted: str
    gpus_granted: list[int]
    memory_granted_bytes: int
    num_fds: int
    num_threads: int
    pid: int
    plugin: str
    rss_bytes: int


class RegisterModelRequest(TypedDict, total=False):
    """A model version to register and load. Unknown keys are refused (400)."""

    config: dict[str, str]
    dynamic_batching: "DynamicBatching"
    files: list["ModelFile"]
    files_root: str
    instance_count: int
    name: Required["Name"]
    path: Required[str]
    plugin: str
    resources: "ModelResources"
    version: str


class RegisterPluginRequest(TypedDict, total=False):
    """A plugin to register. With none of entry_point, module and executable, the installed
    entry point named `name` is used. `module` and `executable` are accepted only when the
    server's configuration allows them (`plugin_modules`, `plugin_executables`); otherwise
    the answer is 403. Unknown keys are refused (400).
    """

    default: bool
    entry_point: str
    executable: "Path"
    limits: "PluginLimits"
    module: str
    name: Required["Name"]
    python: Any
    version: str


class RemoveModelResponse(TypedDict):
    """The `RemoveModelResponse` schema."""

    removed: list["ModelStatus"]


class RepositoryIndexRequest(TypedDict, total=False):
    """The `RepositoryIndexRequest` schema."""

    ready: bool


RepositoryIndexResponse: TypeAlias = list["RepositoryModel"]


class RepositoryLoadRequest(TypedDict, total=False):
    """The `RepositoryLoadRequest` schema."""

    parameters: "Parameters"


class RepositoryModel(TypedDict, total=False):
    """The `RepositoryModel` schema."""

    name: Required[str]
    reason: Required[str]
    state: Required[str]
    version: str


class RepositoryUnloadRequest(TypedDict, total=False):
    """The `RepositoryUnloadRequest` schema."""

    parameters: "Parameters"


class RequestInput(TypedDict, total=False):
    """An input tensor. Its elements are in `data`, or, with the `binary_data_size` parameter,
    in the binary part of the body.
    """

    data: "TensorData"
    datatype: Required["Datatype"]
    name: Required[str]
    parameters: "Parameters"
    shape: Required[list[int]]


class RequestOutput(TypedDict, total=False):
    """An output to return. The parameter `binary_data` (boolean) asks for it as binary data."""

    name: Required[str]
    parameters: "Parameters"


class ResourceBudget(TypedDict):
    """The server's resource budget and how much of it is granted."""

    cpu_set: str
    cpus: float
    cpus_dedicated: str
    cpus_granted: float
    gpu_sharing: bool
    gpu_source: str
    gpus: list["GpuResources"]
    gpus_granted: int
    memory_bytes: int
    memory_free_bytes: int
    memory_granted_bytes: int


class ResourcesResponse(TypedDict):
    """The `ResourcesResponse` schema."""

    budget: "ResourceBudget"
    host: "HostResources"
    models: list["ModelResourceUse"]
    plugins: list["ProcessResources"]


class ResponseOutput(TypedDict, total=False):
    """An output tensor. Its elements are in `data`, or, when its parameters carry
    `binary_data_size`, in the binary part of the body.
    """

    data: "TensorData"
    datatype: Required["Datatype"]
    name: Required[str]
    parameters: "Parameters"
    shape: Required[list[int]]


Role: TypeAlias = Literal[
    "viewer",
    "inference",
    "operator",
    "admin",
]


class ServerMetadataResponse(TypedDict):
    """The `ServerMetadataResponse` schema."""

    extensions: list[str]
    name: str
    version: str


class SmiVersion(TypedDict):
    """The `SmiVersion` schema."""

    major: int
    minor: int


class StatisticDuration(TypedDict):
    """The `StatisticDuration` schema."""

    count: int
    ns: int


class SystemSharedMemoryRegion(TypedDict):
    """The `SystemSharedMemoryRegion` schema."""

    byte_size: int
    key: str
    name: str
    offset: int


class SystemSharedMemoryRegisterRequest(TypedDict, total=False):
    """The `SystemSharedMemoryRegisterRequest` schema."""

    byte_size: Required[int]
    key: Required[str]
    offset: int


SystemSharedMemoryStatusResponse: TypeAlias = list["SystemSharedMemoryRegion"]


TensorData: TypeAlias = list[Any]


class TensorMetadata(TypedDict):
    """The `TensorMetadata` schema."""

    datatype: "Datatype"
    name: str
    shape: list[int]


class TokenInfo(TypedDict):
    """The `TokenInfo` schema."""

    created_at: int
    expires_at: int
    id: str
    models: list[str]
    name: str
    rate_limit: str
    revoked_at: int
    role: "Role"


class TraceSettingRequest(TypedDict, total=False):
    """Trace settings to change; the server refuses any other name (trace_mode and trace_file
    cannot be changed). null, or an empty list, clears a setting. Numbers
    may be sent as strings, and each value as a list of one string, as gRPC sends them.
    """

    log_frequency: int | str | list[str] | Literal[None]
    trace_count: int | str | list[str] | Literal[None]
    trace_level: Literal["OFF", "TIMESTAMPS", "TENSORS"] | list[Literal["OFF"]] | list[Literal["TIMESTAMPS", "TENSORS"]] | Literal[None]
    trace_rate: int | str | list[str] | Literal[None]


class TraceSettingResponse(TypedDict, total=False):
    """The `TraceSettingResponse` schema."""

    log_frequency: str
    trace_count: Required[str]
    trace_level: Required[list[Literal["OFF", "TIMESTAMPS", "TENSORS"]]]
    trace_mode: Required[str]
    trace_rate: Required[str]


class UpgradePluginRequest(TypedDict, total=False):
    """The new version of a plugin. Without entry_point, module or executable the current
    source is started again (a package upgraded in place). Unknown keys are refused (400).
    """

    drain_timeout_seconds: float
    entry_point: str
    executable: "Path"
    module: str
    python: Any
    version: str


Version: TypeAlias = str
