"""The server's Prometheus metrics, read from the core's own counters when they are scraped.

    metrics = Metrics(engine.stats, engine.models, engine.plugins, engine.resource_monitor, ...)
    engine.pipeline.add(metrics.calls, calls.ORDER)
    body = metrics.render()                       # what GET /metrics answers

Nothing is counted twice: the model families are the statistics of :mod:`mlos.core.stats`
(what `/v2/models/stats` reports), under Triton's metric names so that dashboards written for
Triton work; the plugin and server families read the plugin registry, the resource monitor and
the clock; the per-transport families are :class:`mlos.core.calls.CallCounter`'s. Every family
is documented in docs/metrics.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

from mlos.core.calls import CallCounter
from mlos.core.exposition import render
from mlos.core.models import ModelRegistry
from mlos.core.plugins import PluginRegistry
from mlos.core.resources import ResourceMonitor
from mlos.core.stats import FailureReason, ModelStats, StatsBook
from mlos_generated import smi_pb2

__all__ = ["BATCH_BUCKETS", "Metrics"]

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Upper bounds of the batch-size histogram's buckets (then +Inf)."""

_MODEL_LABELS = ["model", "version"]
_PLUGIN_STATES = [
    (value, smi_pb2.PluginState.Name(value).removeprefix("PLUGIN_STATE_").lower())
    for value in smi_pb2.PluginState.values()
    if value != smi_pb2.PLUGIN_STATE_UNSPECIFIED
]


class _Collector(Protocol):
    def collect(self) -> Iterator[Metric]: ...


def _triton_counter(name: str, documentation: str) -> Metric:
    """A counter family named and sampled as Triton names it, without a `_total` suffix (its
    samples are added with `add_sample(name, labels, value)`)."""
    return Metric(name, documentation, "counter")


