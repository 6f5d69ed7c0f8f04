"""gRPC methods as calls through the core's pipeline: the mechanical half of every gRPC service.

A :class:`Route` says which operation a gRPC method is, which core handler answers it and where
its request names a model; a :class:`PipelineServicer` turns a table of routes into the servicer
that :func:`mlos.grpc.handlers.generic_handler` serves, building each call's
:class:`~mlos.core.pipeline.Call` from the gRPC context (peer, `authorization` metadata,
deadline).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from mlos.core.auth import bearer_token
from mlos.core.operations import Operation
from mlos.core.pipeline import Call, Caller, Handler, Pipeline, Transport
from mlos.grpc.handlers import Context

__all__ = ["TOKEN_METADATA_KEY", "PipelineServicer", "Route", "call_for"]

TOKEN_METADATA_KEY = "authorization"
"""Invocation metadata that carries the caller's bearer token (`Bearer <token>`)."""
TRACE_METADATA_KEYS = ("traceparent", "tracestate")
"""Invocation metadata that carries the caller's W3C trace context."""

ModelOf = Callable[[Any], tuple[str, str]]
"""Where a request names its model and version."""


@dataclass(frozen=True, slots=True)
class Route:
    """One gRPC method: its operation, its core handler, and where its request names a model."""

    operation: Operation
    handler: Handler[Any, Any]
    model_of: ModelOf | None = None


def call_for(operation: Operation, context: Context, model: str = "", version: str = "") -> Call:
    """The pipeline's description of a gRPC call."""
    token = None
    trace_context: dict[str, str] | None = None
    for key, value in context.invocation_metadata() or ():
        if key == TOKEN_METADATA_KEY:
            token = bearer_token(value if isinstance(value, str) else value.decode("latin-1"))
        elif key in TRACE_METADATA_KEYS:
            if trace_context is None:
                trace_context = {}
            trace_context[key] = value if isinstance(value, str) else value.decode("latin-1")
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    caller = Caller(Transport.GRPC, peer=context.peer() or "", token=token)
    return Call(
        operation,
        caller,
        model=model,
        version=version,
        deadline=deadline,
        trace_context=trace_context,
    )


def _behavior(route: Route, pipeline: Pipeline) -> Callable[[Any, Context], Awaitable[Message]]:
    operation, handler, model_of = route.operation, route.handler, route.model_of

    async def handle(request: Any, context: Context) -> Message:
        model, version = model_of(request) if model_of is not None else ("", "")
        response: Message = await pipeline.run(
            call_for(operation, context, model, version), handler, request
        )
        return response

    return handle


class PipelineServicer:
    """A servicer with one method per route, named as the gRPC method."""

    def __init__(self, pipeline: Pipeline, routes: Mapping[str, Route]) -> None:
        for name, route in routes.items():
            self.add(name, _behavior(route, pipeline))

    def add(self, name: str, behavior: Callable[..., Any]) -> None:
        """Serve the gRPC method `name` with `behavior` (a stream's handles its own calls)."""
        setattr(self, name, behavior)
