"""Direct channels in the plugin host: IPC clients call the plugin process without the core.

The core grants a channel (`PluginChannels.OpenChannel`, with a :class:`ChannelGrant`) after it
authenticated and authorised the client, and sends the host one end of a connected socket
pair on the host's *channel socket* — a `SOCK_SEQPACKET` socket the core passes as the file
descriptor named by `MLOS_CHANNEL_FD` — as one datagram: the channel id (8 bytes,
little-endian) with the socket attached (`SCM_RIGHTS`). The other end goes to the client.

On the channel the host answers the MLOS service's `Infer` (0x020C) in the IPC framing, for
the grant's model version only, with the core's checks delegated: the request frame within
the grant's size limit, the inputs within its input limits, names, datatypes and shapes
against the model's declaration, and the outputs checked (:class:`~mlos.sdk.host.PluginHost`'s
own inference). Inputs may lie in the client's own regions, sent on the channel's region
socket (:mod:`mlos.sdk.regions`); inputs in regions registered with the core, and outputs in
shared memory, are refused (such requests take the relayed path). Every request is counted;
the core collects the
counts (`ChannelStatistics`, and the last ones from `CloseChannels`) into the model's
statistics and metrics. Bytes that break the framing close only that channel.

With `limits_delegated` in the grant the host also enforces the core's rate limit and the
model's in-flight limit with the shares the core lent the channel: a call takes one of its
`rate_tokens` and needs a free one of its in-flight slots. A call over either share is refused
at once with the :data:`~mlos.errors.RELAY_DETAIL` detail — the client sends it through the
core, whose limits decide it (with their own errors). The core tops the shares up and takes
idle slots and unneeded tokens back on each statistics collection
(`ChannelStatisticsRequest.allowances`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mlos.errors import (
    RELAY_DETAIL,
    FailedPrecondition,
    InvalidArgument,
    MLOSError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StatusCode,
    Unavailable,
)
from mlos.input_limits import InputLimits
from mlos.sdk.regions import ChannelRegions
from mlos.sdk.segments import SegmentMap
from mlos.validation import check_infer_request
from mlos.wire.connection import ServerConnection
from mlos.wire.handoff import CHANNEL_FD_ENV, receive_tagged
from mlos.wire.method import CallContext
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["ChannelTable"]

log = logging.getLogger("mlos.plugin.direct")

_MAX_PENDING = 64

Infer = Callable[[smi_pb2.InferRequest], Awaitable[smi_pb2.InferResponse]]
"""Runs a checked request (:meth:`mlos.sdk.host.PluginHost.infer_checked`)."""


def _reason(error: BaseException) -> str:
    """The failure reason the core's statistics count (mlos.core.stats.FailureReason)."""
    if isinstance(error, MLOSError):
        if error.code is StatusCode.DEADLINE_EXCEEDED:
            return "CANCELED"
        if error.code in (StatusCode.INVALID_ARGUMENT, StatusCode.NOT_FOUND,
                          StatusCode.PERMISSION_DENIED, StatusCode.FAILED_PRECONDITION):
            return "OTHER"
    if isinstance(error, asyncio.CancelledError):
        return "CANCELED"
    return "BACKEND"


def _close_all(fds: tuple[int, ...]) -> None:
    for fd in fds:
        os.close(fd)


