"""The GPU inventory of the resource budget: which devices there are to assign to plugins.

An inventory lists devices by the index a plugin process sees them under in
`CUDA_VISIBLE_DEVICES`. Two kinds implement :class:`GpuInventory`:

* :class:`NvmlInventory` asks the NVIDIA driver through NVML (the `pynvml` module of
  `nvidia-ml-py`); without the module, a driver or a device it is empty, never an error;
* :class:`StaticInventory` holds a fixed list: devices declared in the configuration (`gpus:`
  with a list), and what tests use.

:func:`inventory_from_setting` picks one from the `gpus` setting
(:func:`mlos.resource_settings.parse_gpu_setting`): `auto` (NVML), `none`, or a list of devices.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from mlos.resource_settings import GpuDevice

__all__ = ["GpuInventory", "NvmlInventory", "StaticInventory", "inventory_from_setting"]

log = logging.getLogger(__name__)


class GpuInventory(Protocol):
    """What the resource budget needs to know about GPUs."""

    @property
    def source(self) -> str:
        """Where the devices come from: "nvml", "configured" or "none"."""

    def devices(self) -> Sequence[GpuDevice]:
        """The devices there are to assign, by index."""

    def close(self) -> None:
        """Release whatever the inventory holds (a driver handle)."""


class StaticInventory:
    """A fixed list of devices (declared in the configuration, or made up by a test)."""

    def __init__(self, devices: Iterable[GpuDevice] = (), *, source: str = "configured") -> None:
        listed = sorted(devices, key=lambda device: device.index)
        indexes = [device.index for device in listed]
        if len(set(indexes)) != len(indexes):
            raise ValueError(f"GPU indexes repeat: {indexes}")
        self._devices = tuple(listed)
        self._source = source if listed else "none"

    @property
    def source(self) -> str:
        """ "configured", or "none" for an empty list."""
        return self._source

    def devices(self) -> Sequence[GpuDevice]:
        """The devices given."""
        return self._devices

    def close(self) -> None:
        """Nothing to release."""


class NvmlInventory:
    """The GPUs the NVIDIA driver reports; none when NVML cannot be used here.

    `nvml` stands in for the `pynvml` module (tests pass an object that fails to initialise);
    by default the module is imported, and its absence means no GPU.
    """

    def __init__(self, nvml: Any = None) -> None:
        self._nvml = _init_nvml(nvml)
        self._devices: tuple[GpuDevice, ...] = self._read()

    @property
    def source(self) -> str:
        """ "nvml" when the driver answered with at least one device, else "none"."""
        return "nvml" if self._devices else "none"

    def devices(self) -> Sequence[GpuDevice]:
        """The devices the driver listed when the inventory was made."""
        return self._devices

    def _read(self) -> tuple[GpuDevice, ...]:
        nvml = self._nvml
        if nvml is None:
            return ()
        found = []
        try:
            for index in range(int(nvml.nvmlDeviceGetCount())):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = nvml.nvmlDeviceGetName(handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                found.append(
                    GpuDevice(
                        index=index,
                        name=name.decode() if isinstance(name, bytes) else str(name),
                        memory_bytes=int(memory.total),
                    )
                )
        except Exception as exc:  # NVML errors are many and driver-specific
            log.warning("listing GPUs through NVML failed: %s", exc)
        return tuple(found)

    def close(self) -> None:
        """Shut NVML down."""
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _init_nvml(nvml: Any) -> Any:
    """The initialised NVML module, or None when there is no module or no driver."""
    try:
        if nvml is None:
            nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:
        return None
    return nvml


def inventory_from_setting(setting: str | tuple[GpuDevice, ...]) -> GpuInventory:
    """The inventory the `gpus` setting asks for."""
    if setting == "auto":
        return NvmlInventory()
    if setting == "none" or isinstance(setting, str):
        return StaticInventory(source="none")
    return StaticInventory(setting)
