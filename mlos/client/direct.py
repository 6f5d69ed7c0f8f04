"""Direct channels of the blocking IPC client: inference straight to the plugin process.

:class:`DirectRoutes` keeps one channel per model (and version asked for). The first
inference on a model asks the server for a channel (`DirectChannels.Open` on the client's
connection; the server checks the caller as for `Infer` and passes a socket to the plugin
process that serves the model with its answer); later inferences go over that socket, to the
plugin process alone. Whenever a channel cannot answer — the server revoked it (the model was
unloaded or replaced, its plugin restarted, the token was revoked), the plugin process died,
the server offers no channels, or the plugin does not serve them — the call goes through the
server instead, with the same answer and errors, and the next call asks for a new channel
(after :data:`RETRY_AFTER` seconds when asking failed). A call the plugin process refuses
because the channel's share of the server's limits is spent (the error carries
:data:`~mlos.errors.RELAY_DETAIL`) goes through the server, which decides it, and the channel
stays (after a spent rate share, the model's calls go through the server for
:data:`RELAY_FOR` seconds without asking the channel). docs/ipc.md describes the protocol.

Large inputs go over a channel through shared memory the plugin process reads in place: the
client writes them into a memfd of its own, sealed against shrinking, which it sends once on
the channel's region socket (:mod:`mlos.sdk.regions`); a call then carries only where they
lie. No byte of such an input crosses a socket or is copied by the server.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import mmap
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from google.protobuf.message import DecodeError

from mlos.client.staging import MIN_REGION, Lease, StagingRegion
from mlos.errors import RELAY_DETAIL, DeadlineExceeded, MLOSError, StatusCode
from mlos.wire.framing import FLAG_CLOSING, HEADER, FrameKind, send_frame
from mlos.wire.handoff import channel_region_name, send_tagged
from mlos_generated import smi_ipc, smi_pb2

__all__ = [
    "FALL_BACK",
    "RELAY_FOR",
    "RETRY_AFTER",
    "DirectRoutes",
    "Relaying",
    "RouteTable",
    "region_bytes",
    "relayed_after",
    "send_region",
]

RETRY_AFTER = 1.0
"""Seconds before a client asks again for a channel to a model after asking failed."""
RELAY_FOR = 0.05
"""Seconds a client sends a model's calls through the server after its channel's rate share
ran out (rather than asking the channel first: the server tops shares up twice a second)."""

FALL_BACK = frozenset(
    (
        StatusCode.NOT_FOUND,
        StatusCode.UNAVAILABLE,
        StatusCode.FAILED_PRECONDITION,
        StatusCode.PERMISSION_DENIED,
        StatusCode.UNIMPLEMENTED,
        StatusCode.RESOURCE_EXHAUSTED,
    )
)
"""Errors a channel answers that the server answers with authority: the call goes there."""


class Relaying(Protocol):
    """A route that can send a model's calls through the server for a while."""

    relay_until: float
    """`time.monotonic()` until which calls skip the channel (0: none)."""


def relayed_after(error: MLOSError, route: Relaying) -> bool:
    """Whether `error` is the plugin's refusal of a call over the channel's share of a limit,
    so the call goes through the server, which decides it; after the rate share ran out the
    model's next calls go there too for `RELAY_FOR` seconds."""
    reason = error.details.get(RELAY_DETAIL)
    if reason is None:
        return False
    if reason == "rate":
        route.relay_until = time.monotonic() + RELAY_FOR
    return True


class Closed(Exception):
    """The peer closed the connection."""


class Connection(Protocol):
    """What the routes need of the client they serve."""

    def server_socket(self) -> socket.socket:
        """The client's connection to the server (connected and authenticated)."""
        ...

    def receive(self, sock: socket.socket, request_id: int) -> tuple[int, int, bytes]:
        """The answer to `request_id` on `sock`: kind, flags, payload (Closed at EOF)."""
        ...

    def configure(self, sock: socket.socket) -> None:
        """Give a new socket the client's timeouts and buffers."""
        ...

    def drop_server(self) -> None:
        """Close the connection to the server (the next call opens a new one)."""
        ...


