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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from dataclasses import dataclass

from mlos.core.models import ModelRegistry
from mlos.core.plugins import PluginRegistry
from mlos.core.stats import BatchStats, FailureReason, StatsBook
from mlos.core.supervisor import PluginProcess
from mlos.core.tokens import TokenBook
from mlos.errors import FailedPrecondition, MLOSError, Unauthenticated, Unimplemented
from mlos.input_limits import InputLimits
from mlos.wire.handoff import send_tagged
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["STATS_INTERVAL", "ChannelBroker"]

log = logging.getLogger(__name__)

STATS_INTERVAL = 0.5
"""Seconds between collections of the channels' statistics."""
_CONTROL_TIMEOUT = 5.0


@dataclass(slots=True)
class _Granted:
    channel_id: int
    plugin: str
    process: PluginProcess
    model: str
    version: str
    principal: str


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
    ) -> None:
        self._plugins, self._models, self._stats = plugins, models, stats
        self._limits, self._max_frame, self._tokens = limits, max_frame, tokens
        self._ids = itertools.count(1)
        self._granted: dict[int, _Granted] = {}
        self._poller: asyncio.Task[None] | None = None

    @property
    def open_channels(self) -> int:
        """Channels granted and not known to be closed."""
        return len(self._granted)

    async def open(
        self, name: str, version: str, principal: str
    ) -> tuple[smi_pb2.DirectChannel, int]:
        """A channel to the plugin serving `name` (`version`, or the one that serves now) for
        `principal`: its description and the client's end as a file descriptor (the caller
        owns it)."""
        entry = self._models.ready(name, version)
        if entry.record.scheduling:
            # The core's scheduler gathers the calls of a batched (or multi-instance) model;
            # a channel would pass it by. The client keeps sending them through the server.
            raise FailedPrecondition(
                f"model {name!r} is scheduled by the server (dynamic batching or instances); "
                "its calls go through the server"
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
        client_end, plugin_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                send_tagged(control, channel_id, plugin_end.fileno())
            except OSError as exc:
                raise FailedPrecondition(
                    f"cannot hand a channel to plugin {plugin!r}: {exc.strerror or exc}"
                ) from None
            finally:
                plugin_end.close()
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
            raise
        self._granted[channel_id] = _Granted(
            channel_id, plugin, process, entry.record.name, entry.record.version, principal
        )
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        answer = smi_pb2.DirectChannel(
            channel_id=channel_id,
            model_name=entry.record.name,
            model_version=entry.record.version,
            max_frame_bytes=self._max_frame,
        )
        return answer, client_end.detach()

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
            del self._granted[granted.channel_id]

    async def _revoke(self, channels: list[_Granted]) -> None:
        by_process: dict[int, tuple[PluginProcess, list[int]]] = {}
        for granted in channels:
            self._granted.pop(granted.channel_id, None)
            found = by_process.setdefault(id(granted.process), (granted.process, []))
            found[1].append(granted.channel_id)
        for process, ids in by_process.values():
            if not process.alive or process.channel is None:
                continue
            request = smi_pb2.CloseChannelsRequest(channel_ids=ids)
            try:
                answer = await smi_ipc.PluginChannelsClient(process.channel).close_channels(
                    request, timeout=_CONTROL_TIMEOUT
                )
            except MLOSError as exc:
                log.warning("closing direct channels of plugin %s: %s", process.launch.name, exc)
                continue
            self._fold(answer)

    # -- statistics ---------------------------------------------------------------------------

    async def collect(self) -> None:
        """Fold what every channel served since the last collection into the statistics."""
        processes = {id(g.process): g.process for g in self._granted.values()}
        for process in processes.values():
            if not process.alive or process.channel is None:
                for granted in [g for g in self._granted.values() if g.process is process]:
                    del self._granted[granted.channel_id]
                continue
            try:
                answer = await smi_ipc.PluginChannelsClient(process.channel).channel_statistics(
                    smi_pb2.ChannelStatisticsRequest(), timeout=_CONTROL_TIMEOUT
                )
            except MLOSError as exc:
                log.debug("channel statistics of plugin %s: %s", process.launch.name, exc)
                continue
            self._fold(answer)

    async def _poll(self) -> None:
        while self._granted:
            await asyncio.sleep(STATS_INTERVAL)
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
            if report.closed:
                self._granted.pop(report.channel_id, None)
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

    async def close(self) -> None:
        """Stop collecting (the plugin processes are stopping; their channels end with them)."""
        self._granted.clear()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
