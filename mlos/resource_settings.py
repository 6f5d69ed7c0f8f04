"""The resource budget's settings: what a plugin asks for (GPUs, dedicated cores) and the GPUs
a configuration may declare. Plain values, read by :mod:`mlos.config` and used by the resource
manager (:mod:`mlos.core.budget`, :mod:`mlos.core.gpus`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlos.sandbox.limits import parse_size

__all__ = ["MAX_GPUS", "GpuDevice", "PluginDemand", "parse_gpu_setting"]

MAX_GPUS = 1024


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One GPU: its index (as `CUDA_VISIBLE_DEVICES` names it), model name and memory."""

    index: int
    name: str = ""
    memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class PluginDemand:
    """What one plugin process asks of the budget: GPUs, and CPU cores to itself."""

    gpus: int = 0
    cpus: int = 0

    @classmethod
    def from_mapping(cls, mapping: Any) -> PluginDemand:
        """From a configuration entry such as `{gpus: 1, cpus: 2}`; ValueError if invalid."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{mapping!r} is not a mapping such as {{gpus: 1, cpus: 2}}")
        unknown = set(mapping) - {"gpus", "cpus"}
        if unknown:
            raise ValueError(f"unknown resource {sorted(unknown)[0]!r} (known: gpus, cpus)")
        values = {}
        for key in ("gpus", "cpus"):
            raw = mapping.get(key, 0)
            if isinstance(raw, str) and raw.isdigit():
                raw = int(raw)
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_GPUS:
                raise ValueError(f"{key}: {raw!r} is not a whole number from 0 to {MAX_GPUS}")
            values[key] = raw
        return cls(**values)


def parse_gpu_setting(value: Any) -> str | tuple[GpuDevice, ...]:
    """The `gpus` setting: "auto", "none", or devices (a YAML list of indexes or mappings with
    `index`, `name`, `memory_bytes`; or text such as "0,1"). ValueError for anything else."""
    if isinstance(value, str):
        text = value.strip()
        if text in ("auto", "none"):
            return text
        value = [part.strip() for part in text.split(",") if part.strip()]
        if not all(part.isdigit() for part in value):
            raise ValueError(f"{text!r} is not auto, none or a list of GPU indexes such as 0,1")
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{value!r} is not auto, none or a list of GPUs")
    devices = [_device(item) for item in value]
    indexes = [device.index for device in devices]
    if len(set(indexes)) != len(indexes):
        raise ValueError(f"GPU indexes repeat: {indexes}")
    return tuple(sorted(devices, key=lambda device: device.index))


def _device(item: Any) -> GpuDevice:
    if isinstance(item, Mapping):
        unknown = set(item) - {"index", "name", "memory_bytes"}
        if unknown:
            raise ValueError(f"unknown GPU field {sorted(unknown)[0]!r}")
        index, name, memory = item.get("index"), item.get("name", ""), item.get("memory_bytes", 0)
    else:
        index, name, memory = item, "", 0
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 1024:
        raise ValueError(f"{item!r}: a GPU index is a whole number from 0 to 1023")
    if not isinstance(name, str):
        raise ValueError(f"{item!r}: a GPU name is text")
    try:
        memory_bytes = parse_size(memory) if memory else 0
    except ValueError as exc:
        raise ValueError(f"{item!r}: memory_bytes: {exc}") from None
    return GpuDevice(index, name, memory_bytes)