class _Channel(Protocol):
    relay_until: float

    def close(self) -> None: ...


RouteT = TypeVar("RouteT", bound=_Channel)


class RouteTable(Generic[RouteT]):
    """The channels one client holds, by (model, version); closing one drops it."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], RouteT] = {}

    def _drop(self, key: tuple[str, str]) -> None:
        route = self._routes.pop(key, None)
        if route is not None:
            route.close()

    def close(self) -> None:
        """Close every channel."""
        for key in list(self._routes):
            self._drop(key)

    def _through_server(self, key: tuple[str, str], route: RouteT, error: MLOSError) -> bool:
        """Whether the call the channel answered with `error` goes through the server instead
        (the channel dropped when it can no longer serve); False: `error` is the answer."""
        if relayed_after(error, route):
            return True
        if error.code in FALL_BACK:
            self._drop(key)
            return True
        return False


@dataclass(slots=True)
class _Route:
    sock: socket.socket
    channel_id: int
    version: str
    max_frame: int
    regions: socket.socket | None = None
    """The channel's region socket (None: the server gave none, or sending on it failed)."""
    region: StagingRegion | None = None
    """The region the channel's calls put large inputs in (one call at a time)."""
    region_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    relay_until: float = 0.0
    """Until when (time.monotonic()) calls go through the server (the rate share ran out)."""

    def close(self) -> None:
        """Close the channel's sockets and unmap its region."""
        self.sock.close()
        if self.regions is not None:
            self.regions.close()
        if self.region is not None:
            self.region.close()

    def new_region(self, size: int) -> StagingRegion | None:
        """A region of at least `size` bytes sent to the plugin process as this channel's
        (replacing the last one); None when it cannot be made or sent."""
        if self.regions is None or region_bytes(size) > self.max_frame:
            return None  # too large for the channel: this call's inputs go another way
        region = send_region(self.regions, self.channel_id, next(self.region_ids), size,
                             self.max_frame)  # fmt: skip
        if region is None:
            self.regions.close()  # the plugin process takes no more regions from us
            self.regions = None
            return None
        if self.region is not None:
            self.region.close()
        self.region = region
        return region


