"""The standard `grpc.health.v1.Health` service, answered from the engine's readiness.

Every service this server offers — the empty name for the server as a whole,
`mlos.smi.v1.MLOS`, `inference.GRPCInferenceService` and `grpc.health.v1.Health` — is SERVING
while the engine is ready (every plugin that should run is ready) and NOT_SERVING otherwise, and
NOT_SERVING for good once the server begins to stop, so that a load balancer drains it (open
`Watch` streams then end, so that they do not hold up the shutdown). `Check`
of any other name fails with NOT_FOUND; `Watch` of one reports SERVICE_UNKNOWN, as the health
protocol says.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import cast

from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.core.dataplane import Dataplane
from mlos.errors import NotFound
from mlos.grpc.handlers import Context

__all__ = ["HEALTH_SERVICE", "WATCH_INTERVAL", "Health"]

HEALTH_SERVICE = cast(ServiceDescriptor, health_pb2.DESCRIPTOR.services_by_name["Health"])
"""The descriptor of `grpc.health.v1.Health`."""

WATCH_INTERVAL = 0.25
"""Seconds between two looks at the engine's readiness while a Watch call is open."""

_SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
_NOT_SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)
_UNKNOWN = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)


class Health(health_pb2_grpc.HealthServicer):
    """Health of the services named at creation (and of the server, the empty name)."""

    def __init__(self, engine: Dataplane, services: Iterable[str]) -> None:
        self._engine = engine
        self._services = frozenset(("", HEALTH_SERVICE.full_name, *services))
        self._stopping = asyncio.Event()

    def shutdown(self) -> None:
        """Report NOT_SERVING from now on (the server is draining), and end every Watch."""
        self._stopping.set()

    def _response(self, service: str) -> health_pb2.HealthCheckResponse:
        if service not in self._services:
            return _UNKNOWN
        if self._stopping.is_set() or not self._engine.is_ready():
            return _NOT_SERVING
        return _SERVING

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Context
    ) -> health_pb2.HealthCheckResponse:
        """The status of one service now."""
        response = self._response(request.service)
        if response is _UNKNOWN:
            raise NotFound(f"no service {request.service!r} on this server")
        return response

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Context
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        """The status now, then each change, until the client leaves or the server stops.

        A stopping server sends NOT_SERVING and ends the stream, so that open watches do not
        hold up its shutdown.
        """
        last: int | None = None
        while True:
            response = self._response(request.service)
            if response.status != last:
                last = response.status
                yield response
                continue  # look again: the status may have changed while the client read
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), WATCH_INTERVAL)
