"""Direct channels of the asyncio IPC client: inference straight to the plugin process.

The asyncio counterpart of :mod:`mlos.client.direct`, with the same grant, revocation and
fall-back rules: :class:`AsyncDirectRoutes` keeps one channel per model (and version asked
for), a :class:`~mlos.wire.channel.Channel` on the socket the server passed, on which any number
of concurrent calls are multiplexed by request id (up to the in-flight share the server lends
the channel; calls beyond it go through the server). A channel is asked for on a short-lived
connection of its own — the answer carries a file descriptor (`SCM_RIGHTS`), which an asyncio
transport cannot receive — authenticated with the client's token. While it is being opened,
and whenever a channel cannot answer, calls go through the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from mlos.client.direct import RETRY_AFTER, RouteTable
from mlos.errors import MLOSError
from mlos.wire.channel import Channel
from mlos.wire.framing import HEADER, FrameKind
from mlos.wire.method import Method
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["IN_FLIGHT", "AsyncDirectRoutes"]

IN_FLIGHT = 16
"""Calls an asyncio client asks to have in flight on one channel."""
_Key = tuple[str, str]


@dataclass(slots=True)
class _Route:
    channel: Channel
    channel_id: int
    version: str
    max_frame: int
    max_in_flight: int
    """Calls the channel serves at once (0: no share announced)."""
    in_flight: int = 0
    relay_until: float = 0.0
    """Until when (time.monotonic()) calls go through the server (the rate share ran out)."""

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


class AsyncDirectRoutes(RouteTable[_Route]):
    """The channels of one asyncio IPC client (see the module)."""

    def __init__(self, path: str, url: str, token: str | None, timeout: float | None) -> None:
        super().__init__()
        self._path, self._url, self._token, self._timeout = path, url, token, timeout
        self._opening: set[_Key] = set()
        self._retry: dict[_Key, float] = {}

    @property
    def open_channels(self) -> int:
        """Channels open now."""
        return sum(1 for route in self._routes.values() if not route.channel.closed)

    async def infer(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse | None:
        """The answer over the model's channel, or None: send it through the server."""
        key = (request.model_name, request.model_version)
        route = self._routes.get(key)
        if route is not None and route.channel.closed:
            self._drop(key)
            route = None
        if route is None:
            if key in self._opening or time.monotonic() < self._retry.get(key, 0.0):
                return None
            self._opening.add(key)
            try:
                route = await self._open(key)
            finally:
                self._opening.discard(key)
            if route is None:
                self._retry[key] = time.monotonic() + RETRY_AFTER
                return None
        if route.max_in_flight and route.in_flight >= route.max_in_flight:
            return None  # its in-flight share is taken: the server decides this call
        if route.relay_until and time.monotonic() < route.relay_until:
            return None
        if HEADER.size + request.ByteSize() > route.max_frame:
            return None  # the server says why
        route.in_flight += 1
        try:
            answer: smi_pb2.InferResponse = await route.channel.call(
                smi_ipc.MLOS_INFER, request, timeout=self._timeout
            )
        except MLOSError as error:
            if route.channel.closed:  # lost (the server revoked it, the plugin died)
                self._drop(key)
                return None
            if self._through_server(key, route, error):
                return None
            raise
        finally:
            route.in_flight -= 1
        return answer

    async def _open(self, key: _Key) -> _Route | None:
        """Ask the server for a channel to the model; None when it grants none."""
        try:
            opened = await asyncio.wait_for(self._ask(key), self._timeout)
        except (TimeoutError, OSError, MLOSError, DecodeError, LookupError):
            return None
        channel_info, fd = opened
        sock = socket.socket(fileno=fd)
        try:
            channel = await Channel.from_socket(sock, f"the plugin serving {key[0]!r}")
        except OSError:
            sock.close()
            return None
        route = _Route(channel, channel_info.channel_id, channel_info.model_version,
                       int(channel_info.max_frame_bytes) or (64 << 20),
                       int(channel_info.max_in_flight))  # fmt: skip
        self._routes[key] = route
        return route

    async def _ask(self, key: _Key) -> tuple[smi_pb2.DirectChannel, int]:
        """`DirectChannels.Open` on a connection of its own: the answer and the socket."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, self._path)
            if self._token is not None:
                authenticate = smi_pb2.AuthenticateRequest(token=self._token)
                kind, payload, fds = await _call(sock, smi_ipc.MLOS_AUTHENTICATE, authenticate, 1)
                _close(fds)
                if kind != FrameKind.RESPONSE:
                    raise MLOSError.from_proto(smi_pb2.Error.FromString(payload))
            request = smi_pb2.DirectChannelRequest(
                model_name=key[0], model_version=key[1], max_in_flight=IN_FLIGHT
            )
            kind, payload, fds = await _call(sock, smi_ipc.DIRECT_CHANNELS_OPEN, request, 2)
        finally:
            sock.close()
        if kind != FrameKind.RESPONSE or len(fds) not in (1, 2):
            _close(fds)
            raise LookupError("no channel granted")
        _close(fds[1:])  # the region socket: this client sends its inputs inline
        try:
            return smi_pb2.DirectChannel.FromString(payload), fds[0]
        except DecodeError:
            _close(fds[:1])
            raise



def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            socket.close(fd)


async def _call(
    sock: socket.socket, method: Method[Any, Any], request: Message, request_id: int
) -> tuple[int, bytes, list[int]]:
    """One call on a non-blocking socket: the answer's kind, payload and passed descriptors."""
    loop = asyncio.get_running_loop()
    payload = request.SerializeToString()
    header = HEADER.pack(len(payload), FrameKind.REQUEST, 0, method.id, request_id, 0)
    await loop.sock_sendall(sock, header + payload)
    data = b""
    fds: list[int] = []
    try:
        while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
            try:
                more, received, _, _ = socket.recv_fds(sock, 1 << 16, 2, socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                await _readable(loop, sock)
                continue
            fds += received
            if not more:
                raise ConnectionResetError("the server closed the connection")
            data += more
        length, kind, _, _, answer_id, _ = HEADER.unpack_from(data)
        if answer_id != request_id or len(data) != HEADER.size + length:
            raise ConnectionResetError("the server's answer is out of step")
    except BaseException:
        _close(fds)
        raise
    return kind, data[HEADER.size :], fds


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait until `sock` has bytes to read (or is closed)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())
