# DO NOT EDIT — generated from spec/openapi.yaml by tools/gen_openapi.py; run `make generate`.
"""Every operation of the REST API; mlos/rest has a handler for each, and no other."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPERATIONS", "OPERATION_IDS", "Operation"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: its id, HTTP method, path, first tag and MLOS operation name."""

    operation_id: str
    method: str
    path: str
    tag: str
    mlos_operation: str


OPERATIONS: tuple[Operation, ...] = (
    Operation("all_model_statistics", "GET", "/v2/models/stats", "statistics", "model_statistics"),
    Operation("create_token", "POST", "/v1/tokens", "tokens", "create_token"),
    Operation("cuda_shared_memory_region_status", "GET", "/v2/cudasharedmemory/region/{region}/status", "shared-memory", "cuda_shm_status"),
    Operation("cuda_shared_memory_register", "POST", "/v2/cudasharedmemory/region/{region}/register", "shared-memory", "register_cuda_shm"),
    Operation("cuda_shared_memory_status", "GET", "/v2/cudasharedmemory/status", "shared-memory", "cuda_shm_status"),
    Operation("cuda_shared_memory_unregister", "POST", "/v2/cudasharedmemory/region/{region}/unregister", "shared-memory", "unregister_cuda_shm"),
    Operation("cuda_shared_memory_unregister_all", "POST", "/v2/cudasharedmemory/unregister", "shared-memory", "unregister_cuda_shm"),
    Operation("get_cluster", "GET", "/v1/cluster", "cluster", "get_cluster"),
    Operation("get_health", "GET", "/v1/health", "health", "health"),
    Operation("get_model", "GET", "/v1/models/{name}", "models", "get_model"),
    Operation("get_model_version", "GET", "/v1/models/{name}/versions/{version}", "models", "get_model"),
    Operation("get_plugin", "GET", "/v1/plugins/{name}", "plugins", "get_plugin"),
    Operation("get_plugin_version", "GET", "/v1/plugins/{name}/versions/{version}", "plugins", "get_plugin"),
    Operation("get_resources", "GET", "/v1/resources", "resources", "get_resources"),
    Operation("list_models", "GET", "/v1/models", "models", "list_models"),
    Operation("list_plugins", "GET", "/v1/plugins", "plugins", "list_plugins"),
    Operation("list_tokens", "GET", "/v1/tokens", "tokens", "list_tokens"),
    Operation("load_plugin", "POST", "/v1/plugins/{name}/load", "plugins", "load_plugin"),
    Operation("load_plugin_version", "POST", "/v1/plugins/{name}/versions/{version}/load", "plugins", "load_plugin"),
    Operation("log_settings", "GET", "/v2/logging", "logging", "log_settings"),
    Operation("metrics", "GET", "/metrics", "metrics", "metrics"),
    Operation("model_config", "GET", "/v2/models/{name}/config", "model-configuration", "model_config"),
    Operation("model_infer", "POST", "/v2/models/{name}/infer", "inference", "infer"),
    Operation("model_metadata", "GET", "/v2/models/{name}", "inference", "model_metadata"),
    Operation("model_ready", "GET", "/v2/models/{name}/ready", "inference", "model_ready"),
    Operation("model_statistics", "GET", "/v2/models/{name}/stats", "statistics", "model_statistics"),
    Operation("model_trace_setting", "GET", "/v2/models/{name}/trace/setting", "trace", "trace_setting"),
    Operation("model_version_config", "GET", "/v2/models/{name}/versions/{version}/config", "model-configuration", "model_config"),
    Operation("model_version_infer", "POST", "/v2/models/{name}/versions/{version}/infer", "inference", "infer"),
    Operation("model_version_metadata", "GET", "/v2/models/{name}/versions/{version}", "inference", "model_metadata"),
    Operation("model_version_ready", "GET", "/v2/models/{name}/versions/{version}/ready", "inference", "model_ready"),
    Operation("model_version_statistics", "GET", "/v2/models/{name}/versions/{version}/stats", "statistics", "model_statistics"),
    Operation("register_model", "POST", "/v1/models", "models", "register_model"),
    Operation("register_plugin", "POST", "/v1/plugins", "plugins", "register_plugin"),
    Operation("remove_model", "DELETE", "/v1/models/{name}", "models", "remove_model"),
    Operation("remove_model_version", "DELETE", "/v1/models/{name}/versions/{version}", "models", "remove_model"),
    Operation("remove_plugin", "DELETE", "/v1/plugins/{name}", "plugins", "remove_plugin"),
    Operation("remove_plugin_version", "DELETE", "/v1/plugins/{name}/versions/{version}", "plugins", "remove_plugin"),
    Operation("repository_index", "POST", "/v2/repository/index", "repository", "repository_index"),
    Operation("repository_model_load", "POST", "/v2/repository/models/{name}/load", "repository", "load_model"),
    Operation("repository_model_unload", "POST", "/v2/repository/models/{name}/unload", "repository", "unload_model"),
    Operation("revoke_token", "DELETE", "/v1/tokens/{id}", "tokens", "revoke_token"),
    Operation("server_live", "GET", "/v2/health/live", "inference", "server_live"),
    Operation("server_metadata", "GET", "/v2", "inference", "server_metadata"),
    Operation("server_ready", "GET", "/v2/health/ready", "inference", "server_ready"),
    Operation("set_default_plugin", "POST", "/v1/plugins/{name}/versions/{version}/default", "plugins", "set_default_plugin"),
    Operation("system_shared_memory_region_status", "GET", "/v2/systemsharedmemory/region/{region}/status", "shared-memory", "system_shm_status"),
    Operation("system_shared_memory_register", "POST", "/v2/systemsharedmemory/region/{region}/register", "shared-memory", "register_system_shm"),
    Operation("system_shared_memory_status", "GET", "/v2/systemsharedmemory/status", "shared-memory", "system_shm_status"),
    Operation("system_shared_memory_unregister", "POST", "/v2/systemsharedmemory/region/{region}/unregister", "shared-memory", "unregister_system_shm"),
    Operation("system_shared_memory_unregister_all", "POST", "/v2/systemsharedmemory/unregister", "shared-memory", "unregister_system_shm"),
    Operation("trace_setting", "GET", "/v2/trace/setting", "trace", "trace_setting"),
    Operation("unload_plugin", "POST", "/v1/plugins/{name}/unload", "plugins", "unload_plugin"),
    Operation("unload_plugin_version", "POST", "/v1/plugins/{name}/versions/{version}/unload", "plugins", "unload_plugin"),
    Operation("update_log_settings", "POST", "/v2/logging", "logging", "log_settings"),
    Operation("update_model_trace_setting", "POST", "/v2/models/{name}/trace/setting", "trace", "trace_setting"),
    Operation("update_trace_setting", "POST", "/v2/trace/setting", "trace", "trace_setting"),
    Operation("upgrade_plugin", "POST", "/v1/plugins/{name}/upgrade", "plugins", "upgrade_plugin"),
)

OPERATION_IDS: frozenset[str] = frozenset(op.operation_id for op in OPERATIONS)
