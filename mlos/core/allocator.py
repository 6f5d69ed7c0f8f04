"""The resource manager's allocator: the :class:`~mlos.core.budget.Budget` wired to plugin
processes and model loads.

* Before a plugin process starts, :meth:`Allocator.assign` grants it its GPUs and dedicated CPUs
  (as `plugin_resources` configures): `CUDA_VISIBLE_DEVICES` in its environment names its GPUs
  (empty for a plugin that asked for none while the server has GPUs), and its CPU affinity is
  its dedicated CPUs, or the budget's CPUs that no plugin has to itself. The grant goes back
  when the process ends (:meth:`Allocator.release`).
* Once it runs, its own resident memory counts against the budget (:meth:`plugin_started`).
* Before a model version loads, :meth:`admit` grants it its declared resources, or an estimate
  (its files' size times the framework's factor, `memory_factors`); after the load the
  plugin's resident memory growth is recorded, and replaces an estimate (:meth:`loaded`).
  Unloading, removing, or losing its plugin gives the grant back.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import psutil

from mlos.core.budget import Budget, Demand, ModelGrant, PluginDemand, PluginGrant
from mlos.core.gpus import inventory_from_setting
from mlos.resource_settings import GpuDevice
from mlos.sandbox.limits import Limits, format_cpus
from mlos_generated import smi_pb2

__all__ = ["CUDA_VISIBLE_DEVICES", "DEFAULT_MEMORY_FACTORS", "Allocator", "files_size"]

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"

DEFAULT_MEMORY_FACTORS: dict[str, float] = {
    "onnx": 2.0,
    "torch": 2.0,
    "tensorflow": 3.0,
    "*": 2.0,
}
"""Model memory as a multiple of its files' size, by plugin (framework) name; `*` otherwise."""


