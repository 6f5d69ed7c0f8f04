"""Method handlers for grpcio's asyncio server, built from a service's descriptor.

grpcio parses a request before the servicer sees it, and a message that does not parse ends the
call with UNKNOWN. Here every method receives the raw bytes instead and parses them itself, so
that a malformed message is answered with INVALID_ARGUMENT naming the message type. Around each
servicer method:

* an :class:`~mlos.errors.MLOSError` becomes its gRPC status (:mod:`mlos.grpc.status`);
* any other exception is logged and answered with INTERNAL and a fixed message;
* an abort the servicer made itself passes through untouched.

    handler = generic_handler(servicer, smi_pb2.DESCRIPTOR.services_by_name["MLOS"])
    server.add_generic_rpc_handlers((handler,))

The servicer has one method per RPC, named as in the service. A unary method takes the request
and the context and returns the response; a method with a streamed response is an async
generator; a method with streamed requests takes an async iterator of parsed requests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc
import grpc.aio
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from mlos.errors import InternalError, InvalidArgument, MLOSError
from mlos.grpc.status import abort
from mlos.loop import keep_polling

__all__ = ["Context", "generic_handler", "method_handlers"]

logger = logging.getLogger("mlos.grpc")

Context = grpc.aio.ServicerContext[Any, Any]
"""The servicer context of grpcio's asyncio server, as every servicer method receives it."""

_Behavior = Callable[[Any, Context], Any]


class _Method:
    """What every call of one method needs: how to parse its request, and how to fail."""

    __slots__ = ("invalid", "parse", "path")

    def __init__(self, service: ServiceDescriptor, method: MethodDescriptor) -> None:
        self.parse: Callable[[bytes], Message] = message_factory.GetMessageClass(
            method.input_type
        ).FromString
        self.path = f"/{service.full_name}/{method.name}"
        self.invalid = f"request is not a valid {method.input_type.full_name} message"

    async def request(self, raw: bytes, context: Context) -> Any:
        """The parsed request; INVALID_ARGUMENT when the bytes are not one."""
        try:
            return self.parse(raw)
        except DecodeError:
            await abort(context, InvalidArgument(self.invalid))

    async def requests(self, raw: AsyncIterator[bytes], context: Context) -> AsyncIterator[Any]:
        """The parsed requests of a stream."""
        async for message in raw:
            yield await self.request(message, context)

    async def fail(self, context: Context, exc: Exception) -> NoReturn:
        """End the call for an exception the servicer raised (an abort passes through)."""
        if isinstance(exc, grpc.aio.AbortError):
            raise exc
        if isinstance(exc, MLOSError):
            await abort(context, exc)
        logger.error("unexpected error in %s", self.path, exc_info=exc)
        await abort(context, InternalError("internal error"))


def _unary_unary(method: _Method, behavior: _Behavior) -> _Behavior:
    async def handle(raw: bytes, context: Context) -> Message:
        request = await method.request(raw, context)
        try:
            response: Message = await behavior(request, context)
        except Exception as exc:
            await method.fail(context, exc)
        keep_polling()
        return response

    return handle


def _stream_unary(method: _Method, behavior: _Behavior) -> _Behavior:
    async def handle(raw: AsyncIterator[bytes], context: Context) -> Message:
        try:
            response: Message = await behavior(method.requests(raw, context), context)
        except Exception as exc:
            await method.fail(context, exc)
        return response

    return handle


def _streamed_response(method: _Method, behavior: _Behavior, streamed_request: bool) -> _Behavior:
    async def handle(raw: Any, context: Context) -> AsyncIterator[Message]:
        if streamed_request:
            request = method.requests(raw, context)
        else:
            request = await method.request(raw, context)
        try:
            async for response in behavior(request, context):
                yield response
        except Exception as exc:
            await method.fail(context, exc)

    return handle


def method_handlers(
    servicer: object, service: ServiceDescriptor
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """One handler per method of `service`, calling the servicer's method of the same name."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for descriptor in service.methods:
        method = _Method(service, descriptor)
        behavior = getattr(servicer, descriptor.name)
        serialize = message_factory.GetMessageClass(descriptor.output_type).SerializeToString
        if descriptor.server_streaming:
            handle = _streamed_response(method, behavior, descriptor.client_streaming)
            make = (
                grpc.stream_stream_rpc_method_handler
                if descriptor.client_streaming
                else grpc.unary_stream_rpc_method_handler
            )
        elif descriptor.client_streaming:
            handle, make = _stream_unary(method, behavior), grpc.stream_unary_rpc_method_handler
        else:
            handle, make = _unary_unary(method, behavior), grpc.unary_unary_rpc_method_handler
        handlers[descriptor.name] = make(handle, response_serializer=serialize)
    return handlers


def generic_handler(servicer: object, service: ServiceDescriptor) -> grpc.GenericRpcHandler:
    """The generic handler that serves every method of `service` with `servicer`."""
    return grpc.method_handlers_generic_handler(
        service.full_name, method_handlers(servicer, service)
    )
