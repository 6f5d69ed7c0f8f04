"""The GPU inventory: NVML when a driver answers (never an error without one), or a static list."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mlos.core.gpus import NvmlInventory, StaticInventory, inventory_from_setting
from mlos.resource_settings import GpuDevice, parse_gpu_setting


class NoDriver:
    """The pynvml module on a machine without an NVIDIA driver."""

    def nvmlInit(self) -> None:
        raise RuntimeError("NVML Shared Library Not Found")


class TwoGpus:
    """The pynvml module of a driver that reports two devices."""

    shut_down = False

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return b"Test GPU" if handle == 0 else "Test GPU"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(total=(handle + 1) * 2**30, used=0)

    def nvmlShutdown(self) -> None:
        TwoGpus.shut_down = True


def test_without_a_driver_the_nvml_inventory_is_empty() -> None:
    inventory = NvmlInventory(NoDriver())
    assert list(inventory.devices()) == [] and inventory.source == "none"
    inventory.close()


def test_without_a_gpu_here_the_default_inventory_is_empty_or_lists_real_devices() -> None:
    inventory = NvmlInventory()
    try:
        devices = inventory.devices()
        assert inventory.source == ("nvml" if devices else "none")
        assert [d.index for d in devices] == list(range(len(devices)))
    finally:
        inventory.close()


def test_the_nvml_inventory_lists_what_the_driver_reports() -> None:
    inventory = NvmlInventory(TwoGpus())
    assert list(inventory.devices()) == [
        GpuDevice(0, "Test GPU", 2**30),
        GpuDevice(1, "Test GPU", 2 * 2**30),
    ]
    assert inventory.source == "nvml"
    inventory.close()
    assert TwoGpus.shut_down


def test_the_gpus_setting() -> None:
    assert parse_gpu_setting("auto") == "auto"
    assert parse_gpu_setting("none") == "none"
    assert parse_gpu_setting("1,0") == (GpuDevice(0), GpuDevice(1))
    assert parse_gpu_setting([{"index": 0, "name": "A100", "memory_bytes": "80GiB"}]) == (
        GpuDevice(0, "A100", 80 * 2**30),
    )
    for bad in ("", "x", [0, 0], [{"index": -1}], [{"index": 0, "colour": "green"}], {"a": 1}):
        with pytest.raises(ValueError):
            parse_gpu_setting(bad)
    assert inventory_from_setting("none").devices() == ()
    configured = inventory_from_setting((GpuDevice(3),))
    assert configured.source == "configured" and [d.index for d in configured.devices()] == [3]
    assert StaticInventory().source == "none"