def files_size(path: Path) -> int:
    """Bytes of a model file, or of every file under a model directory (links not followed)."""
    try:
        if not path.is_dir():
            return path.stat().st_size
        total = 0
        for root, _dirs, files in os.walk(path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    continue
        return total
    except OSError:
        return 0


_STATM = Path("/proc/self/statm").is_file()
"""Whether the kernel shows each process's memory in `/proc/PID/statm` (Linux)."""
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if _STATM else 0


def rss_of(pid: int) -> int:
    """Resident memory of a process in bytes (0 when it is gone)."""
    if pid <= 0:
        return 0
    if _STATM:
        # One small read: psutil.Process() reads /proc/PID/stat first (its identity), which
        # costs as much again, on every model load.
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * _PAGE_BYTES
        except (OSError, ValueError, IndexError):
            return 0
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


class Allocator:
    """Grants from one :class:`Budget` (see the module documentation)."""

    def __init__(self, budget: Budget, memory_factors: Mapping[str, float] | None = None) -> None:
        self.budget = budget
        self.memory_factors = {**DEFAULT_MEMORY_FACTORS, **(memory_factors or {})}

    @classmethod
    def create(
        cls,
        *,
        memory_bytes: int = 0,
        cpus: tuple[int, ...] = (),
        gpus: str | tuple[GpuDevice, ...] = "auto",
        gpu_sharing: bool = False,
        plugin_resources: Mapping[str, PluginDemand] | None = None,
        memory_factors: Mapping[str, float] | None = None,
    ) -> Allocator:
        """The allocator of a budget as configured; 0 and () stand for the machine's memory and
        the CPUs this process may run on, `gpus` for the `gpus` setting (auto: NVML)."""
        if not cpus:
            cpus = (
                tuple(sorted(os.sched_getaffinity(0)))
                if hasattr(os, "sched_getaffinity")
                else tuple(range(os.cpu_count() or 1))
            )
        budget = Budget(
            memory_bytes=memory_bytes or int(psutil.virtual_memory().total),
            cpu_set=cpus,
            inventory=inventory_from_setting(gpus),
            gpu_sharing=gpu_sharing,
            plugin_demands=dict(plugin_resources or {}),
        )
        return cls(budget, memory_factors)

    def close(self) -> None:
        """Release the GPU inventory (NVML)."""
        self.budget.inventory.close()

    # -- plugin processes (called by the containment at every start) --------------------------

    def assign(self, plugin: str, limits: Limits) -> tuple[PluginGrant, Limits, dict[str, str]]:
        """The grant, the limits and the extra environment of a plugin process about to start;
        InsufficientResources when its GPUs or dedicated CPUs are not to be had."""
        grant = self.budget.assign_plugin(plugin)
        env: dict[str, str] = {}
        if grant.gpus or self.budget.inventory.devices():
            env[CUDA_VISIBLE_DEVICES] = ",".join(str(index) for index in grant.gpus)
        if grant.cpus:
            limits = dataclasses.replace(limits, cpus=grant.cpus)
        elif not limits.cpus and self.budget.dedicated:
            shared = self.budget.shared_cpus()
            if shared:
                limits = dataclasses.replace(limits, cpus=shared)
        return grant, limits, env

    def release(self, grant: PluginGrant) -> None:
        """A plugin process ended: its GPUs and CPUs go back."""
        self.budget.release_plugin(grant)

    def describe(self, grant: PluginGrant) -> str:
        """The grant in words, for the plugin's `sandbox` text."""
        parts = []
        if grant.gpus:
            parts.append(f"gpus {','.join(str(i) for i in grant.gpus)}")
        if grant.cpus:
            parts.append(f"dedicated cpus {format_cpus(grant.cpus)}")
        return "; ".join(parts)

    def plugin_started(self, plugin: str, pid: int) -> None:
        """Count a plugin process's own footprint, measured now that it runs."""
        self.budget.set_baseline(plugin, rss_of(pid))

    def plugin_stopped(self, plugin: str) -> None:
        """A plugin process is gone, and its models with it."""
        self.budget.plugin_stopped(plugin)

    # -- model loads --------------------------------------------------------------------------

    def factor(self, plugin: str, framework: str = "") -> float:
        """The memory factor for models of `plugin` (or of its framework's name)."""
        for key in (plugin, framework):
            if key and key in self.memory_factors:
                return self.memory_factors[key]
        return self.memory_factors["*"]

    def admit(
        self,
        name: str,
        version: str,
        plugin: str,
        path: Path,
        demand: Demand,
        framework: str = "",
        copies: int = 1,
    ) -> ModelGrant:
        """Grant a model version its resources before it loads (InsufficientResources if they
        do not fit); without declared memory the estimate counts `copies` of the model (one
        per instance: plugins load a copy per instance unless they share one, and the
        measurement after the load settles it either way)."""
        estimate = 0
        if not demand.memory_bytes:
            factor = self.factor(plugin, framework)
            estimate = int(files_size(path) * factor * max(1, copies))
        return self.budget.admit_model(name, version, plugin, demand, estimate)

    def loaded(self, name: str, version: str, rss_before: int, pid: int) -> None:
        """Record what a load made the plugin's resident memory grow by."""
        self.budget.settle_model(name, version, rss_of(pid) - rss_before)

    def unloaded(self, name: str, version: str) -> None:
        """A model version is out of memory: its grant goes back."""
        self.budget.release_model(name, version)

    # -- report -------------------------------------------------------------------------------

    def granted(self, usage: smi_pb2.ProcessResources) -> smi_pb2.ProcessResources:
        """A plugin process's usage with what it was granted beside it."""
        budget = self.budget
        plugin = usage.plugin
        baseline = budget.baselines.get(plugin, 0)
        models = sum(g.memory_bytes for g in budget.models.values() if g.plugin == plugin)
        usage.baseline_bytes = baseline
        usage.memory_granted_bytes = baseline + models
        grants = budget.grants_of(plugin)
        usage.cpus_granted = format_cpus(tuple(sorted({c for g in grants for c in g.cpus})))
        usage.gpus_granted.extend(sorted({i for g in grants for i in g.gpus}))
        return usage

    def models(self) -> list[smi_pb2.ModelResourceUse]:
        """Every model version's grant, by name and version."""
        return [self.budget.models[key].to_proto() for key in sorted(self.budget.models)]
