# DO NOT EDIT — generated from spec/openapi.yaml by tools/gen_openapi.py; run `make generate`.
"""Every operation of the REST API; mlos/rest has a handler for each, and no other."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPERATIONS", "OPERATION_IDS", "Operation"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: its id, HTTP method, path template and first tag."""

    operation_id: str
    method: str
    path: str
    tag: str


OPERATIONS: tuple[Operation, ...] = (
    Operation("all_model_statistics", "GET", "/v2/models/stats", "statistics"),
    Operation("cuda_shared_memory_region_status", "GET", "/v2/cudasharedmemory/region/{region}/status", "shared-memory"),
    Operation("cuda_shared_memory_register", "POST", "/v2/cudasharedmemory/region/{region}/register", "shared-memory"),
    Operation("cuda_shared_memory_status", "GET", "/v2/cudasharedmemory/status", "shared-memory"),
    Operation("cuda_shared_memory_unregister", "POST", "/v2/cudasharedmemory/region/{region}/unregister", "shared-memory"),
    Operation("cuda_shared_memory_unregister_all", "POST", "/v2/cudasharedmemory/unregister", "shared-memory"),
    Operation("get_health", "GET", "/v1/health", "health"),
    Operation("get_model", "GET", "/v1/models/{name}", "models"),
    Operation("get_model_version", "GET", "/v1/models/{name}/versions/{version}", "models"),
    Operation("get_plugin", "GET", "/v1/plugins/{name}", "plugins"),
    Operation("get_resources", "GET", "/v1/resources", "resources"),
    Operation("list_models", "GET", "/v1/models", "models"),
    Operation("list_plugins", "GET", "/v1/plugins", "plugins"),
    Operation("load_plugin", "POST", "/v1/plugins/{name}/load", "plugins"),
    Operation("model_config", "GET", "/v2/models/{name}/config", "model-configuration"),
    Operation("model_infer", "POST", "/v2/models/{name}/infer", "inference"),
    Operation("model_metadata", "GET", "/v2/models/{name}", "inference"),
    Operation("model_ready", "GET", "/v2/models/{name}/ready", "inference"),
    Operation("model_statistics", "GET", "/v2/models/{name}/stats", "statistics"),
    Operation("model_version_config", "GET", "/v2/models/{name}/versions/{version}/config", "model-configuration"),
    Operation("model_version_infer", "POST", "/v2/models/{name}/versions/{version}/infer", "inference"),
    Operation("model_version_metadata", "GET", "/v2/models/{name}/versions/{version}", "inference"),
    Operation("model_version_ready", "GET", "/v2/models/{name}/versions/{version}/ready", "inference"),
    Operation("model_version_statistics", "GET", "/v2/models/{name}/versions/{version}/stats", "statistics"),
    Operation("register_model", "POST", "/v1/models", "models"),
    Operation("register_plugin", "POST", "/v1/plugins", "plugins"),
    Operation("remove_model", "DELETE", "/v1/models/{name}", "models"),
    Operation("remove_model_version", "DELETE", "/v1/models/{name}/versions/{version}", "models"),
    Operation("remove_plugin", "DELETE", "/v1/plugins/{name}", "plugins"),
    Operation("repository_index", "POST", "/v2/repository/index", "repository"),
    Operation("repository_model_load", "POST", "/v2/repository/models/{name}/load", "repository"),
    Operation("repository_model_unload", "POST", "/v2/repository/models/{name}/unload", "repository"),
    Operation("server_live", "GET", "/v2/health/live", "inference"),
    Operation("server_metadata", "GET", "/v2", "inference"),
    Operation("server_ready", "GET", "/v2/health/ready", "inference"),
    Operation("system_shared_memory_region_status", "GET", "/v2/systemsharedmemory/region/{region}/status", "shared-memory"),
    Operation("system_shared_memory_register", "POST", "/v2/systemsharedmemory/region/{region}/register", "shared-memory"),
    Operation("system_shared_memory_status", "GET", "/v2/systemsharedmemory/status", "shared-memory"),
    Operation("system_shared_memory_unregister", "POST", "/v2/systemsharedmemory/region/{region}/unregister", "shared-memory"),
    Operation("system_shared_memory_unregister_all", "POST", "/v2/systemsharedmemory/unregister", "shared-memory"),
    Operation("unload_plugin", "POST", "/v1/plugins/{name}/unload", "plugins"),
)

OPERATION_IDS: frozenset[str] = frozenset(op.operation_id for op in OPERATIONS)