class _Models:
    """Per model version: Triton's inference counters and durations, and batch sizes."""

    _DURATIONS = (
        ("nv_inference_request_duration_us", "success",
         "Cumulative time of successful requests, end to end in the core, in microseconds."),
        ("nv_inference_queue_duration_us", "queue",
         "Cumulative time successful requests waited before their work began, in microseconds."),
        ("nv_inference_compute_input_duration_us", "compute_input",
         "Cumulative time spent checking and staging inputs, in microseconds."),
        ("nv_inference_compute_infer_duration_us", "compute_infer",
         "Cumulative time spent running the model in its plugin process, in microseconds."),
        ("nv_inference_compute_output_duration_us", "compute_output",
         "Cumulative time spent on outputs after the plugin answered, in microseconds."),
    )  # fmt: skip

    def __init__(
        self,
        stats: StatsBook,
        models: ModelRegistry,
        pending: Callable[[str, str], int] | None = None,
    ) -> None:
        self._stats = stats
        self._models = models
        self._pending = pending

    def _versions(self) -> list[ModelStats]:
        """Counters of every registered version (zeros for those never called)."""
        return [
            self._stats.find(e.record.name, e.record.version)
            or ModelStats(e.record.name, e.record.version)
            for e in self._models.all()
        ]

    def collect(self) -> Iterator[Metric]:
        versions = self._versions()
        success = _triton_counter(
            "nv_inference_request_success",
            "Number of successful inference requests, all batch sizes.",
        )
        failure = _triton_counter(
            "nv_inference_request_failure",
            "Number of failed inference requests, all batch sizes, by reason.",
        )
        count = _triton_counter(
            "nv_inference_count",
            "Number of inferences performed (a batch of n counts n).",
        )
        executions = _triton_counter(
            "nv_inference_exec_count",
            "Number of model executions performed (a batch counts once).",
        )
        durations = [
            (_triton_counter(name, doc), field)
            for name, field, doc in self._DURATIONS
        ]
        batch_sizes = HistogramMetricFamily(
            "mlos_inference_batch_size",
            "Batch sizes of model executions.",
            labels=_MODEL_LABELS,
        )
        for stats in versions:
            labels = {"model": stats.name, "version": stats.version}
            success.add_sample(success.name, labels, stats.success.count)
            for reason in FailureReason:
                failed = stats.failures.get(reason, 0)
                failure.add_sample(failure.name, {**labels, "reason": reason.value}, failed)
            count.add_sample(count.name, labels, stats.inference_count)
            executions.add_sample(executions.name, labels, stats.execution_count)
            for family, field in durations:
                family.add_sample(family.name, labels, getattr(stats, field).ns // 1000)
            buckets, total = _batch_buckets(stats)
            batch_sizes.add_metric([stats.name, stats.version], buckets, total)
        yield from (success, failure, count, executions)
        yield from (family for family, _ in durations)
        yield batch_sizes
        ready = GaugeMetricFamily(
            "mlos_model_ready",
            "1 when the model version can take requests, else 0.",
            labels=_MODEL_LABELS,
        )
        for entry in self._models.all():
            ready.add_metric([entry.record.name, entry.record.version], int(entry.ready))
        yield ready
        if self._pending is not None:
            pending = GaugeMetricFamily(
                "nv_inference_pending_request_count",
                "Requests waiting in the model's scheduler queues for an execution.",
                labels=_MODEL_LABELS,
            )
            for stats in versions:
                depth = self._pending(stats.name, stats.version)
                pending.add_metric([stats.name, stats.version], depth)
            yield pending


def _batch_buckets(stats: ModelStats) -> tuple[list[tuple[str, float]], float]:
    """Cumulative histogram buckets of the executions' batch sizes, and the sum of the sizes."""
    executions = sorted(
        (size, batch.compute_infer.count) for size, batch in stats.batches.items()
    )
    buckets: list[tuple[str, float]] = []
    seen = 0
    index = 0
    for bound in BATCH_BUCKETS:
        while index < len(executions) and executions[index][0] <= bound:
            seen += executions[index][1]
            index += 1
        buckets.append((str(bound), seen))
    buckets.append(("+Inf", sum(count for _, count in executions)))
    return buckets, float(sum(size * count for size, count in executions))


class _Plugins:
    """Per plugin: state, restarts and the resources of its process."""

    def __init__(self, plugins: PluginRegistry, monitor: ResourceMonitor) -> None:
        self._plugins = plugins
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "mlos_plugin_state",
            "1 for the plugin's current lifecycle state, 0 for the others.",
            labels=["plugin", "state"],
        )
        restarts = CounterMetricFamily(
            "mlos_plugin_restarts",
            "Times the supervisor restarted the plugin's process after it died.",
            labels=["plugin"],
        )
        memory = GaugeMetricFamily(
            "mlos_plugin_resident_memory_bytes",
            "Resident memory of the plugin's process.",
            labels=["plugin"],
        )
        threads = GaugeMetricFamily(
            "mlos_plugin_threads", "Threads of the plugin's process.", labels=["plugin"]
        )
        fds = GaugeMetricFamily(
            "mlos_plugin_open_fds", "Open file descriptors of the plugin's process.",
            labels=["plugin"],
        )  # fmt: skip
        pids = set()
        for name, entry in sorted(self._plugins.entries.items()):
            for value, label in _PLUGIN_STATES:
                state.add_metric([name, label], int(entry.state == value))
            restarts.add_metric([name], entry.restarts)
            pid = entry.process.pid if entry.process is not None else 0
            if pid > 0:
                pids.add(pid)
                usage = self._monitor.process(name, pid)
                if usage.rss_bytes:
                    memory.add_metric([name], usage.rss_bytes)
                    threads.add_metric([name], usage.num_threads)
                    fds.add_metric([name], usage.num_fds)
        self._monitor.forget(pids)
        yield from (state, restarts, memory, threads, fds)


class _Server:
    """The server itself: version, uptime, readiness."""

    def __init__(self, version: str, is_ready: Callable[[], bool]) -> None:
        self._version = version
        self._is_ready = is_ready
        self._started = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "mlos_server_info", "The server's version (the value is always 1).",
            labels=["version"],
        )  # fmt: skip
        info.add_metric([self._version], 1)
        uptime = GaugeMetricFamily(
            "mlos_server_uptime_seconds", "Seconds since the server's core was created."
        )
        uptime.add_metric([], time.monotonic() - self._started)
        ready = GaugeMetricFamily(
            "mlos_server_ready", "1 when every plugin that should run is ready, else 0."
        )
        ready.add_metric([], int(self._is_ready()))
        yield from (info, uptime, ready)


class Metrics:
    """Every metric of one server, and the pipeline stage that counts calls."""

    def __init__(
        self,
        stats: StatsBook,
        models: ModelRegistry,
        plugins: PluginRegistry,
        monitor: ResourceMonitor,
        *,
        version: str,
        is_ready: Callable[[], bool],
        pending: Callable[[str, str], int] | None = None,
    ) -> None:
        self.calls = CallCounter()
        """The interceptor to add to the call pipeline (at :data:`mlos.core.calls.ORDER`)."""
        self.registry = CollectorRegistry(auto_describe=False)
        collectors: list[_Collector] = [
            _Server(version, is_ready),
            _Models(stats, models, pending),
            _Plugins(plugins, monitor),
            self.calls,
        ]
        for collector in collectors:
            self.registry.register(collector)

    def render(self) -> bytes:
        """Every metric in Prometheus's text format (:mod:`mlos.core.exposition`)."""
        return render(self.registry)
