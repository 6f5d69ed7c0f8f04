"""Per-model inference statistics, reported in Triton's statistics format."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mlos_generated import inference_pb2

__all__ = ["ModelStats", "StatsBook"]


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
class ModelStats:
    """Counters of one model version."""

    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: _Duration = field(default_factory=_Duration)
    fail: _Duration = field(default_factory=_Duration)
    compute_input: _Duration = field(default_factory=_Duration)
    compute_infer: _Duration = field(default_factory=_Duration)
    compute_output: _Duration = field(default_factory=_Duration)
    batches: dict[int, tuple[_Duration, _Duration]] = field(default_factory=dict)

    def record_success(self, batch: int, input_ns: int, infer_ns: int) -> None:
        """Count a successful request of `batch` items."""
        # On every inference: plain attribute arithmetic, no method calls.
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.inference_count += batch if batch > 1 else 1
        self.execution_count += 1
        success, compute_input, compute_infer = self.success, self.compute_input, self.compute_infer
        success.count += 1
        success.ns += input_ns + infer_ns
        compute_input.count += 1
        compute_input.ns += input_ns
        compute_infer.count += 1
        compute_infer.ns += infer_ns
        self.compute_output.count += 1
        durations = self.batches.get(batch)
        if durations is None:
            durations = self.batches[batch] = (_Duration(), _Duration())
        durations[0].count += 1
        durations[0].ns += input_ns
        durations[1].count += 1
        durations[1].ns += infer_ns

    def record_failure(self, ns: int) -> None:
        """Count a failed request."""
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.fail.add(ns)

    def to_proto(self) -> inference_pb2.ModelStatistics:
        """Triton's `ModelStatistics` message (REST answers its JSON mapping)."""
        out = inference_pb2.ModelStatistics(
            name=self.name,
            version=self.version,
            last_inference=self.last_inference_ms,
            inference_count=self.inference_count,
            execution_count=self.execution_count,
        )
        stats = out.inference_stats
        for name in ("queue", "cache_hit", "cache_miss"):
            getattr(stats, name).SetInParent()
        for name in ("success", "fail", "compute_input", "compute_infer", "compute_output"):
            duration: _Duration = getattr(self, name)
            getattr(stats, name).MergeFrom(duration.to_proto())
        for size, (compute_input, compute_infer) in sorted(self.batches.items()):
            batch = out.batch_stats.add(batch_size=size)
            batch.compute_input.MergeFrom(compute_input.to_proto())
            batch.compute_infer.MergeFrom(compute_infer.to_proto())
            batch.compute_output.SetInParent()
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

    def drop(self, name: str, version: str) -> None:
        """Forget a removed version."""
        self._stats.pop((name, version), None)
