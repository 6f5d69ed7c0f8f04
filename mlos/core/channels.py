"""Direct channels: the core grants an IPC client a socket straight to a model's plugin process.

The core stays the control plane. A client that may infer on a model (the call pipeline has
authenticated and authorised it, as for `Infer`) asks for a channel; the broker makes a
connected socket pair, sends one end to the plugin host that serves the model on the host's
channel socket (:mod:`mlos.wire.handoff`), grants it the model version, the principal and the
core's limits (`PluginChannels.OpenChannel`), and returns the other end for the client. The
plugin host then serves the client's `Infer` calls on it itself (:mod:`mlos.sdk.direct`).

The broker revokes channels — closes them in the plugin host — when their model is
registered, loaded, unloaded or removed (the client's next call goes through the core and
opens a channel to whatever serves the model then), when their plugin is unloaded or removed,
and when the token they were granted to is revoked (at once) or expires (within
:data:`STATS_INTERVAL`). A plugin process that dies takes its
channels with it. What the channels served is collected from each host every
:data:`STATS_INTERVAL` seconds and when they close, into the model's statistics (so /v2
statistics and the metrics count direct calls too).

The broker also lends each channel shares of the limits the call pipeline applies to relayed
calls, which the plugin host enforces (docs/architecture.md, "Limits on direct channels"):
tokens taken out of the principal's rate-limit bucket (:meth:`RateLimiter.lease`; on each
collection topped up, or trimmed, to four times the channel's recent calls per collection
interval, spent or relayed, and at least 100 ms of the rate shared among the principal's
channels; the next collection comes after 50 ms instead of 0.5 s after a grant and when a
channel was short or about to be), and in-flight slots held in the model's admission count
(:meth:`Admission.reserve`; taken back from channels idle for :data:`IDLE_RELEASE_MS` while
the model's count is at half its limit or more). A call over a share is relayed by the
client, and the core's limits decide it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import socket
import time
from dataclasses import dataclass, field

from mlos.core.batching import Scheduling
from mlos.core.limits import Admission, Rate, RateLimiter
from mlos.core.models import ModelRegistry
from mlos.core.pipeline import Call
from mlos.core.plugins import PluginRegistry
from mlos.core.stats import BatchStats, FailureReason, StatsBook
from mlos.core.supervisor import PluginProcess
from mlos.core.tokens import TokenBook
from mlos.errors import (
    FailedPrecondition,
    MLOSError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from mlos.input_limits import InputLimits
from mlos.wire.handoff import send_tagged
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["IDLE_RELEASE_MS", "MAX_CHANNEL_IN_FLIGHT", "STATS_INTERVAL", "ChannelBroker"]

log = logging.getLogger(__name__)

STATS_INTERVAL = 0.5
"""Seconds between collections of the channels' statistics."""
MAX_CHANNEL_IN_FLIGHT = 64
"""The most in-flight slots one channel is lent."""
IDLE_RELEASE_MS = 1000
"""A channel idle this long gives its slots back when its model's slots run short."""
_LEASE_FLOOR_S = 0.1
"""A channel's rate allowance is at least this many seconds of its principal's rate."""
_MARGIN = 4
"""A channel's rate allowance covers this many times its recent calls per interval."""
_SHORT_INTERVAL = 0.05
"""Seconds to the next collection after one that found a channel short of a share."""
_CONTROL_TIMEOUT = 5.0


@dataclass(slots=True)
class _Shares:
    """The shares of the core's limits a channel was lent."""

    rate_key: str = ""
    rate: Rate | None = None
    tokens: int = 0
    """Tokens the channel held at its last report (or since the core last added some)."""
    admission_key: str = ""
    slots: int = 0
    want: int = 1
    relayed: int = 0
    """Calls the channel refused (over a share) between its last two reports."""
    demand: float = 0.0
    """Calls a second the channel had between its last two reports (spent or relayed)."""
    reported: float = field(default_factory=time.monotonic)
    """When its last report came (time.monotonic())."""

    def target(self, sharing: int) -> int:
        """The rate allowance for the channel's demand: :data:`_MARGIN` times its recent calls
        per collection interval, at least :data:`_LEASE_FLOOR_S` of the rate shared among the
        `sharing` channels of its principal."""
        rate = self.rate
        assert rate is not None
        floor = max(1, math.ceil(rate.per_second * _LEASE_FLOOR_S / max(1, sharing)))
        return min(rate.burst, max(floor, math.ceil(_MARGIN * self.demand * STATS_INTERVAL)))


@dataclass(slots=True)
class _Granted:
    channel_id: int
    plugin: str
    process: PluginProcess
    model: str
    version: str
    principal: str
    shares: _Shares | None = None


