"""The resource manager's inventory: host CPU, memory and GPUs, and each plugin process's usage."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import psutil

from mlos_generated import smi_pb2

__all__ = ["ResourceMonitor"]

log = logging.getLogger(__name__)


class ResourceMonitor:
    """Reads host and per-process usage; NVML is used when a GPU is present and never required."""

    def __init__(self) -> None:
        self._processes: dict[int, psutil.Process] = {}
        self._nvml: Any = _init_nvml()
        psutil.cpu_percent(interval=None)  # prime the CPU counter

    def host(self) -> smi_pb2.HostResources:
        """CPU count and load, memory, GPUs."""
        memory = psutil.virtual_memory()
        return smi_pb2.HostResources(
            cpu_count=psutil.cpu_count() or 0,
            cpu_percent=psutil.cpu_percent(interval=None),
            memory_total_bytes=memory.total,
            memory_available_bytes=memory.available,
            gpus=self._gpus(),
        )

    def process(self, plugin: str, pid: int) -> smi_pb2.ProcessResources:
        """Usage of one plugin process (zeros when it is gone)."""
        usage = smi_pb2.ProcessResources(plugin=plugin, pid=pid)
        if pid <= 0:
            return usage
        proc = self._processes.get(pid)
        try:
            if proc is None:
                proc = self._processes[pid] = psutil.Process(pid)
                proc.cpu_percent(interval=None)
            with proc.oneshot():
                usage.rss_bytes = proc.memory_info().rss
                usage.cpu_percent = proc.cpu_percent(interval=None)
                usage.num_threads = proc.num_threads()
                usage.num_fds = proc.num_fds()
        except psutil.Error:
            self._processes.pop(pid, None)
        return usage

    def forget(self, live_pids: set[int]) -> None:
        """Drop cached handles of processes that are gone."""
        for pid in list(self._processes):
            if pid not in live_pids:
                del self._processes[pid]

    def _gpus(self) -> list[smi_pb2.GpuResources]:
        nvml = self._nvml
        if nvml is None:
            return []
        gpus = []
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                name = nvml.nvmlDeviceGetName(handle)
                gpus.append(
                    smi_pb2.GpuResources(
                        index=index,
                        name=name.decode() if isinstance(name, bytes) else str(name),
                        memory_total_bytes=int(memory.total),
                        memory_used_bytes=int(memory.used),
                        utilization_percent=int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                    )
                )
        except Exception as exc:  # NVML errors are many and driver-specific
            log.warning("reading GPUs through NVML failed: %s", exc)
        return gpus

    def close(self) -> None:
        """Release NVML."""
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _init_nvml() -> Any:
    """The pynvml module when an NVIDIA driver answers, else None."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml
