"""A model version's scheduling settings: dynamic batching and instances.

The settings arrive in a registration (`RegisterModelRequest.dynamic_batching` and
`instance_count`), are checked here, persisted as JSON with the model
(:attr:`mlos.core.store.ModelRecord.scheduling`), reported back in its status and in Triton's
model configuration, and drive the model's :class:`mlos.core.batcher.Scheduler`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlos.errors import InvalidArgument
from mlos_generated import inference_pb2, smi_pb2

__all__ = ["MAX_INSTANCES", "MAX_PRIORITY_LEVELS", "Scheduling"]

MAX_INSTANCES = 64
"""Most instances one model version may run."""
MAX_PRIORITY_LEVELS = 64
"""Most priority levels one model version may have."""
MAX_QUEUE_DELAY_US = 1_000_000
"""Longest queue delay a registration may ask for (one second: a batch worth waiting longer
for is offline work, not serving)."""


@dataclass(frozen=True, slots=True)
class Scheduling:
    """How the core schedules one model version's requests."""

    batching: bool = False
    """Whether requests are gathered into batches (Triton's `dynamic_batching` is present)."""
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    priority_levels: int = 0
    default_priority_level: int = 0
    max_queue_size: int = 0
    instance_count: int = 1
    instances_named: bool = False
    """Whether the registration named `instance_count`; when it did not (batching alone), the
    plugin serves the model as it serves a plain registration (its own thread settings)."""

    @property
    def levels(self) -> int:
        """Queues the scheduler keeps: one per priority level, at least one."""
        return max(1, self.priority_levels)

    @property
    def default_level(self) -> int:
        """Level (1-based) of a request that names no priority."""
        return self.default_priority_level or self.levels

    # -- registration -------------------------------------------------------------------------

    @classmethod
    def of_request(cls, request: smi_pb2.RegisterModelRequest) -> Scheduling | None:
        """The settings a registration asks for (None: none at all), or InvalidArgument."""
        batching = request.HasField("dynamic_batching")
        if not batching and not request.instance_count:
            return None
        if request.instance_count > MAX_INSTANCES:
            raise InvalidArgument(
                f"instance_count {request.instance_count} is more than {MAX_INSTANCES}"
            )
        config = request.dynamic_batching
        sizes = tuple(int(size) for size in config.preferred_batch_size)
        if any(size < 1 for size in sizes):
            raise InvalidArgument("dynamic_batching.preferred_batch_size must be at least 1")
        if config.max_queue_delay_us > MAX_QUEUE_DELAY_US:
            raise InvalidArgument(
                f"dynamic_batching.max_queue_delay_us must be at most {MAX_QUEUE_DELAY_US}"
            )
        if config.priority_levels > MAX_PRIORITY_LEVELS:
            raise InvalidArgument(
                f"dynamic_batching.priority_levels must be at most {MAX_PRIORITY_LEVELS}"
            )
        if config.default_priority_level > max(1, config.priority_levels):
            raise InvalidArgument(
                f"dynamic_batching.default_priority_level {config.default_priority_level} is "
                f"not one of the {max(1, config.priority_levels)} priority level(s)"
            )
        return cls(
            batching=batching,
            preferred_batch_sizes=tuple(sorted(set(sizes))),
            max_queue_delay_us=int(config.max_queue_delay_us),
            priority_levels=int(config.priority_levels),
            default_priority_level=int(config.default_priority_level),
            max_queue_size=int(config.max_queue_size),
            instance_count=max(1, int(request.instance_count)),
            instances_named=request.instance_count > 0,
        )

    def check(self, metadata: smi_pb2.ModelMetadata) -> None:
        """InvalidArgument when the loaded model cannot be scheduled this way."""
        if not self.batching:
            return
        name = f"{metadata.name}/{metadata.version}"
        if metadata.max_batch_size <= 0:
            raise InvalidArgument(
                f"model {name} has no batch dimension (max_batch_size 0): it cannot use "
                "dynamic_batching"
            )
        too_large = [s for s in self.preferred_batch_sizes if s > metadata.max_batch_size]
        if too_large:
            raise InvalidArgument(
                f"dynamic_batching.preferred_batch_size {too_large[0]} is larger than model "
                f"{name}'s max_batch_size {metadata.max_batch_size}"
            )

    # -- storage and reports ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The stored form (:attr:`mlos.core.store.ModelRecord.scheduling`)."""
        stored: dict[str, Any] = {"instance_count": self.instance_count}
        if self.instances_named:
            stored["instances_named"] = True
        if self.batching:
            stored["dynamic_batching"] = {
                "preferred_batch_size": list(self.preferred_batch_sizes),
                "max_queue_delay_us": self.max_queue_delay_us,
                "priority_levels": self.priority_levels,
                "default_priority_level": self.default_priority_level,
                "max_queue_size": self.max_queue_size,
            }
        return stored

    @classmethod
    def of_json(cls, stored: dict[str, Any]) -> Scheduling:
        """The settings of a stored form written by :meth:`to_json`."""
        batching = stored.get("dynamic_batching")
        instances = max(1, int(stored.get("instance_count", 1)))
        # Stored before the flag existed: a count above one can only have been named.
        named = bool(stored.get("instances_named", instances > 1))
        if batching is None:
            return cls(instance_count=instances, instances_named=True)  # only instances: named
        return cls(
            batching=True,
            preferred_batch_sizes=tuple(int(s) for s in batching.get("preferred_batch_size", ())),
            max_queue_delay_us=int(batching.get("max_queue_delay_us", 0)),
            priority_levels=int(batching.get("priority_levels", 0)),
            default_priority_level=int(batching.get("default_priority_level", 0)),
            max_queue_size=int(batching.get("max_queue_size", 0)),
            instance_count=instances,
            instances_named=named,
        )

    def to_status(self, status: smi_pb2.ModelStatus) -> None:
        """Report the settings in a model status message."""
        status.instance_count = self.instance_count
        if self.batching:
            status.dynamic_batching.SetInParent()
            config = status.dynamic_batching
            config.preferred_batch_size.extend(self.preferred_batch_sizes)
            config.max_queue_delay_us = self.max_queue_delay_us
            config.priority_levels = self.priority_levels
            config.default_priority_level = self.default_priority_level
            config.max_queue_size = self.max_queue_size

    def to_model_config(self, config: inference_pb2.ModelConfig, gpu: bool = False) -> None:
        """Report the settings in Triton's model configuration (`dynamic_batching`,
        `instance_group`: KIND_GPU when the model runs on a GPU), the way Triton's own
        configuration reads."""
        group = inference_pb2.ModelInstanceGroup
        config.instance_group.add(
            name=config.name, kind=group.KIND_GPU if gpu else group.KIND_CPU,
            count=self.instance_count,
        )  # fmt: skip
        if self.batching:
            batching = config.dynamic_batching
            batching.SetInParent()
            batching.preferred_batch_size.extend(self.preferred_batch_sizes)
            batching.max_queue_delay_microseconds = self.max_queue_delay_us
            batching.priority_levels = self.priority_levels
            batching.default_priority_level = (
                self.default_level if self.priority_levels else 0
            )
            batching.default_queue_policy.max_queue_size = self.max_queue_size
