"""Per-model inference statistics, reported in Triton's statistics format.

One :class:`ModelStats` per model version counts every request the engine answers, the way
Triton's statistics extension does: each successful request adds one to `success`, `queue`,
`compute_input`, `compute_infer` and `compute_output` with the time it spent in each phase, and
one execution of its batch size; each failed request adds one to `fail`, and one to its failure
reason (:class:`FailureReason`). `/v2/models/stats`, gRPC `ModelStatistics` and the Prometheus
metrics (:mod:`mlos.metrics`) all read these counters, so they always agree.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field

from mlos.errors import MLOSError, StatusCode, Unavailable
from mlos_generated import inference_pb2

__all__ = ["FailureReason", "ModelStats", "QueueFull", "StatsBook", "failure_reason"]


class FailureReason(enum.Enum):
    """Why a request failed, in Triton's words (the `reason` label of its failure metric)."""

    REJECTED = "REJECTED"
    """Refused before it ran: no room for it (resource exhausted)."""
    CANCELED = "CANCELED"
    """The caller went away or its deadline passed."""
    BACKEND = "BACKEND"
    """The plugin process failed it, or could not be reached."""
    OTHER = "OTHER"
    """Anything else, such as inputs that do not match the model."""


class QueueFull(Unavailable):
    """A model's scheduler queue had no room for the request: UNAVAILABLE to the caller (503),
    counted as REJECTED, as Triton counts a request refused by a full queue."""


def failure_reason(error: BaseException, in_backend: bool) -> FailureReason:
    """The reason of a failed request; `in_backend` when it failed in the plugin exchange."""
    if isinstance(error, asyncio.CancelledError):
        return FailureReason.CANCELED
    if isinstance(error, QueueFull):
        return FailureReason.REJECTED
    if isinstance(error, MLOSError):
        if error.code is StatusCode.DEADLINE_EXCEEDED:
            return FailureReason.CANCELED
        if error.code is StatusCode.RESOURCE_EXHAUSTED and not in_backend:
            return FailureReason.REJECTED
    return FailureReason.BACKEND if in_backend else FailureReason.OTHER


@dataclass(slots=True)
class _Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns

    def to_proto(self) -> inference_pb2.StatisticDuration:
        return inference_pb2.StatisticDuration(count=self.count, ns=self.ns)


@dataclass(slots=True)
class BatchStats:
    """Executions of one batch size and the compute time they took."""

    compute_input: _Duration = field(default_factory=_Duration)
    compute_infer: _Duration = field(default_factory=_Duration)
    compute_output: _Duration = field(default_factory=_Duration)


@dataclass(slots=True)
class ModelStats:
    """Counters of one model version."""

    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: _Duration = field(default_factory=_Duration)
    fail: _Duration = field(default_factory=_Duration)
    queue: _Duration = field(default_factory=_Duration)
    compute_input: _Duration = field(default_factory=_Duration)
    compute_infer: _Duration = field(default_factory=_Duration)
    compute_output: _Duration = field(default_factory=_Duration)
    batches: dict[int, BatchStats] = field(default_factory=dict)
    failures: dict[FailureReason, int] = field(default_factory=dict)
    """Failed requests by reason (their sum is `fail.count`)."""

    def record_success(
        self, batch: int, queue_ns: int, input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        """Count a successful request of `batch` items and the time of each of its phases."""
        # On every inference: plain attribute arithmetic, few method calls.
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.inference_count += batch if batch > 1 else 1
        success = self.success
        success.count += 1
        success.ns += queue_ns + input_ns + infer_ns + output_ns
        queue, compute_input, compute_infer, compute_output = (
            self.queue,
            self.compute_input,
            self.compute_infer,
            self.compute_output,
        )
        queue.count += 1
        queue.ns += queue_ns
        compute_input.count += 1
        compute_input.ns += input_ns
        compute_infer.count += 1
        compute_infer.ns += infer_ns
        compute_output.count += 1
        compute_output.ns += output_ns
        self.record_execution(batch, input_ns, infer_ns, output_ns)

    def record_request(
        self, batch: int, queue_ns: int, input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        """Count a successful request that ran in a batch with others: its own queue time and
        the durations of the execution it was part of (the execution itself is counted once,
        by :meth:`record_execution`)."""
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.inference_count += batch if batch > 1 else 1
        self.success.add(queue_ns + input_ns + infer_ns + output_ns)
        self.queue.add(queue_ns)
        self.compute_input.add(input_ns)
        self.compute_infer.add(infer_ns)
        self.compute_output.add(output_ns)

    def record_execution(self, batch: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        """Count one execution of the model on a batch of `batch` items."""
        self.execution_count += 1
        durations = self.batches.get(batch)
        if durations is None:
            durations = self.batches[batch] = BatchStats()
        durations.compute_input.add(input_ns)
        durations.compute_infer.add(infer_ns)
        durations.compute_output.add(output_ns)

    def record_failure(self, ns: int, reason: FailureReason = FailureReason.OTHER) -> None:
        """Count a failed request that took `ns` before it failed."""
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.fail.add(ns)
        self.failures[reason] = self.failures.get(reason, 0) + 1

    def to_proto(self) -> inference_pb2.ModelStatistics:
        """Triton's `ModelStatistics` message (REST answers its JSON mapping)."""
        out = inference_pb2.ModelStatistics(
            name=self.name, version=self.version, last_inference=self.last_inference_ms,
            inference_count=self.inference_count, execution_count=self.execution_count,
        )  # fmt: skip
        stats = out.inference_stats
        for name in ("cache_hit", "cache_miss"):
            getattr(stats, name).SetInParent()
        for name in ("success", "fail", "queue", "compute_input", "compute_infer",
                     "compute_output"):
            duration: _Duration = getattr(self, name)
            getattr(stats, name).MergeFrom(duration.to_proto())
        for size, batch_stats in sorted(self.batches.items()):
            batch = out.batch_stats.add(batch_size=size)
            batch.compute_input.MergeFrom(batch_stats.compute_input.to_proto())
            batch.compute_infer.MergeFrom(batch_stats.compute_infer.to_proto())
            batch.compute_output.MergeFrom(batch_stats.compute_output.to_proto())
        return out


class StatsBook:
    """Statistics of every model version, created on first use."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], ModelStats] = {}

    def of(self, name: str, version: str) -> ModelStats:
        """The counters of one version."""
        key = (name, version)
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = ModelStats(name, version)
        return stats

    def find(self, name: str, version: str) -> ModelStats | None:
        """The counters of one version, or None before its first request."""
        return self._stats.get((name, version))

    def all(self) -> list[ModelStats]:
        """The counters of every version that has them, by name and version."""
        return [self._stats[key] for key in sorted(self._stats)]

    def drop(self, name: str, version: str) -> None:
        """Forget a removed version."""
        self._stats.pop((name, version), None)
