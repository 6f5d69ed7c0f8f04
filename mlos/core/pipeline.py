"""The one seam every call passes on its way into the core, whatever the transport.

A transport decodes a request, describes the call — which :class:`~mlos.core.operations.
Operation`, who calls (:class:`Caller`: transport, peer, credentials), for which model, by when
— as a :class:`Call`, and runs its handler through :meth:`Pipeline.run`. The pipeline runs the
call through its interceptors in order (authentication and roles, rate limits, admission,
metrics and tracing, routing), each of which may refuse it, time it or pass it on, and then the
handler. A rule that applies to every call is one interceptor here, never code in a transport.

    call = Call(operation("infer"), Caller(Transport.IPC, peer="uid:1000"), model="mlp")
    response = await pipeline.run(call, service.infer, request)

With no interceptor the pipeline is one extra await.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mlos.core.operations import Operation
from mlos.wire.method import ConnectionHooks

__all__ = ["Call", "Caller", "Handler", "Interceptor", "Next", "Pipeline", "Transport"]

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


class Transport(enum.Enum):
    """Where a call came from."""

    REST = "rest"
    GRPC = "grpc"
    IPC = "ipc"
    INTERNAL = "internal"
    """The server itself (the demo setup, start-up restore): never refused."""


@dataclass(slots=True)
class Caller:
    """Who calls: the transport, the peer and the credentials it presented.

    An IPC connection keeps one caller for all its calls. `token` is the bearer token as
    presented (it is never logged nor echoed); `principal` and `role` are who the token (or the
    peer's uid) turned out to be, once an interceptor has established it.
    """

    transport: Transport
    peer: str = ""
    token: str | None = None
    uid: int | None = None
    principal: str | None = None
    role: int | None = None
    """The principal's `smi.v1.Role`, once established."""


@dataclass(slots=True)
class Call:
    """One call of an operation, as the interceptors see it."""

    operation: Operation
    caller: Caller
    model: str = ""
    version: str = ""
    deadline: float | None = None
    """`time.monotonic()` by which the caller stops waiting; None without a deadline."""
    connection: ConnectionHooks | None = None
    """Clean-ups to run when the caller's connection closes (IPC connections have them)."""
    trace_context: Mapping[str, str] | None = None
    """The W3C trace context the caller sent (`traceparent`, `tracestate`), if it sent one."""

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


Handler = Callable[[RequestT, Call], Awaitable[ResponseT]]
"""What a transport runs through the pipeline: a method of the core taking the request and the
call (the methods of :class:`mlos.core.service.MLOSService` have this shape)."""

Next = Callable[[Call, Any], Awaitable[Any]]
"""The rest of the pipeline, as an interceptor calls it: `await proceed(call, request)`."""


class Interceptor(Protocol):
    """One stage of the pipeline: refuse the call (raise an MLOSError), or pass it on."""

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Handle `call`; `await proceed(call, request)` runs the stages after this one."""
        ...


class Pipeline:
    """Interceptors in order, then the handler (see the module documentation)."""

    _MAX_CHAINS = 1024
    """Handlers whose chain of stages is kept built (transports pass a few dozen)."""

    def __init__(self) -> None:
        self._interceptors: list[tuple[int, Interceptor]] = []
        self._chains: dict[Handler[Any, Any], Next] = {}

    @property
    def interceptors(self) -> list[Interceptor]:
        """The interceptors, in the order a call meets them."""
        return [interceptor for _, interceptor in self._interceptors]

    def add(self, interceptor: Interceptor, order: int = 100) -> None:
        """Add a stage; stages run by ascending `order`, equal orders in the order added.

        The conventional orders: authentication and roles 10, rate limits 20, admission 30,
        metrics and tracing 40, routing 90.
        """
        self._interceptors.append((order, interceptor))
        self._interceptors.sort(key=lambda pair: pair[0])
        self._chains.clear()

    async def run(
        self, call: Call, handler: Handler[RequestT, ResponseT], request: RequestT
    ) -> ResponseT:
        """Run `handler(request, call)` behind every interceptor."""
        if not self._interceptors:
            return await handler(request, call)
        # The stages are built once per handler: building them costs more than running them.
        chain = self._chains.get(handler)
        if chain is None:
            if len(self._chains) >= self._MAX_CHAINS:
                self._chains.clear()
            chain = self._chains[handler] = self._stage(0, handler)
        return await chain(call, request)  # type: ignore[no-any-return]  # the stages pass the handler's response through untyped

    def _stage(self, index: int, handler: Handler[Any, Any]) -> Next:
        if index == len(self._interceptors):
            return lambda call, request: handler(request, call)
        interceptor = self._interceptors[index][1]
        rest = self._stage(index + 1, handler)
        return lambda call, request: interceptor(call, request, rest)
