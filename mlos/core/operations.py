"""The operations of MLOS, whatever the transport: one name each, and who may call it.

REST operationIds (`x-mlos-operation` in spec/openapi.yaml), the methods of the gRPC and IPC
services and Triton's gRPC methods all map to one of these, so that a rule about an operation
(the access it needs, its rate limit, its metrics) is written once. A REST path with and without
`/versions/{version}` is the same operation; so are `MLOS.Infer`, `ModelInfer` and
`POST /v2/models/{name}/infer`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["OPERATIONS", "Access", "Operation", "operation"]


class Access(enum.IntEnum):
    """What an operation does, in increasing order of trust; roles are granted up to one."""

    OPEN = 0
    """Anyone, without credentials: liveness and readiness, for load balancers."""
    READ = 1
    """Reads state: health, listings, metadata, statistics, resources, metrics."""
    INFER = 2
    """Runs inference, with the shared-memory registrations it needs."""
    MANAGE = 3
    """Changes what is served: plugins, models, repository load and unload."""
    ADMIN = 4
    """Administers the server itself: tokens, trace and log settings."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: its name and the access it needs."""

    name: str
    access: Access

    @property
    def changes_state(self) -> bool:
        """Whether the operation changes what the server serves (audited when it does)."""
        return self.access >= Access.MANAGE


def _table(access: Access, *names: str) -> dict[str, Operation]:
    return {name: Operation(name, access) for name in names}


OPERATIONS: dict[str, Operation] = {
    **_table(Access.OPEN, "server_live", "server_ready", "authenticate"),
    **_table(
        Access.READ,
        "health",
        "server_metadata",
        "get_resources",
        "get_cluster",
        "list_plugins",
        "get_plugin",
        "list_models",
        "get_model",
        "model_metadata",
        "model_ready",
        "model_config",
        "model_statistics",
        "repository_index",
        "system_shm_status",
        "cuda_shm_status",
        "metrics",
    ),
    **_table(
        Access.INFER,
        "infer",
        "register_system_shm",
        "unregister_system_shm",
        "register_cuda_shm",
        "unregister_cuda_shm",
    ),
    **_table(
        Access.MANAGE,
        "register_plugin",
        "load_plugin",
        "unload_plugin",
        "remove_plugin",
        "upgrade_plugin",
        "set_default_plugin",
        "register_model",
        "remove_model",
        "load_model",
        "unload_model",
    ),
    **_table(
        Access.ADMIN, "create_token", "list_tokens", "revoke_token", "trace_setting",
        "log_settings",
    ),
}
"""Every operation by name."""


def operation(name: str) -> Operation:
    """The operation called `name` (KeyError for a name that is not one: a bug, not input)."""
    return OPERATIONS[name]
