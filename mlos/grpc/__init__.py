"""The gRPC transport: the MLOS, Open Inference Protocol and health services (docs/grpc.md).

    from mlos.grpc import create_server
    server = create_server(engine, settings)    # binds settings.host:settings.grpc_port
    await server.start()

Names are imported on first use, so that a client that only needs :mod:`mlos.grpc.status`
does not import the servers and the generated Open Inference Protocol messages.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

# gRPC's fork handlers serve child processes that go on using gRPC. MLOS's children (plugin
# processes) exec a fresh interpreter, and with the handlers on every plugin start logs "Other
# threads are currently calling into gRPC, skipping fork() handlers". gRPC reads the variable
# when it is first imported, which is why it is set here, before any module of the package.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

if TYPE_CHECKING:
    from mlos.grpc.app import GRPCServer, GRPCSettings, create_server
    from mlos.grpc.status import GRPC_STATUS, code_for_grpc_status, grpc_status_for
    from mlos.grpc.types import Dataplane

__all__ = [
    "GRPC_STATUS",
    "Dataplane",
    "GRPCServer",
    "GRPCSettings",
    "code_for_grpc_status",
    "create_server",
    "grpc_status_for",
]

_MODULES = {
    "GRPCServer": "mlos.grpc.app",
    "GRPCSettings": "mlos.grpc.app",
    "create_server": "mlos.grpc.app",
    "GRPC_STATUS": "mlos.grpc.status",
    "code_for_grpc_status": "mlos.grpc.status",
    "grpc_status_for": "mlos.grpc.status",
    "Dataplane": "mlos.grpc.types",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'mlos.grpc' has no attribute {name!r}")
    return getattr(import_module(module), name)
