"""Direct channels of the asyncio IPC client: inference straight to the plugin process.

The asyncio counterpart of :mod:`mlos.client.direct`, with the same grant, revocation and
fall-back rules: :class:`AsyncDirectRoutes` keeps one channel per model (and version asked
for), a :class:`~mlos.wire.channel.Channel` on the socket the server passed, on which any number
of concurrent calls are multiplexed by request id (up to the in-flight share the server lends
the channel; calls beyond it go through the server). A channel is asked for on a short-lived
connection of its own — the answer carries a file descriptor (`SCM_RIGHTS`), which an asyncio
transport cannot receive — authenticated with the client's token. While it is being opened,
and whenever a channel cannot answer, calls go through the server. Large inputs go into
regions of the channel's shared memory (:func:`mlos.client.direct.send_region`), one per call
in flight, kept for the next calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError, Message

from mlos.client.direct import RETRY_AFTER, RouteTable, region_bytes, send_region
from mlos.client.staging import Lease, StagingRegion
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
    regions: socket.socket | None = None
    """The channel's region socket (None: none given, or sending on it failed)."""
    free: list[StagingRegion] = field(default_factory=list)
    """Regions no call uses now."""
    made: int = 0
    """Regions alive (free or in use)."""
    region_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    in_flight: int = 0
    relay_until: float = 0.0
    """Until when (time.monotonic()) calls go through the server (the rate share ran out)."""

    def close(self) -> None:
        """Close the channel and its region socket, and unmap the free regions."""
        self.channel.close()
        if self.regions is not None:
            self.regions.close()
            self.regions = None
        for region in self.free:
            region.close()
        self.free.clear()

    def take_region(self, size: int) -> StagingRegion | None:
        """A free region of `size` bytes or more, or a new one (at most one per call the
        channel serves at once); None: the call sends its inputs otherwise."""
        for index, region in enumerate(self.free):
            if region.size >= size:
                return self.free.pop(index)
        if self.regions is None or region_bytes(size) > self.max_frame:
            return None
        if self.made >= max(self.max_in_flight, 1):
            if not self.free:
                return None
            self.free.pop(0).close()  # every free region is too small: make a larger one
            self.made -= 1
        made = send_region(self.regions, self.channel_id, next(self.region_ids), size,
                           self.max_frame)  # fmt: skip
        if made is not None:
            self.made += 1
        return made

    def give_back(self, region: StagingRegion, reuse: bool) -> None:
        """The call that used `region` ended (`reuse`: cleanly, the plugin is done with it)."""
        if reuse and not self.channel.closed:
            self.free.append(region)
        else:
            region.close()
            self.made -= 1


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

    async def infer_staged(
        self, model: str, version: str, size: int, threshold: int,
        build: Callable[[Lease], smi_pb2.InferRequest],
    ) -> smi_pb2.InferResponse | None:
        """The answer over the model's channel to the request `build` makes with a lease of
        `size` bytes in the channel's shared memory; None: send the call through the server
        (its inputs elsewhere)."""
        route = await self._usable((model, version))
        if route is None:
            return None
        region = route.take_region(size)
        if region is None:
            return None
        clean = False
        try:
            answer = await self.infer(build(Lease(region, threshold)))
            clean = True
        finally:
            route.give_back(region, reuse=clean)
        return answer

    async def _usable(self, key: _Key) -> _Route | None:
        """The model's channel, opened if need be, when it can take one more call now."""
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
        return route

    async def infer(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse | None:
        """The answer over the model's channel, or None: send it through the server."""
        key = (request.model_name, request.model_version)
        route = await self._usable(key)
        if route is None:
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
        channel_info, fds = opened
        sock = socket.socket(fileno=fds[0])
        regions = socket.socket(fileno=fds[1]) if len(fds) == 2 else None
        try:
            channel = await Channel.from_socket(sock, f"the plugin serving {key[0]!r}")
        except OSError:
            sock.close()
            if regions is not None:
                regions.close()
            return None
        route = _Route(channel, channel_info.channel_id, channel_info.model_version,
                       int(channel_info.max_frame_bytes) or (64 << 20),
                       int(channel_info.max_in_flight), regions)  # fmt: skip
        self._routes[key] = route
        return route

    async def _ask(self, key: _Key) -> tuple[smi_pb2.DirectChannel, list[int]]:
        """`DirectChannels.Open` on a connection of its own: the answer, the channel's socket
        and (when the server sent one) its region socket."""
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
        try:
            return smi_pb2.DirectChannel.FromString(payload), fds
        except DecodeError:
            _close(fds)
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
