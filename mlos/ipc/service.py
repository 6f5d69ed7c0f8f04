"""The MLOS service on the IPC socket: a mechanical adapter over the core's one implementation.

For each method of the generated table (`smi_ipc.MLOSServicer.METHODS`) it describes the call
— its operation, the caller (the peer's uid from SO_PEERCRED, the token the frame carries), the
model, the deadline and the connection's clean-ups — and runs the method of
:class:`mlos.core.service.MLOSService` through the engine's call pipeline. Errors are the
core's: `mlos.wire.ServerConnection` answers them with error frames.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from google.protobuf.message import Message

from mlos.core.dataplane import Dataplane
from mlos.core.pipeline import Call, Caller, Handler, Pipeline, Transport
from mlos.core.service import MLOS_OPERATIONS, MODEL_FIELDS, MLOSService
from mlos.wire.method import CallContext, Method
from mlos_generated import smi_ipc

__all__ = ["TOKEN_METADATA_KEY", "IPCService"]

TOKEN_METADATA_KEY = "authorization"
"""Call metadata that carries the caller's bearer token."""

_Behavior = Callable[[Message, CallContext], Awaitable[Message]]


def _behavior(
    method: Method[Message, Message], handler: Handler[Any, Any], pipeline: Pipeline
) -> _Behavior:
    operation = MLOS_OPERATIONS[method.handler]
    fields = MODEL_FIELDS.get(method.request_type.DESCRIPTOR.full_name)

    async def handle(request: Message, context: CallContext) -> Message:
        uid = context.peer_uid
        caller = Caller(
            Transport.IPC,
            peer="" if uid is None else f"uid:{uid}",
            token=context.metadata.get(TOKEN_METADATA_KEY),
            uid=uid,
        )
        call = Call(operation, caller, deadline=context.deadline, connection=context.connection)
        metadata = context.metadata
        if "traceparent" in metadata:
            call.trace_context = {
                key: metadata[key] for key in ("traceparent", "tracestate") if key in metadata
            }
        if fields is not None:
            call.model = getattr(request, fields[0])
            call.version = getattr(request, fields[1])
        response: Message = await pipeline.run(call, handler, request)
        return response

    return handle


class IPCService:
    """The MLOS service's methods as `mlos.wire.ServerConnection` dispatches them."""

    METHODS = smi_ipc.MLOSServicer.METHODS

    def __init__(self, engine: Dataplane) -> None:
        service = MLOSService(engine)
        for method in self.METHODS:
            handler = getattr(service, method.handler)
            behavior = _behavior(cast(Method[Message, Message], method), handler, engine.pipeline)
            setattr(self, method.handler, behavior)
