"""The MLOS client over the local IPC socket: :class:`IPCClient` and :class:`AsyncIPCClient`.

    from mlos.client import connect

    with connect("unix:///home/me/.mlos/mlos.sock") as client:
        outputs = client.infer("demo", {"input": x})

Both speak the MLOS service of `smi.proto` in the IPC framing (docs/ipc.md). :class:`IPCClient`
is a plain blocking socket with no event loop — the fastest way for one caller to reach the
server; calls from several threads take turns on its one connection. :class:`AsyncIPCClient`
multiplexes any number of concurrent calls on one connection by request id. Both connect on
the first call and again after the connection was lost.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import socket
import struct
import threading
import time
from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from google.protobuf.message import DecodeError, Message

from mlos.client.aio import AsyncClient
from mlos.client.async_direct import AsyncDirectRoutes
from mlos.client.base import DEFAULT_TIMEOUT, Array, Inference, Op, Unreachable, closed_by_peer
from mlos.client.credentials import TOKEN_ENV
from mlos.client.direct import Closed, DirectRoutes
from mlos.client.smi import SmiCall, SmiOperations
from mlos.client.staging import DEFAULT_THRESHOLD, InputStaging, Lease
from mlos.client.sync import Client
from mlos.errors import (
    DeadlineExceeded,
    InternalError,
    InvalidArgument,
    MLOSError,
    Unavailable,
)
from mlos.wire.channel import Channel
from mlos.wire.framing import (
    FLAG_CLOSING,
    HEADER,
    FrameKind,
    send_frame,
    widen_send_buffer,
)
from mlos.wire.method import Method
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["AsyncIPCClient", "IPCClient", "socket_path"]

T = TypeVar("T")
R = TypeVar("R")
_OPERATIONS = SmiOperations()
_BUFFER = 1 << 16
_TIMEVAL = struct.Struct("@ll")
_LOST = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN)


def ipc_token(token: str | None) -> str | None:
    """The token an IPC client presents: given, or `MLOS_TOKEN`; None leaves the server to map
    the caller's user (its own user is admin by default)."""
    return token or os.environ.get(TOKEN_ENV) or None


def socket_path(url: str | Path) -> Path:
    """The socket path of `unix:///abs/path`, `unix://relative/path` or a plain path."""
    text = str(url).strip()
    if text.startswith("unix://"):
        text = text[len("unix://") :]
    elif "://" in text:
        raise InvalidArgument(f"{url!r} is not a unix:// address")
    if not text:
        raise InvalidArgument(f"{url!r} names no socket path")
    return Path(text)


_Closed = Closed
"""The server closed the connection."""


class _IPCEndpoint:
    """What both IPC clients start from: the socket, the deadline, the token and the staging
    of large inputs in shared memory.

    Inputs of `shared_memory_from` bytes or more (default 64 KiB; 0: never) travel through
    shared memory the client registers with the server (:mod:`mlos.client.staging`).

    With `direct` (the default), inferences go over a direct channel to the plugin process
    that serves the model, which the server grants on the first inference on it, and through
    the server whenever a channel cannot answer (:mod:`mlos.client.direct`,
    :mod:`mlos.client.async_direct`).
    """

    def __init__(
        self,
        url: str | Path,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        shared_memory_from: int = DEFAULT_THRESHOLD,
        token: str | None = None,
    ) -> None:
        self._path = socket_path(url)
        self._url = f"unix://{self._path}"
        self._token = ipc_token(token)
        self._timeout = timeout
        self._staging = InputStaging(shared_memory_from)


