"""The gRPC server: the MLOS, Open Inference Protocol and health services over the core engine.

    server = create_server(engine, settings)   # binds host:grpc_port (0 picks a free port)
    await server.start()
    print(f"MLOS gRPC listening on {server.address}")
    ...
    await server.stop(grace=30)

It runs grpcio's asyncio server on the caller's event loop. Messages up to
:data:`DEFAULT_MAX_MESSAGE_BYTES` are accepted and sent (`grpc_max_message_bytes` in the
settings changes it); a larger one fails with RESOURCE_EXHAUSTED. The port is bound without
SO_REUSEPORT, so a port that another server holds fails at once instead of being shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import grpc
import grpc.aio

from mlos.core.dataplane import Dataplane
from mlos.errors import Unavailable
from mlos.grpc import inference, management
from mlos.grpc.handlers import generic_handler
from mlos.grpc.health import HEALTH_SERVICE, Health
from mlos_generated import inference_pb2, smi_pb2

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "INFERENCE_SERVICE",
    "MLOS_SERVICE",
    "GRPCServer",
    "GRPCSettings",
    "create_server",
]

DEFAULT_MAX_MESSAGE_BYTES = 256 * 2**20
"""Largest request or response message, in bytes, unless the settings say otherwise."""

MLOS_SERVICE = smi_pb2.DESCRIPTOR.services_by_name["MLOS"]
"""The descriptor of `mlos.smi.v1.MLOS`."""

INFERENCE_SERVICE = inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
"""The descriptor of `inference.GRPCInferenceService`."""


class GRPCSettings(Protocol):
    """What the gRPC server reads from the server settings (`grpc_max_message_bytes` optional)."""

    @property
    def host(self) -> str:
        """The address to bind."""

    @property
    def grpc_port(self) -> int:
        """The port to bind; 0 picks a free one."""


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GRPCServer:
    """grpcio's asyncio server with the three services, bound to one address."""

    def __init__(
        self,
        engine: Dataplane,
        host: str = "127.0.0.1",
        port: int = 8081,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.health = Health(engine, (MLOS_SERVICE.full_name, INFERENCE_SERVICE.full_name))
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.aio.server(options=options)
        self._server.add_generic_rpc_handlers(
            (
                generic_handler(management.servicer(engine), MLOS_SERVICE),
                generic_handler(inference.servicer(engine), INFERENCE_SERVICE),
                generic_handler(self.health, HEALTH_SERVICE),
            )
        )
        try:
            if credentials is None:
                bound = self._server.add_insecure_port(_target(host, port))
            else:
                bound = self._server.add_secure_port(_target(host, port), credentials)
        except RuntimeError:
            bound = 0
        if not bound:
            raise Unavailable(
                f"cannot listen on {_target(host, port)} for gRPC: "
                "the address is in use or not available"
            )
        self.host = host
        self.port = bound

    @property
    def address(self) -> str:
        """`host:port` the server listens on (`[host]:port` for IPv6)."""
        return _target(self.host, self.port)

    async def start(self) -> None:
        """Start serving; returns once the port accepts calls."""
        await self._server.start()

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, refuse new calls, and give calls in flight `grace` seconds."""
        self.health.shutdown()
        await self._server.stop(grace)

    async def wait(self) -> None:
        """Block until the server stops."""
        await self._server.wait_for_termination()


def server_credentials(settings: GRPCSettings) -> grpc.ServerCredentials | None:
    """TLS credentials from the settings' `tls_cert` and `tls_key` (and `tls_client_ca`, which
    makes client certificates required); None without a certificate."""
    cert: Path | None = getattr(settings, "tls_cert", None)
    key: Path | None = getattr(settings, "tls_key", None)
    if cert is None or key is None:
        return None
    client_ca: Path | None = getattr(settings, "tls_client_ca", None)
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca is not None else None,
        require_client_auth=client_ca is not None,
    )


def create_server(engine: Dataplane, settings: GRPCSettings) -> GRPCServer:
    """The gRPC server over `engine`, bound to the settings' host and gRPC port (with TLS
    when the settings name a certificate)."""
    return GRPCServer(
        engine,
        settings.host,
        settings.grpc_port,
        int(getattr(settings, "grpc_max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)),
        server_credentials(settings),
    )