class ChannelBroker:
    """Grants, tracks and revokes direct channels (see the module documentation)."""

    def __init__(
        self,
        plugins: PluginRegistry,
        models: ModelRegistry,
        stats: StatsBook,
        limits: InputLimits,
        max_frame: int,
        tokens: TokenBook | None = None,
        rates: RateLimiter | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._plugins, self._models, self._stats = plugins, models, stats
        self._limits, self._max_frame, self._tokens = limits, max_frame, tokens
        self._rates, self._admission = rates, admission
        self._ids = itertools.count(1)
        self._granted: dict[int, _Granted] = {}
        self._poller: asyncio.Task[None] | None = None
        self._short_of = False
        """A channel was granted, or refused calls for want of a share, since the last
        collection."""
        self._wake = asyncio.Event()

    @property
    def open_channels(self) -> int:
        """Channels granted and not known to be closed."""
        return len(self._granted)

    async def open(
        self, name: str, version: str, principal: str, call: Call | None = None,
        max_in_flight: int = 0,
    ) -> tuple[smi_pb2.DirectChannel, tuple[int, int]]:
        """A channel to the plugin serving `name` (`version`, or the one that serves now) for
        `principal`: its description and the client's ends of its socket and of its region
        socket, as file descriptors (the caller owns them). With `call` (the admitted call
        that asks for it), the channel is lent shares of the rate limit and of the model's
        in-flight limit (up to `max_in_flight` slots)."""
        entry = self._models.ready(name, version)
        if entry.record.scheduling and Scheduling.of_json(entry.record.scheduling).batching:
            # The core's scheduler gathers the calls of a batched model into batches; a
            # channel would pass it by. The client keeps sending them through the server.
            # (Instances alone are the plugin host's: a call over a channel waits there for
            # a free instance, as the scheduler's calls do.)
            raise FailedPrecondition(
                f"model {name!r} is batched by the server (dynamic batching); its calls go "
                "through the server"
            )
        target = self._plugins.get(entry.record.plugin)
        plugin = target.label
        process = target.process
        if process is None or not process.alive or process.channel is None:
            raise FailedPrecondition(f"plugin {plugin!r} is not running")
        control = process.channel_socket
        if control is None:
            raise FailedPrecondition(f"plugin {plugin!r} takes no direct channels")
        channel_id = next(self._ids)
        limits = self._limits
        grant = smi_pb2.ChannelGrant(
            channel_id=channel_id, principal=principal,
            model_name=entry.record.name, model_version=entry.record.version,
            max_frame_bytes=self._max_frame, max_inputs=limits.max_inputs,
            max_tensor_elements=limits.max_tensor_elements,
            max_tensor_bytes=limits.max_tensor_bytes, max_batch_size=limits.max_batch_size,
            max_string_bytes=limits.max_string_bytes,
        )  # fmt: skip
        shares = self._lend(call, max_in_flight) if call is not None else None
        if shares is not None:
            grant.limits_delegated = True
            grant.rate_tokens, grant.max_in_flight = shares.tokens, shares.slots
        client_end, plugin_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The client sends its shared-memory regions (sealed memfds) on the region socket.
        regions_client, regions_plugin = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            try:
                send_tagged(control, channel_id, (plugin_end.fileno(), regions_plugin.fileno()))
            except OSError as exc:
                raise FailedPrecondition(
                    f"cannot hand a channel to plugin {plugin!r}: {exc.strerror or exc}"
                ) from None
            finally:
                plugin_end.close()
                regions_plugin.close()
            try:
                await smi_ipc.PluginChannelsClient(process.channel).open_channel(
                    grant, timeout=_CONTROL_TIMEOUT
                )
            except Unimplemented:
                raise FailedPrecondition(
                    f"plugin {plugin!r} takes no direct channels"
                ) from None
        except BaseException:
            client_end.close()
            regions_client.close()
            if shares is not None:
                self._give_back(shares)
            raise
        self._granted[channel_id] = _Granted(
            channel_id, plugin, process, entry.record.name, entry.record.version, principal,
            shares,
        )  # fmt: skip
        self._short_of = True  # its first allowance is a guess: look again soon
        self._wake.set()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        answer = smi_pb2.DirectChannel(
            channel_id=channel_id,
            model_name=entry.record.name,
            model_version=entry.record.version,
            max_frame_bytes=self._max_frame,
            max_in_flight=shares.slots if shares is not None else 0,
        )
        return answer, (client_end.detach(), regions_client.detach())

    # -- shares of the limits -----------------------------------------------------------------

    def _lend(self, call: Call, max_in_flight: int) -> _Shares | None:
        """The shares a new channel is lent (None: the core applies no limits to lend)."""
        rates, admission = self._rates, self._admission
        if rates is None or admission is None:
            return None
        shares = _Shares(admission_key=call.model)
        shares.want = max(1, min(max_in_flight or 1, MAX_CHANNEL_IN_FLIGHT))
        shares.slots = admission.reserve(call.model, shares.want)
        if not shares.slots:
            count = admission.in_flight(call.model)
            raise Unavailable(  # the admission stage's refusal, for the calls to come
                f"model {call.model!r} has {count} requests in flight, its limit; retry later"
            )
        shares.rate_key, shares.rate = rates.rate_of(call)
        # The Open took a token as an inference would; the channel's first call takes it again.
        rates.give_back(shares.rate_key, shares.rate, 1)
        sharing = 1 + sum(
            1 for g in self._granted.values()
            if g.shares is not None and g.shares.rate_key == shares.rate_key
        )  # fmt: skip
        shares.tokens = rates.lease(shares.rate_key, shares.rate, shares.target(sharing))
        return shares

    def _give_back(self, shares: _Shares) -> None:
        """A channel ended: its slots and unspent tokens go back."""
        if self._admission is not None and shares.slots:
            self._admission.release(shares.admission_key, shares.slots)
            shares.slots = 0
        if self._rates is not None and shares.rate is not None and shares.tokens:
            self._rates.give_back(shares.rate_key, shares.rate, shares.tokens)
            shares.tokens = 0

    def _allowances(self, process: PluginProcess) -> list[smi_pb2.ChannelAllowance]:
        """What to add to the shares of `process`'s channels on this collection."""
        rates, admission = self._rates, self._admission
        if rates is None or admission is None:
            return []
        sharing: dict[str, int] = {}
        for granted in self._granted.values():
            if granted.shares is not None:
                key = granted.shares.rate_key
                sharing[key] = sharing.get(key, 0) + 1
        allowances = []
        # The channels with the fewest tokens first: the bucket may not cover every top-up.
        for granted in sorted(self._granted.values(),
                              key=lambda g: g.shares.tokens if g.shares is not None else 0):
            shares = granted.shares
            if granted.process is not process or shares is None or shares.rate is None:
                continue
            allowance = smi_pb2.ChannelAllowance(channel_id=granted.channel_id)
            target = shares.target(sharing[shares.rate_key])
            if shares.tokens < target:
                added = rates.lease(shares.rate_key, shares.rate, target - shares.tokens)
                shares.tokens += added
                allowance.rate_tokens = added
            elif shares.tokens > target:
                allowance.rate_tokens_keep = target  # more than it needs: the rest comes back
            model = shares.admission_key
            if shares.slots:
                if 2 * admission.in_flight(model) >= admission.max_in_flight:
                    allowance.release_idle_ms = IDLE_RELEASE_MS
            elif shares.relayed:
                added = admission.reserve(model, shares.want, admitted=False)
                shares.slots += added
                allowance.in_flight_slots = added
            allowances.append(allowance)
        return allowances

    # -- revocation ---------------------------------------------------------------------------

    async def revoke_model(self, name: str) -> None:
        """Close every channel to any version of `name` (it is about to change)."""
        await self._revoke([g for g in self._granted.values() if g.model == name])

    async def revoke_plugin(self, plugin: str) -> None:
        """Close every channel into `plugin` (it is about to stop)."""
        await self._revoke([g for g in self._granted.values() if g.plugin == plugin])

    async def revoke_principal(self, principal: str) -> None:
        """Close every channel granted to `principal` (its token was revoked)."""
        await self._revoke([g for g in self._granted.values() if g.principal == principal])

    def forget_plugin(self, plugin: str) -> None:
        """The plugin's process ended: its channels ended with it."""
        for granted in [g for g in self._granted.values() if g.plugin == plugin]:
            self._forget(granted)

    def _forget(self, granted: _Granted, tokens_left: int = 0) -> None:
        """`granted` ended: its slots go back, and the tokens it is known not to have spent
        (its last report's; without one, none: it may have spent them since)."""
        self._granted.pop(granted.channel_id, None)
        if granted.shares is not None:
            granted.shares.tokens = tokens_left
            self._give_back(granted.shares)

    async def _revoke(self, channels: list[_Granted]) -> None:
        """Close `channels`. Each is forgotten when its host reports it closed (after the last
        call it runs: its in-flight slots are freed then), or at once when its host cannot
        answer or does not have it."""
        by_process: dict[int, tuple[PluginProcess, list[int]]] = {}
        for granted in channels:
            found = by_process.setdefault(id(granted.process), (granted.process, []))
            found[1].append(granted.channel_id)
        for process, ids in by_process.values():
            reported: set[int] = set()
            if process.alive and process.channel is not None:
                request = smi_pb2.CloseChannelsRequest(channel_ids=ids)
                try:
                    answer = await smi_ipc.PluginChannelsClient(process.channel).close_channels(
                        request, timeout=_CONTROL_TIMEOUT
                    )
                except MLOSError as exc:
                    log.warning(
                        "closing direct channels of plugin %s: %s", process.launch.name, exc
                    )
                else:
                    self._fold(answer)
                    reported = {report.channel_id for report in answer.statistics}
            for channel_id in ids:
                unreported = self._granted.get(channel_id)
                if unreported is not None and channel_id not in reported:
                    self._forget(unreported)  # whatever it held unreported is lost

    # -- statistics ---------------------------------------------------------------------------

    async def collect(self) -> None:
        """Fold what every channel served since the last collection into the statistics."""
        processes = {id(g.process): g.process for g in self._granted.values()}
        for process in processes.values():
            if not process.alive or process.channel is None:
                for granted in [g for g in self._granted.values() if g.process is process]:
                    self._forget(granted)
                continue
            request = smi_pb2.ChannelStatisticsRequest(allowances=self._allowances(process))
            try:
                answer = await smi_ipc.PluginChannelsClient(process.channel).channel_statistics(
                    request, timeout=_CONTROL_TIMEOUT
                )
            except MLOSError as exc:
                log.debug("channel statistics of plugin %s: %s", process.launch.name, exc)
                continue
            self._fold(answer)

    async def _poll(self) -> None:
        while self._granted:
            if not self._short_of:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), STATS_INTERVAL)
            self._wake.clear()
            if self._short_of:  # a new channel, or one short of a share: size it to its
                self._short_of = False  # demand soon
                await asyncio.sleep(_SHORT_INTERVAL)
            try:
                await self.collect()
                await self._expire()
            except Exception:
                log.exception("collecting direct channel statistics failed")

    async def _expire(self) -> None:
        """Close the channels of tokens that expired (or were revoked elsewhere)."""
        tokens = self._tokens
        if tokens is None:
            return
        for principal in {g.principal for g in self._granted.values()}:
            if principal.startswith("token:"):
                try:
                    tokens.check(principal.removeprefix("token:"))
                except Unauthenticated:
                    await self.revoke_principal(principal)

    def _fold(self, answer: smi_pb2.ChannelStatisticsResponse) -> None:
        for report in answer.statistics:
            granted = self._granted.get(report.channel_id)
            if granted is not None:
                self._account(granted, report)
            if not report.batches and not report.failures:
                continue
            stats = self._stats.of(report.model_name, report.model_version)
            stats.last_inference_ms = max(stats.last_inference_ms, report.last_inference_ms)
            for row in report.batches:
                size, count = int(row.batch_size), int(row.count)
                stats.inference_count += count * size if size > 1 else count
                stats.execution_count += count
                stats.success.count += count
                stats.success.ns += (
                    row.compute_input_ns + row.compute_infer_ns + row.compute_output_ns
                )
                stats.queue.count += count
                batch = stats.batches.get(size)
                if batch is None:
                    batch = stats.batches[size] = BatchStats()
                for phases in (stats, batch):  # the model's totals and its batch size's row
                    for phase, ns in (
                        (phases.compute_input, row.compute_input_ns),
                        (phases.compute_infer, row.compute_infer_ns),
                        (phases.compute_output, row.compute_output_ns),
                    ):
                        phase.count += count
                        phase.ns += ns
            failed = sum(report.failures.values())
            if failed:
                stats.fail.count += failed
                stats.fail.ns += report.fail_ns
                for name, count in report.failures.items():
                    try:
                        reason = FailureReason(name)
                    except ValueError:
                        reason = FailureReason.OTHER
                    stats.failures[reason] = stats.failures.get(reason, 0) + count

    def _account(self, granted: _Granted, report: smi_pb2.ChannelStatistics) -> None:
        """What a report says of a channel's shares; a closed channel gives them back."""
        shares = granted.shares
        if shares is not None:
            left, returned = int(report.rate_tokens_left), int(report.rate_tokens_returned)
            now = time.monotonic()
            spent = max(0, shares.tokens - left - returned)
            shares.relayed = int(report.relayed)
            shares.demand = (spent + shares.relayed) / max(now - shares.reported, 1e-3)
            shares.tokens, shares.reported = left, now
            if shares.relayed or left < shares.demand * STATS_INTERVAL:
                self._short_of = True  # short, or will be before the next collection
            if returned and self._rates is not None and shares.rate is not None:
                self._rates.give_back(shares.rate_key, shares.rate, returned)
            released = min(int(report.released_slots), shares.slots)
            if released and self._admission is not None:
                self._admission.release(shares.admission_key, released)
                shares.slots -= released
        if report.closed:
            self._forget(granted, int(report.rate_tokens_left))

    async def close(self) -> None:
        """Stop collecting (the plugin processes are stopping; their channels end with them)."""
        for granted in list(self._granted.values()):
            self._forget(granted)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