@dataclass(slots=True)
class _Counts:
    """What a channel served since its last report."""

    batches: dict[int, list[int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    fail_ns: int = 0
    last_ms: int = 0
    last_done_ns: int = 0
    """perf_counter_ns() when the last successful request ended (0: none)."""

    def last_inference_ms(self) -> int:
        """Unix time in milliseconds of the last request."""
        if not self.last_done_ns:
            return self.last_ms
        ago = time.perf_counter_ns() - self.last_done_ns
        return max(self.last_ms, (time.time_ns() - ago) // 1_000_000)

    def empty(self) -> bool:
        return not self.batches and not self.failures


class _ChannelServicer:
    """The MLOS service's Infer for one granted model version."""

    METHODS = (smi_ipc.MLOS_INFER,)

    def __init__(self, grant: smi_pb2.ChannelGrant, infer: Infer,
                 metadata: Callable[[], smi_pb2.ModelMetadata | None],
                 regions: ChannelRegions | None = None) -> None:
        self.grant = grant
        self._infer = infer
        self._metadata = metadata
        self.regions = regions
        self._limits = InputLimits(
            grant.max_inputs, grant.max_tensor_elements, grant.max_tensor_bytes,
            grant.max_batch_size, grant.max_string_bytes,
        )  # fmt: skip
        self.counts = _Counts()
        self.delegated = grant.limits_delegated
        self.tokens = int(grant.rate_tokens)
        """Calls left under the principal's rate limit (when `delegated`)."""
        self.slots = int(grant.max_in_flight)
        """Calls the channel may have in flight (when `delegated`)."""
        self.in_flight = 0
        self.relayed = 0
        self.active = time.monotonic()
        """When the channel last started or ended a call."""

    def _refuse(self) -> MLOSError:
        """The refusal of a call over the channel's shares (the client relays it)."""
        self.relayed += 1
        if self.tokens <= 0:
            return ResourceExhausted(
                "this channel's share of the rate limit is spent: send the call through the "
                "server's socket", details={RELAY_DETAIL: "rate"},
            )  # fmt: skip
        return Unavailable(
            f"this channel has {self.in_flight} calls in flight, its share of the model's "
            "limit: send the call through the server's socket", details={RELAY_DETAIL: "in_flight"},
        )  # fmt: skip

    async def infer(
        self, request: smi_pb2.InferRequest, context: CallContext
    ) -> smi_pb2.InferResponse:
        """Check the request against the grant and its shares of the limits, run it, count
        it."""
        if self.delegated:
            if self.tokens <= 0 or self.in_flight >= self.slots:
                raise self._refuse()
            self.tokens -= 1
        self.in_flight += 1
        try:
            return await self._serve(request)
        finally:
            self.in_flight -= 1
            self.active = time.monotonic()

    async def _serve(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        started = time.perf_counter_ns()
        try:
            grant = self.grant
            if request.model_name != grant.model_name or request.model_version not in (
                "", grant.model_version
            ):
                raise PermissionDenied(
                    f"this channel serves model {grant.model_name!r} version "
                    f"{grant.model_version!r} only"
                )
            metadata = self._metadata()
            if metadata is None:
                raise NotFound(
                    f"model {grant.model_name!r} version {grant.model_version!r} is not loaded"
                )
            regions = self.regions
            for tensor in request.inputs:
                if tensor.HasField("shared_memory"):
                    name = tensor.shared_memory.region
                    if regions is None or not regions.owns(name):
                        raise FailedPrecondition(
                            "inputs in shared memory are registered with the server: send "
                            "this request through the server's socket"
                        )
                    regions.require(name)
            if any(output.parameters for output in request.outputs):
                raise FailedPrecondition(
                    "output parameters (shared memory) need the server's socket"
                )
            check_infer_request(request, metadata, limits=self._limits)
            request.model_version = grant.model_version
            checked = time.perf_counter_ns()
            response = await self._infer(request)
        except BaseException as exc:
            counts = self.counts
            counts.fail_ns += time.perf_counter_ns() - started
            reason = _reason(exc)
            counts.failures[reason] = counts.failures.get(reason, 0) + 1
            counts.last_ms = time.time_ns() // 1_000_000
            raise
        done = time.perf_counter_ns()
        batch = 1
        if metadata.max_batch_size > 0:
            inputs = request.inputs
            batch = int(inputs[0].shape[0]) if inputs and inputs[0].shape else 1
        counts = self.counts
        row = counts.batches.get(batch)
        if row is None:
            row = counts.batches[batch] = [0, 0, 0, 0]
        row[0] += 1
        row[1] += checked - started
        row[2] += done - checked
        counts.last_done_ns = done
        return response


class _Channel:
    def __init__(self, grant: smi_pb2.ChannelGrant, servicer: _ChannelServicer) -> None:
        self.grant = grant
        self.servicer = servicer
        self.connection: ServerConnection | None = None
        self.closed = False

    def ended(self) -> None:
        """The channel's connection is gone: unmap the client's regions."""
        self.closed = True
        if self.servicer.regions is not None:
            self.servicer.regions.close()


class ChannelTable:
    """The direct channels of one plugin host (see the module documentation)."""

    def __init__(
        self,
        infer: Infer,
        metadata: Callable[[str, str], smi_pb2.ModelMetadata | None],
        fd: int | None = None,
        segments: SegmentMap | None = None,
    ) -> None:
        self._infer = infer
        self._metadata = metadata
        self._segments = segments
        self._socket: socket.socket | None = None
        if fd is None:
            value = os.environ.get(CHANNEL_FD_ENV, "")
            fd = int(value) if value.isdigit() else None
        if fd is not None:
            with contextlib.suppress(OSError):
                sock = socket.socket(fileno=fd)
                if sock.type == socket.SOCK_SEQPACKET:
                    sock.setblocking(False)
                    self._socket = sock
                else:
                    sock.detach()
        self._pending: dict[int, tuple[int, ...]] = {}
        self._channels: dict[int, _Channel] = {}

    @property
    def available(self) -> bool:
        """Whether the core gave this host a channel socket."""
        return self._socket is not None

    def _receive(self) -> None:
        """Take every socket the core has sent so far (without waiting)."""
        assert self._socket is not None
        for channel_id, fds in receive_tagged(self._socket, 2):
            _close_all(self._pending.pop(channel_id, ()))
            self._pending[channel_id] = fds
            while len(self._pending) > _MAX_PENDING:  # grants that never came
                _close_all(self._pending.pop(next(iter(self._pending))))

    async def open(self, grant: smi_pb2.ChannelGrant) -> smi_pb2.OpenChannelResponse:
        """Serve the channel whose socket the core sent with `grant.channel_id`."""
        if self._socket is None:
            raise FailedPrecondition("this plugin host was started without a channel socket")
        if self._metadata(grant.model_name, grant.model_version) is None:
            raise NotFound(
                f"model {grant.model_name!r} version {grant.model_version!r} is not loaded"
            )
        if grant.channel_id in self._channels:
            raise InvalidArgument(f"channel {grant.channel_id} is open already")
        self._receive()
        fds = self._pending.pop(grant.channel_id, None)
        if fds is None:
            raise InvalidArgument(f"no socket arrived for channel {grant.channel_id}")
        sock = socket.socket(fileno=fds[0])
        max_frame = int(grant.max_frame_bytes) or (64 << 20)
        region_sock = socket.socket(fileno=fds[1])
        regions = None
        if self._segments is not None:
            regions = ChannelRegions(grant.channel_id, region_sock, self._segments, max_frame)
        else:
            region_sock.close()
        name, version = grant.model_name, grant.model_version
        servicer = _ChannelServicer(
            grant, self._infer, lambda: self._metadata(name, version), regions
        )
        channel = _Channel(grant, servicer)
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_unix_connection(
                lambda: ServerConnection(servicer, max_frame), sock=sock
            )
        except OSError as exc:
            sock.close()
            channel.ended()
            raise FailedPrecondition(f"cannot serve channel {grant.channel_id}: {exc}") from None
        channel.connection = connection
        connection.lost.add_done_callback(lambda _: channel.ended())
        self._channels[grant.channel_id] = channel
        return smi_pb2.OpenChannelResponse()

    def close(self, request: smi_pb2.CloseChannelsRequest) -> smi_pb2.ChannelStatisticsResponse:
        """Close the channels `request` names; their last statistics (every one of them is
        reported: closed, or not yet while it still runs a call)."""
        ids = set(request.channel_ids)
        closing = set()
        for channel_id, channel in self._channels.items():
            grant = channel.grant
            if (request.all or channel_id in ids
                    or (request.model_name and grant.model_name == request.model_name)):
                channel.closed = True
                closing.add(channel_id)
                if channel.connection is not None:
                    channel.connection.close()
        return self.report(include=closing)

    def close_model(self, name: str, version: str) -> None:
        """Close the channels of a model version the host unloads."""
        for channel in self._channels.values():
            grant = channel.grant
            if grant.model_name == name and grant.model_version == version:
                channel.closed = True
                if channel.connection is not None:
                    channel.connection.close()

    def report(
        self, request: smi_pb2.ChannelStatisticsRequest | None = None,
        include: set[int] | frozenset[int] = frozenset(),
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Apply the core's allowances in `request`; what every channel served since the last
        report (and every channel `request` names or `include` holds); closed channels are
        forgotten."""
        named: dict[int, int] = dict.fromkeys(include, 0)
        returned: dict[int, int] = {}
        now = time.monotonic()
        for allowance in request.allowances if request is not None else ():
            channel = self._channels.get(allowance.channel_id)
            if channel is None:
                continue
            servicer = channel.servicer
            servicer.tokens += allowance.rate_tokens
            servicer.slots += allowance.in_flight_slots
            keep = allowance.rate_tokens_keep
            if keep and servicer.tokens > keep:
                returned[allowance.channel_id] = servicer.tokens - keep
                servicer.tokens = keep
            released = 0
            idle_ms = allowance.release_idle_ms
            if (idle_ms and servicer.slots and not servicer.in_flight
                    and (now - servicer.active) * 1000 >= idle_ms):
                released, servicer.slots = servicer.slots, 0
            named[allowance.channel_id] = released
        response = smi_pb2.ChannelStatisticsResponse()
        for channel_id in list(self._channels):
            channel = self._channels[channel_id]
            servicer = channel.servicer
            counts = servicer.counts
            # A closed channel is reported closed once its last call has ended: the core
            # frees its in-flight slots then.
            ended = channel.closed and not servicer.in_flight
            if counts.empty() and not ended and not servicer.relayed and channel_id not in named:
                continue
            grant = channel.grant
            stats = response.statistics.add(
                channel_id=channel_id,
                model_name=grant.model_name,
                model_version=grant.model_version,
                fail_ns=counts.fail_ns,
                closed=ended,
                last_inference_ms=counts.last_inference_ms(),
                rate_tokens_left=max(0, servicer.tokens),
                relayed=servicer.relayed,
                released_slots=named.get(channel_id, 0),
                in_flight_slots=servicer.slots,
                rate_tokens_returned=returned.get(channel_id, 0),
            )
            servicer.relayed = 0
            for size, (count, input_ns, infer_ns, output_ns) in sorted(counts.batches.items()):
                stats.batches.add(
                    batch_size=size, count=count, compute_input_ns=input_ns,
                    compute_infer_ns=infer_ns, compute_output_ns=output_ns,
                )  # fmt: skip
            stats.failures.update(counts.failures)
            servicer.counts = _Counts()
            if ended:
                del self._channels[channel_id]
        return response

    def shutdown(self) -> None:
        """Close every channel and the channel socket."""
        for channel in self._channels.values():
            if channel.connection is not None:
                channel.connection.close()
            channel.ended()
        self._channels.clear()
        for fds in self._pending.values():
            _close_all(fds)
        self._pending.clear()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