def region_bytes(size: int) -> int:
    """The size of the region made for `size` bytes of inputs: 1 MiB at least, whole pages."""
    return -(-max(size, MIN_REGION) // mmap.PAGESIZE) * mmap.PAGESIZE


def send_region(
    regions: socket.socket, channel_id: int, region_id: int, size: int, max_bytes: int
) -> StagingRegion | None:
    """A memfd of :func:`region_bytes` (`size`), sealed against shrinking and growing, mapped
    here and sent on the channel's region socket `regions` as region `region_id`
    (:mod:`mlos.sdk.regions`); None when it is larger than `max_bytes` or cannot be made or
    sent."""
    size = region_bytes(size)
    if size > max_bytes:
        return None
    name = channel_region_name(channel_id, region_id)
    try:
        fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except OSError:
        return None
    try:
        os.ftruncate(fd, size)
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        mapping = mmap.mmap(fd, size)
    except OSError:
        os.close(fd)
        return None
    try:
        send_tagged(regions, region_id, (fd,))
    except OSError:
        mapping.close()
        return None
    finally:
        os.close(fd)
    return StagingRegion(name, size, mapping, regions)


class DirectRoutes(RouteTable[_Route]):
    """The channels of one blocking IPC client (see the module); used under its lock."""

    def __init__(self, connection: Connection, timeout_ms: int) -> None:
        super().__init__()
        self._connection = connection
        self._timeout_ms = timeout_ms
        self._retry: dict[tuple[str, str], float] = {}
        self._ids = itertools.count(1)

    @property
    def open_channels(self) -> int:
        """Channels open now."""
        return len(self._routes)

    def _route(self, key: tuple[str, str]) -> _Route | None:
        """The model's channel, asked for if need be; None: send its calls through the server
        for now."""
        route = self._routes.get(key)
        if route is None:
            if time.monotonic() < self._retry.get(key, 0.0):
                return None
            route = self._open(key)
            if route is None:
                self._retry[key] = time.monotonic() + RETRY_AFTER
                return None
        if route.relay_until and time.monotonic() < route.relay_until:
            return None
        return route

    def lease(self, model: str, version: str, size: int, threshold: int) -> Lease | None:
        """Room for `size` bytes of large inputs in the shared memory of the model's channel
        (None: the call sends them otherwise); the call that uses it goes to :meth:`infer`."""
        route = self._route((model, version))
        if route is None:
            return None
        region = route.region
        if region is None or region.size < size:
            region = route.new_region(size)
            if region is None:
                return None
        return Lease(region, threshold)

    def infer(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse | None:
        """The answer over the model's channel, or None: send it through the server."""
        key = (request.model_name, request.model_version)
        route = self._route(key)
        if route is None:
            return None
        payload = request.SerializeToString()
        if HEADER.size + len(payload) > route.max_frame:
            return None  # the server says why
        request_id = next(self._ids) & 0xFFFFFFFF
        method = smi_ipc.MLOS_INFER.id
        header = HEADER.pack(len(payload), FrameKind.REQUEST, 0, method, request_id,
                             self._timeout_ms)  # fmt: skip
        sock = route.sock
        try:
            send_frame(sock, header, payload)
            kind, flags, answer = self._connection.receive(sock, request_id)
        except (OSError, Closed) as exc:
            self._drop(key)
            if isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise DeadlineExceeded(
                    f"model {request.model_name!r} did not answer within "
                    f"{self._timeout_ms / 1000:g} s"
                ) from None
            return None
        if flags & FLAG_CLOSING:
            self._drop(key)
        try:
            if kind == FrameKind.RESPONSE:
                return smi_pb2.InferResponse.FromString(answer)
            error = MLOSError.from_proto(smi_pb2.Error.FromString(answer))
        except DecodeError:
            self._drop(key)
            return None
        if self._through_server(key, route, error):
            return None
        raise error

    def _open(self, key: tuple[str, str]) -> _Route | None:
        """Ask the server for a channel to the model; None when it grants none."""
        sock = self._connection.server_socket()
        request = smi_pb2.DirectChannelRequest(model_name=key[0], model_version=key[1])
        payload = request.SerializeToString()
        request_id = next(self._ids) & 0xFFFFFFFF
        method = smi_ipc.DIRECT_CHANNELS_OPEN
        header = HEADER.pack(len(payload), FrameKind.REQUEST, 0, method.id, request_id,
                             self._timeout_ms)  # fmt: skip
        fds: list[int] = []
        try:
            sock.sendall(header + payload)
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 2, socket.MSG_CMSG_CLOEXEC)
            if not data:
                raise Closed
            while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
                more = sock.recv(1 << 16)
                if not more:
                    raise Closed
                data += more
            length, kind, _, _, answer_id, _ = HEADER.unpack_from(data)
            if answer_id != request_id or len(data) != HEADER.size + length:
                raise Closed  # out of step: the client's next call reconnects
            if kind != FrameKind.RESPONSE or len(fds) not in (1, 2):
                raise LookupError
            channel = smi_pb2.DirectChannel.FromString(data[HEADER.size :])
        except (OSError, Closed, LookupError, DecodeError) as exc:
            for fd in fds:
                socket.close(fd)
            if isinstance(exc, (OSError, Closed)):
                self._connection.drop_server()  # the client reconnects on its next call
            return None
        channel_sock = socket.socket(fileno=fds[0])
        self._connection.configure(channel_sock)
        regions = socket.socket(fileno=fds[1]) if len(fds) == 2 else None
        route = _Route(channel_sock, channel.channel_id, channel.model_version,
                       int(channel.max_frame_bytes) or (64 << 20), regions)  # fmt: skip
        self._routes[key] = route
        return route

