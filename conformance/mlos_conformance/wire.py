"""The kit's side of the SMI connection: the IPC framing, seen frame by frame.

The core's `mlos.ipc.Channel` turns every answer into a typed result or exception and forgives
what a conformance kit must notice: an error frame with no code, a reply that names another
method, a frame nobody asked for, a late answer to a call whose deadline passed. `Connection`
speaks the same framing (`mlos.wire.framing`) but keeps the raw frames, so every check can judge
exactly what the plugin put on the wire, and it can send payloads no typed client would
(undecodable bytes, unknown fields, unknown method ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import socket
from collections.abc import Iterator
from typing import cast

from google.protobuf.message import DecodeError

from mlos.wire.framing import Frame, FrameDecoder, FrameKind, ProtocolError, encode_header
from mlos.wire.method import Method, RequestT, ResponseT
from mlos_generated import smi_pb2

__all__ = [
    "BadReply",
    "Connection",
    "ConnectionDropped",
    "ErrorFrame",
    "Frame",
    "NoAnswer",
    "decode_error",
    "error_of",
]


class ErrorFrame(Exception):
    """The plugin answered a call with an error frame."""

    def __init__(self, error: smi_pb2.Error) -> None:
        self.code = int(error.code)
        self.message = error.message
        super().__init__(f"{self.code_name}: {self.message or '(no message)'}")

    @property
    def code_name(self) -> str:
        """The code's name without its prefix ("NOT_FOUND"), or "code N" when unknown."""
        try:
            return smi_pb2.ErrorCode.Name(self.code).removeprefix("ERROR_CODE_")  # type: ignore[arg-type]  # the enum wrapper takes the int its values are
        except ValueError:
            return f"code {self.code}"


class ConnectionDropped(Exception):
    """The connection closed while a call was in flight (or before it was sent)."""


class NoAnswer(Exception):
    """No answer came before the call's deadline (the client-side DEADLINE_EXCEEDED)."""


class BadReply(Exception):
    """The plugin answered with something the framing or the SMI does not allow."""


class Connection(asyncio.Protocol):
    """One SMI connection to a plugin process; several calls may be in flight at once."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._ids = itertools.count(1)
        self._expired: set[int] = set()
        #: Answers that arrived after their call's deadline, by request id.
        self.late: dict[int, Frame] = {}
        #: Frames that answer no call the kit made.
        self.strays: list[Frame] = []
        #: Why the kit closed the connection, when the plugin broke the framing.
        self.protocol_error: str | None = None
        self.lost = asyncio.get_running_loop().create_future()

    @classmethod
    async def from_socket(cls, sock: socket.socket) -> Connection:
        """Wrap our end of the socket pair the plugin inherited."""
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_unix_connection(cls, sock=sock)
        return connection

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self.lost.done()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Hand each complete frame to the call it answers."""
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            self.protocol_error = str(exc)
            if self._transport is not None:
                self._transport.abort()
            return
        for frame in frames:
            future = self._pending.pop(frame.request_id, None)
            if future is not None and not future.done():
                future.set_result(frame)
            elif frame.request_id in self._expired:
                self._expired.discard(frame.request_id)
                self.late[frame.request_id] = frame
            else:
                self.strays.append(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail every call in flight."""
        self._transport = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionDropped("the plugin closed the connection"))
        if not self.lost.done():
            self.lost.set_result(None)

    # -- calling ------------------------------------------------------------------------------

    async def exchange(self, method_id: int, payload: bytes, timeout: float) -> Frame:
        """Send one request frame with a deadline of `timeout` seconds; return the answer frame.

        Raise `NoAnswer` when the deadline passes first (a later answer lands in `late`) and
        `ConnectionDropped` when the connection closes.
        """
        transport = self._transport
        if transport is None or self.closed:
            raise ConnectionDropped("the connection to the plugin is closed")
        loop = asyncio.get_running_loop()
        request_id = next(self._ids) & 0xFFFFFFFF
        future: asyncio.Future[Frame] = loop.create_future()
        self._pending[request_id] = future
        timer = loop.call_later(timeout, self._expire, request_id)
        timeout_ms = max(1, math.ceil(timeout * 1000))
        try:
            transport.write(
                encode_header(FrameKind.REQUEST, method_id, request_id, len(payload), timeout_ms)
                + payload
            )
            frame = await future
        finally:
            # Also when the caller is cancelled: nobody waits for this answer any more.
            timer.cancel()
            self._pending.pop(request_id, None)
        if frame.method != method_id:
            raise BadReply(
                f"the answer to method 0x{method_id:04X} names method 0x{frame.method:04X}"
            )
        if frame.kind == FrameKind.REQUEST:
            raise BadReply("the plugin answered with a request frame")
        return frame

    def _expire(self, request_id: int) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            self._expired.add(request_id)
            future.set_exception(NoAnswer("no answer before the deadline"))

    async def call(
        self, method: Method[RequestT, ResponseT], request: RequestT | bytes, timeout: float
    ) -> ResponseT:
        """A typed call: the decoded response, or `ErrorFrame` for an error frame.

        `request` may be raw bytes, sent as the payload unchanged.
        """
        payload = request if isinstance(request, bytes) else request.SerializeToString()
        frame = await self.exchange(method.id, payload, timeout)
        if frame.kind == FrameKind.ERROR:
            raise ErrorFrame(decode_error(frame))
        try:
            return method.response_type.FromString(frame.data)
        except DecodeError:
            raise BadReply(f"the {method.name} response does not decode") from None

    @contextlib.contextmanager
    def holding_answers(self) -> Iterator[None]:
        """Read nothing while inside: answers wait in the socket, so deadlines pass first."""
        transport = self._transport
        if transport is not None:
            transport.pause_reading()
        try:
            yield
        finally:
            if self._transport is not None and not self._transport.is_reading():
                self._transport.resume_reading()

    def close(self) -> None:
        """Close our end; the plugin sees end of file."""
        if self._transport is not None:
            self._transport.close()


def decode_error(frame: Frame) -> smi_pb2.Error:
    """The `Error` an error frame carries; `BadReply` when it does not decode."""
    try:
        return smi_pb2.Error.FromString(frame.data)
    except DecodeError:
        raise BadReply("an error frame's payload is not an mlos.smi.v1.Error") from None


def error_of(frame: Frame) -> ErrorFrame | None:
    """The error an answer frame carries, or None for a response frame."""
    if frame.kind == FrameKind.ERROR:
        return ErrorFrame(decode_error(frame))
    return None
