"""The gRPC transport: the MLOS, Open Inference Protocol and health services (docs/grpc.md).

    from mlos.grpc.app import create_server
    server = create_server(engine, settings)    # binds settings.host:settings.grpc_port
    await server.start()
"""

from __future__ import annotations

import os

# gRPC's fork handlers serve child processes that go on using gRPC. MLOS's children (plugin
# processes) exec a fresh interpreter, and with the handlers on every plugin start logs "Other
# threads are currently calling into gRPC, skipping fork() handlers". gRPC reads the variable
# when it is first imported, which is why it is set here, before any module of the package.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