class IPCClient(_IPCEndpoint, Client):
    """A blocking client of the MLOS IPC socket; see :class:`mlos.client.Client`.

    `spin` (seconds, default 0) polls for each answer without sleeping for up to that long
    before blocking. On a virtual machine, waking a process that sleeps can cost more than the
    call itself; spinning trades the client's CPU for latency. Use it from one thread.
    Shared memory and direct channels: see :class:`_IPCEndpoint`.
    """

    _ops = _OPERATIONS

    def __init__(
        self,
        url: str | Path,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        spin: float = 0.0,
        shared_memory_from: int = DEFAULT_THRESHOLD,
        token: str | None = None,
        direct: bool = True,
    ) -> None:
        super().__init__(url, timeout=timeout, shared_memory_from=shared_memory_from, token=token)
        self._timeout_ms = 0 if timeout is None else max(1, int(timeout * 1000))
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._spin = max(0.0, spin)
        self._buffer = bytearray(_BUFFER)
        self._view = memoryview(self._buffer)
        self._direct = DirectRoutes(self, self._timeout_ms) if direct else None

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self._path))
        except OSError as exc:
            sock.close()
            reason = (exc.strerror or type(exc).__name__).lower()
            raise Unreachable(f"no MLOS server is reachable at {self._url} ({reason})") from None
        self.configure(sock)
        if self._token is not None:
            self._authenticate(sock, self._token)
        self._sock = sock
        return sock

    def configure(self, sock: socket.socket) -> None:
        """A wide send buffer, and the client's timeout as kernel timeouts."""
        widen_send_buffer(sock)
        if self._timeout is not None:
            # Kernel timeouts keep the socket in blocking mode: no poll() before every read.
            seconds = int(self._timeout)
            value = _TIMEVAL.pack(seconds, int((self._timeout - seconds) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)

    def server_socket(self) -> socket.socket:
        """The connection to the server, opened (and authenticated) if needed; hold the lock."""
        sock = self._sock
        if sock is not None and closed_by_peer(sock):
            self._drop()
            sock = None
        return sock or self._connect()

    def drop_server(self) -> None:
        """Close the connection to the server; hold the lock."""
        self._drop()

    def receive(self, sock: socket.socket, request_id: int) -> tuple[int, int, bytes]:
        """The answer to `request_id` on `sock` (the server's or a channel's)."""
        return self._receive(sock, request_id)

    def _authenticate(self, sock: socket.socket, token: str) -> None:
        """Present the token on a new connection: its calls run as the token's principal."""
        payload = smi_pb2.AuthenticateRequest(token=token).SerializeToString()
        request_id = next(self._ids) & 0xFFFFFFFF
        method = smi_ipc.MLOS_AUTHENTICATE
        header = HEADER.pack(
            len(payload), FrameKind.REQUEST, 0, method.id, request_id, self._timeout_ms
        )
        try:
            sock.sendall(header + payload)
            kind, _, answer = self._receive(sock, request_id)
        except (OSError, _Closed) as exc:
            sock.close()
            raise self._failure(method, exc) from None
        if kind != FrameKind.RESPONSE:
            sock.close()
            raise MLOSError.from_proto(smi_pb2.Error.FromString(answer))

    def call(self, method: Method[Any, Any], request: Message) -> Any:
        """One call of the MLOS service: the response message, or the server's typed error."""
        payload = request.SerializeToString()
        with self._lock:
            sock = self._sock
            if sock is not None and closed_by_peer(sock):
                self._drop()  # the server restarted, or closed after refusing a frame
                sock = None
            sock = sock or self._connect()
            request_id = next(self._ids) & 0xFFFFFFFF
            header = HEADER.pack(
                len(payload), FrameKind.REQUEST, 0, method.id, request_id, self._timeout_ms
            )
            try:
                sent = False
                try:
                    send_frame(sock, header, payload)
                    sent = True
                except OSError as exc:
                    if exc.errno not in _LOST:
                        raise
                    # The server may have said why before it closed (a frame over its limit).
                kind, flags, answer = self._receive(sock, request_id)
            except (OSError, _Closed) as exc:
                self._drop()
                raise self._failure(method, exc) from None
            if not sent or flags & FLAG_CLOSING:
                self._drop()
        if kind == FrameKind.RESPONSE:
            try:
                return method.response_type.FromString(answer)
            except DecodeError:
                raise InternalError(f"the server sent an undecodable {method.name} reply") from None
        try:
            error = smi_pb2.Error.FromString(answer)
        except DecodeError:
            raise InternalError(f"the server sent an undecodable {method.name} error") from None
        raise MLOSError.from_proto(error)

    def _receive(self, sock: socket.socket, request_id: int) -> tuple[int, int, bytes]:
        """The answer to `request_id`: its kind, flags and payload."""
        view = self._view
        size = HEADER.size
        while True:
            received = 0
            if self._spin:
                received = self._poll(sock, view)
            while received < size:
                count = sock.recv_into(view[received:])
                if not count:
                    raise _Closed
                received += count
            length, kind, flags, _, answer_id, _ = HEADER.unpack_from(view)
            total = size + length
            payload: Any
            if total <= _BUFFER:
                while received < total:
                    count = sock.recv_into(view[received:])
                    if not count:
                        raise _Closed
                    received += count
                payload = bytes(view[size:total])
            else:
                payload = bytearray(length)
                target = memoryview(payload)
                done = received - size
                target[:done] = view[size:received]
                while done < length:
                    count = sock.recv_into(target[done:])
                    if not count:
                        raise _Closed
                    done += count
                received = total
            if received != total:
                raise _Closed  # more bytes than one answer: the stream is out of step
            if answer_id == request_id:
                return kind, flags, payload

    def _poll(self, sock: socket.socket, view: memoryview) -> int:
        """Read without sleeping for up to `spin` seconds; the bytes read (0: none yet)."""
        clock = time.perf_counter
        deadline = clock() + self._spin
        while True:
            try:
                count = sock.recv_into(view, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if clock() > deadline:
                    return 0
                continue
            if not count:
                raise _Closed
            return count

    def _failure(self, method: Method[Any, Any], exc: BaseException) -> MLOSError:
        if isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            return DeadlineExceeded(
                f"{self._url} did not answer {method.name} within {self._timeout:g} s"
            )
        return Unavailable(f"the connection to {self._url} was lost during {method.name}")

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
            self._staging.reset()  # the server released the regions with the connection

    def _run(self, op: Op[T]) -> T:
        call: SmiCall = op.request
        return op.parse(self.call(call.method, call.request))

    def _infer(self, call: Inference) -> dict[str, Array]:
        """Inputs of `shared_memory_from` bytes or more travel through shared memory."""
        size = self._staging.needed(call.inputs)
        if not size:
            op = _OPERATIONS.infer(call)
            direct = self._direct
            if direct is not None:
                with self._lock:
                    answer = direct.infer(cast(smi_pb2.InferRequest, op.request.request))
                if answer is not None:
                    return op.parse(answer)
            return self._run(op)
        direct = self._direct
        if direct is not None:
            with self._lock:
                version = call.version or ""
                lease = direct.lease(call.model, version, size, self._staging.threshold)
                if lease is not None:
                    op = _OPERATIONS.infer(call, lease)
                    answer = direct.infer(cast(smi_pb2.InferRequest, op.request.request))
                    if answer is not None:
                        return op.parse(answer)
        build = partial(_OPERATIONS.infer, call)
        return self._drive(self._staging.staged(size, self._connection, build))

    def infer_message(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        """One `Infer` of a request built by the caller: over the model's direct channel when
        there is one (see the class), else through the server."""
        direct = self._direct
        if direct is not None:
            with self._lock:
                answer = direct.infer(request)
            if answer is not None:
                return answer
        response: smi_pb2.InferResponse = self.call(smi_ipc.MLOS_INFER, request)
        return response

    @property
    def direct_channels(self) -> int:
        """Direct channels open now (0 with `direct=False`)."""
        return self._direct.open_channels if self._direct is not None else 0

    def _connection(self) -> object:
        """The connection staging regions belong to now (None before the first call)."""
        return self._sock

    def _drive(self, steps: Generator[tuple[Method[Any, Any], Message], object, R]) -> R:
        """Make the calls `steps` asks for, one after another; its value."""
        try:
            step = next(steps)
            while True:
                try:
                    answer = self.call(*step)
                except BaseException as exc:
                    step = steps.throw(exc)
                else:
                    step = steps.send(answer)
        except StopIteration as done:
            return cast(R, done.value)

    def close(self) -> None:
        """Close the connection and the direct channels."""
        with self._lock:
            self._drop()
            if self._direct is not None:
                self._direct.close()


class AsyncIPCClient(_IPCEndpoint, AsyncClient):
    """An asyncio client of the MLOS IPC socket; see :class:`mlos.client.AsyncClient`.

    Shared memory and direct channels as with the blocking client (:class:`_IPCEndpoint`).
    """

    _ops = _OPERATIONS

    def __init__(
        self,
        url: str | Path,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        shared_memory_from: int = DEFAULT_THRESHOLD,
        token: str | None = None,
        direct: bool = True,
    ) -> None:
        super().__init__(url, timeout=timeout, shared_memory_from=shared_memory_from, token=token)
        self._direct = (
            AsyncDirectRoutes(str(self._path), self._url, self._token, timeout) if direct else None
        )

    _channel: Channel | None = None
    """Opened by the first call, and again after the connection was lost."""
    _connecting: asyncio.Lock | None = None
    """Created on the event loop of the first call."""

    async def _connect(self) -> Channel:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            channel = self._channel
            if channel is None or channel.closed:
                try:
                    channel = await Channel.connect(str(self._path), self._url)
                except Unavailable as exc:
                    reason = exc.message.rsplit(": ", 1)[-1].lower()
                    raise Unreachable(
                        f"no MLOS server is reachable at {self._url} ({reason})"
                    ) from None
                if self._token is not None:
                    request = smi_pb2.AuthenticateRequest(token=self._token)
                    try:
                        await channel.call(smi_ipc.MLOS_AUTHENTICATE, request)
                    except MLOSError:
                        channel.close()
                        raise
                if self._channel is not None:
                    self._staging.reset()  # the server released the regions with it
                self._channel = channel
            return channel

    async def call(self, method: Method[Any, Any], request: Message) -> Any:
        """One call of the MLOS service: the response message, or the server's typed error."""
        channel = self._channel
        if channel is None or channel.closed:
            channel = await self._connect()
        return await channel.call(method, request, timeout=self._timeout)

    async def _run(self, op: Op[T]) -> T:
        call: SmiCall = op.request
        return op.parse(await self.call(call.method, call.request))

    async def _infer(self, call: Inference) -> dict[str, Array]:
        """Inputs of `shared_memory_from` bytes or more travel through shared memory."""
        size = self._staging.needed(call.inputs)
        if not size:
            op = _OPERATIONS.infer(call)
            direct = self._direct
            if direct is not None:
                answer = await direct.infer(cast(smi_pb2.InferRequest, op.request.request))
                if answer is not None:
                    return op.parse(answer)
            return await self._run(op)
        direct = self._direct
        if direct is not None:
            built: list[Op[dict[str, Array]]] = []

            def request(lease: Lease) -> smi_pb2.InferRequest:
                built.append(_OPERATIONS.infer(call, lease))
                return cast(smi_pb2.InferRequest, built[-1].request.request)

            version, threshold = call.version or "", self._staging.threshold
            answer = await direct.infer_staged(call.model, version, size, threshold, request)
            if answer is not None:
                return built[-1].parse(answer)
        build = partial(_OPERATIONS.infer, call)
        return await self._drive(self._staging.staged(size, self._connection, build))

    async def infer_message(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        """One `Infer` of a request built by the caller: over the model's direct channel when
        there is one (see the class), else through the server."""
        direct = self._direct
        if direct is not None:
            answer = await direct.infer(request)
            if answer is not None:
                return answer
        response: smi_pb2.InferResponse = await self.call(smi_ipc.MLOS_INFER, request)
        return response

    @property
    def direct_channels(self) -> int:
        """Direct channels open now (0 with `direct=False`)."""
        return self._direct.open_channels if self._direct is not None else 0

    def _connection(self) -> object:
        """The connection staging regions belong to now (None before the first call)."""
        return self._channel

    async def _drive(self, steps: Generator[tuple[Method[Any, Any], Message], object, R]) -> R:
        """Make the calls `steps` asks for, one after another; its value."""
        try:
            step = next(steps)
            while True:
                try:
                    answer = await self.call(*step)
                except BaseException as exc:
                    step = steps.throw(exc)
                else:
                    step = steps.send(answer)
        except StopIteration as done:
            return cast(R, done.value)

    async def close(self) -> None:
        """Close the connection and the direct channels."""
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
        if self._direct is not None:
            self._direct.close()
        self._staging.reset()
