"""Server side of an IPC connection: decode a request, call the servicer, send the answer."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Iterable
from typing import Any, cast

from google.protobuf.message import DecodeError, Message

from mlos.errors import InternalError, InvalidArgument, MLOSError, Unimplemented
from mlos.ipc.framing import (
    DEFAULT_MAX_FRAME,
    Frame,
    FrameDecoder,
    FrameKind,
    ProtocolError,
    encode_header,
)
from mlos.ipc.method import CallContext, Method

__all__ = ["ServerConnection", "method_table", "peer_uid"]

log = logging.getLogger(__name__)

_UCRED = struct.Struct("3i")


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


class ServerConnection(asyncio.Protocol):
    """Serves one IPC connection with a generated servicer (for example a PluginServicer).

    Requests run concurrently, each in its own task, so a slow call never blocks a fast one.
    A request that cannot be decoded, names an unknown method, or fails gets an error frame;
    bytes that break the framing close the connection. Neither stops the server.
    """

    def __init__(self, servicer: Any, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.servicer = servicer
        self.methods = method_table(servicer)
        self._decoder = FrameDecoder(max_frame)
        self._transport: asyncio.Transport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.peer_uid: int | None = None
        self.lost: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Record the peer."""
        self._transport = cast(asyncio.Transport, transport)
        self.peer_uid = peer_uid(transport)

    def data_received(self, data: bytes) -> None:
        """Start a task for every complete request."""
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            log.warning("closing IPC connection: %s", exc)
            if self._transport is not None:
                self._transport.abort()
            return
        for frame in frames:
            if frame.kind != FrameKind.REQUEST:
                self._send_error(frame, InvalidArgument("only request frames may be sent"))
                continue
            task = asyncio.ensure_future(self._dispatch(frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel the calls still running for this peer."""
        self._transport = None
        for task in self._tasks:
            task.cancel()
        if not self.lost.done():
            self.lost.set_result(None)

    async def _dispatch(self, frame: Frame) -> None:
        method = self.methods.get(frame.method)
        if method is None:
            self._send_error(frame, Unimplemented(f"unknown method 0x{frame.method:04X}"))
            return
        try:
            request = method.request_type.FromString(frame.payload)
        except DecodeError:
            self._send_error(frame, InvalidArgument(f"{method.name}: request does not decode"))
            return
        deadline = time.monotonic() + frame.timeout_ms / 1000 if frame.timeout_ms else None
        context = CallContext(method, frame.request_id, deadline, self.peer_uid)
        try:
            response: Message = await getattr(self.servicer, method.handler)(request, context)
        except MLOSError as exc:
            self._send_error(frame, exc)
            return
        except Exception:
            log.exception("%s failed", method.full_name)
            self._send_error(frame, InternalError(f"{method.name} failed inside the server"))
            return
        transport = self._transport
        if transport is not None:
            payload = response.SerializeToString()
            header = encode_header(FrameKind.RESPONSE, frame.method, frame.request_id, len(payload))
            transport.write(header + payload)

    def _send_error(self, frame: Frame, error: MLOSError) -> None:
        if self._transport is None:
            return
        payload = error.to_proto().SerializeToString()
        header = encode_header(FrameKind.ERROR, frame.method, frame.request_id, len(payload))
        self._transport.write(header + payload)
