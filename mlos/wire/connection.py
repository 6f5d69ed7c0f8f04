"""Server side of an IPC connection: decode a request, call the servicer, send the answer."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any, cast

from google.protobuf.message import DecodeError, Message

from mlos import errors
from mlos.wire import framing
from mlos.wire.framing import DEFAULT_MAX_FRAME, FLAG_CLOSING, Frame, FrameKind, frame_parts
from mlos.wire.method import CallContext, ConnectionHooks, Method
from mlos.wire.stream import FrameStream

__all__ = ["ServerConnection", "method_table", "peer_uid"]

log = logging.getLogger(__name__)

_UCRED = struct.Struct("3i")
_REQUEST = FrameKind.REQUEST
_RESPONSE = FrameKind.RESPONSE
_ERROR = FrameKind.ERROR

Handler = Callable[[Message, CallContext], Coroutine[Any, Any, Message]]


def peer_uid(transport: asyncio.BaseTransport) -> int | None:
    """Uid of the process on the other end of a Unix socket (SO_PEERCRED), if known."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)


def method_table(servicer: Any) -> dict[int, Method[Message, Message]]:
    """The methods a servicer implements, by id (from the generated `METHODS` of its bases)."""
    table: dict[int, Method[Message, Message]] = {}
    for cls in type(servicer).__mro__:
        methods: Iterable[Method[Message, Message]] = cls.__dict__.get("METHODS", ())
        for method in methods:
            table.setdefault(method.id, method)
    return table


def _failure(method: Method[Message, Message], exc: Exception) -> errors.MLOSError:
    """What a caller is told of a handler's exception: an MLOSError as it is; anything else is
    logged with its traceback and answered as an internal error."""
    if isinstance(exc, errors.MLOSError):
        return exc
    log.error("%s failed", method.full_name, exc_info=exc)
    return errors.InternalError(f"{method.name} failed inside the server")


class _Resume:
    """Awaits a coroutine that has already run up to its first suspension.

    A handler runs synchronously until it first waits; most (health, a fast inference in a
    plugin) never do, and answer without a task. One that does is finished by a task that
    resumes it from the point it stopped: this object hands the task what the coroutine waits
    for, and passes every value or exception the task sends back into the coroutine.
    """

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Message], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, Message]:
        coro, waiting = self._coro, self._waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # cancellation, mostly: the coroutine decides
                try:
                    waiting = coro.throw(exc)
                except StopIteration as done:
                    return cast(Message, done.value)
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as done:
                    return cast(Message, done.value)


class ServerConnection(FrameStream):
    """Serves one IPC connection with a generated servicer (for example a PluginServicer).

    Requests run concurrently: a handler that has to wait continues in its own task, so a slow
    call never blocks a fast one, and a handler that completes without waiting is answered at
    once, with no task at all. A request that cannot be decoded, names an unknown method, or
    fails gets an error frame; bytes that break the framing close the connection. Neither stops
    the server.
    """

    def __init__(self, servicer: Any, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self.servicer = servicer
        self.methods = method_table(servicer)
        self._handlers: dict[int, tuple[Method[Message, Message], Handler]] = {
            method_id: (method, getattr(servicer, method.handler))
            for method_id, method in self.methods.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self.peer_uid: int | None = None
        self.hooks = ConnectionHooks()
        self._loop = asyncio.get_event_loop()
        self.lost: asyncio.Future[None] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Record the peer."""
        super().connection_made(transport)
        self.peer_uid = peer_uid(transport)

    def frames_received(self, frames: list[Frame]) -> None:
        """Answer, or start answering, every complete request."""
        for frame in frames:
            if frame.kind != _REQUEST:
                self._send_error(frame, errors.InvalidArgument("only request frames may be sent"))
            else:
                self._dispatch(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel the calls still running for this peer and run its clean-ups (`hooks`)."""
        self._transport = None
        for task in self._tasks:
            task.cancel()
        self.hooks.close()
        if not self.lost.done():
            self.lost.set_result(None)

    def framing_broken(self, exc: framing.ProtocolError) -> None:
        """Close the connection; a request over the frame limit is told why first."""
        log.warning("closing IPC connection: %s", exc)
        transport = self._transport
        if isinstance(exc, framing.FrameTooLarge) and exc.kind == _REQUEST:
            # Say why before closing; the payload that follows is never read.
            payload = errors.ResourceExhausted(str(exc)).to_proto().SerializeToString()
            parts = frame_parts(_ERROR, exc.method, exc.request_id, payload, flags=FLAG_CLOSING)
            self._write(parts)
            if transport is not None:
                transport.close()
        elif transport is not None:
            transport.abort()

    # -- serving ------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests that are being handled in tasks."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every request in flight has been answered."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def close(self) -> None:
        """Close the connection (requests still in flight are cancelled)."""
        if self._transport is not None:
            self._transport.close()

    def _dispatch(self, frame: Frame) -> None:
        found = self._handlers.get(frame.method)
        if found is None:
            self._send_error(frame, errors.Unimplemented(f"unknown method 0x{frame.method:04X}"))
            return
        method, handler = found
        try:
            request = method.request_type.FromString(frame.data)
        except DecodeError:
            error = errors.InvalidArgument(f"{method.name}: request does not decode")
            self._send_error(frame, error)
            return
        timeout_ms = frame.timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
        context = CallContext(
            method, frame.request_id, deadline, self.peer_uid, connection=self.hooks
        )
        # Each call runs in a context of its own, its first steps and the task that finishes
        # it alike: what a handler puts in a context variable (the request being traced and
        # logged) stays with that call, and a variable it sets can be reset where it set it.
        own = contextvars.copy_context()
        try:
            coro = handler(request, context)
            waiting = own.run(coro.send, None)
        except StopIteration as done:
            self._respond(frame, done.value, context.pass_fds)
            return
        except Exception as exc:
            self._send_error(frame, own.run(_failure, method, exc), context.pass_fds)
            return
        task = self._loop.create_task(
            self._finish(frame, method, _Resume(coro, waiting), context), context=own
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(
        self,
        frame: Frame,
        method: Method[Message, Message],
        call: Awaitable[Message],
        context: CallContext,
    ) -> None:
        try:
            response = await call
        except BaseException as exc:
            if not isinstance(exc, Exception):
                _close_fds(context.pass_fds)
                raise
            self._send_error(frame, _failure(method, exc), context.pass_fds)
            return
        self._respond(frame, response, context.pass_fds)

    def _respond(self, frame: Frame, response: Message, fds: tuple[int, ...] = ()) -> None:
        if self._transport is not None:
            payload = response.SerializeToString()
            parts = frame_parts(_RESPONSE, frame.method, frame.request_id, payload)
            if fds:
                self._write_with_fds(frame, b"".join(parts), fds)
            else:
                self._write(parts)
        elif fds:
            _close_fds(fds)

    def _write_with_fds(self, frame: Frame, data: bytes, fds: tuple[int, ...]) -> None:
        """Send an answer with `fds` attached (SCM_RIGHTS), then close our copies.

        The descriptors ride on the answer's first byte, so the answer must not queue behind
        other bytes: when the transport still holds some, the caller is told to retry.
        """
        transport = self._transport
        try:
            raw = transport.get_extra_info("socket") if transport is not None else None
            if transport is None or raw is None or transport.get_write_buffer_size():
                raise BlockingIOError
            with socket.socket(fileno=os.dup(raw.fileno())) as duplicate:
                sent = socket.send_fds(duplicate, [data], list(fds))
            if sent < len(data):
                transport.write(data[sent:])
        except OSError:
            self._send_error(
                frame,
                errors.Unavailable("the answer could not be sent with its socket; call again"),
            )
        finally:
            _close_fds(fds)

    def _send_error(self, frame: Frame, error: errors.MLOSError, fds: tuple[int, ...] = ()) -> None:
        _close_fds(fds)
        payload = error.to_proto().SerializeToString()
        self._write(frame_parts(_ERROR, frame.method, frame.request_id, payload))


def _close_fds(fds: tuple[int, ...]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
