"""The resource budget: how much memory, how many CPU cores and which GPUs the server may hand
out, and what it has granted to whom.

Two kinds of grants draw on it:

* a **plugin grant** (:meth:`Budget.assign_plugin`), made when a plugin process starts: the GPUs
  it asked for (no two plugins share one unless `gpu_sharing` is on) and the CPUs it asked to
  have to itself (never dedicated to another plugin); plus, once it runs, its own resident
  memory (:meth:`Budget.set_baseline`);
* a **model grant** (:meth:`Budget.admit_model`), made before a model version loads: its
  memory (declared, or estimated and then measured) and CPU cores.

A grant that does not fit raises :class:`~mlos.errors.InsufficientResources` naming each
resource that is short ("memory: needs 600 MiB, 200 MiB free of 1 GiB"); nothing already
granted is taken back to make room. The budget does no I/O: measuring is the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlos.core.gpus import GpuInventory
from mlos.errors import InsufficientResources, InvalidArgument
from mlos.resource_settings import MAX_GPUS, GpuDevice, PluginDemand
from mlos.sandbox.limits import format_cpus
from mlos_generated import smi_pb2

__all__ = ["Budget", "Demand", "ModelGrant", "PluginDemand", "PluginGrant", "human_size"]

MAX_CPUS = 65_536.0


def human_size(size: int) -> str:
    """Bytes in words: "1 GiB" when exact, else "200.5 MiB" (or KiB, or bytes)."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            if size % factor == 0:
                return f"{size // factor} {unit}"
            if unit != "TiB" and size < factor * 10 and unit != "KiB":
                continue  # 1.5 GiB reads better as 1536 MiB
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def _cores(value: float) -> str:
    return f"{value:g} core" + ("" if value == 1 else "s")


@dataclass(frozen=True, slots=True)
class Demand:
    """What one model version asks of the budget; 0 means "nothing declared"."""

    memory_bytes: int = 0
    cpus: float = 0.0
    gpus: int = 0

    @classmethod
    def from_proto(cls, message: smi_pb2.ModelResources) -> Demand:
        """The demand of a registration; InvalidArgument for values out of range."""
        demand = cls(int(message.memory_bytes), float(message.cpus), int(message.gpus))
        demand.check()
        return demand

    def check(self) -> None:
        """InvalidArgument for a value no budget could hold."""
        if not 0 <= self.memory_bytes < 2**63:
            raise InvalidArgument(f"resources.memory_bytes: {self.memory_bytes} is out of range")
        if not math.isfinite(self.cpus) or not 0.0 <= self.cpus <= MAX_CPUS:
            raise InvalidArgument(
                f"resources.cpus: {self.cpus} is not a number of cores from 0 to {MAX_CPUS:g}"
            )
        if not 0 <= self.gpus <= MAX_GPUS:
            raise InvalidArgument(f"resources.gpus: {self.gpus} is not from 0 to {MAX_GPUS}")

    def to_proto(self) -> smi_pb2.ModelResources:
        """As the SMI message."""
        return smi_pb2.ModelResources(
            memory_bytes=self.memory_bytes, cpus=self.cpus, gpus=self.gpus
        )

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, for the registry store."""
        return {k: v for k, v in (("memory_bytes", self.memory_bytes), ("cpus", self.cpus),
                                  ("gpus", self.gpus)) if v}  # fmt: skip

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> Demand:
        """The demand :meth:`to_json` wrote."""
        return cls(
            int(values.get("memory_bytes", 0)),
            float(values.get("cpus", 0.0)),
            int(values.get("gpus", 0)),
        )


@dataclass(slots=True, eq=False)
class PluginGrant:
    """The GPUs and dedicated CPUs of one start of one plugin process."""

    plugin: str
    gpus: tuple[int, ...] = ()
    cpus: tuple[int, ...] = ()
    released: bool = False


@dataclass(slots=True)
class ModelGrant:
    """One model version's share of the budget."""

    name: str
    version: str
    plugin: str
    memory_bytes: int
    cpus: float = 0.0
    gpus: int = 0
    basis: str = "estimated"
    """"declared", "estimated" (until measured) or "measured"."""
    used_bytes: int = 0

    def to_proto(self) -> smi_pb2.ModelResourceUse:
        """As the SMI message of /v1/resources."""
        return smi_pb2.ModelResourceUse(
            name=self.name, version=self.version, plugin=self.plugin, basis=self.basis,
            memory_granted_bytes=self.memory_bytes, memory_used_bytes=self.used_bytes,
            cpus_granted=self.cpus, gpus_granted=self.gpus,
        )  # fmt: skip


@dataclass(slots=True)
class Budget:
    """The server's budget and its grants (see the module documentation)."""

    memory_bytes: int
    cpu_set: tuple[int, ...]
    inventory: GpuInventory
    gpu_sharing: bool = False
    plugin_demands: Mapping[str, PluginDemand] = field(default_factory=dict)
    plugins: list[PluginGrant] = field(default_factory=list)
    baselines: dict[str, int] = field(default_factory=dict)
    models: dict[tuple[str, str], ModelGrant] = field(default_factory=dict)

    # -- totals -------------------------------------------------------------------------------

    @property
    def memory_granted(self) -> int:
        """Bytes granted: every model's grant and every running plugin's own footprint."""
        return sum(g.memory_bytes for g in self.models.values()) + sum(self.baselines.values())

    @property
    def memory_free(self) -> int:
        """Bytes left to grant (0 when the plugins alone already use more than the budget)."""
        return max(0, self.memory_bytes - self.memory_granted)

    @property
    def cpus_granted(self) -> float:
        """Cores reserved by models."""
        return sum(g.cpus for g in self.models.values())

    @property
    def dedicated(self) -> dict[int, str]:
        """CPU → the plugin it is dedicated to."""
        return {cpu: g.plugin for g in self.plugins for cpu in g.cpus}

    def gpu_holders(self) -> dict[int, list[str]]:
        """GPU index → the plugins it is assigned to (in the order they got it)."""
        holders: dict[int, list[str]] = {d.index: [] for d in self.inventory.devices()}
        for grant in self.plugins:
            for index in grant.gpus:
                holders.setdefault(index, []).append(grant.plugin)
        return holders

    def grants_of(self, plugin: str) -> list[PluginGrant]:
        """The live grants of `plugin` (two while one version replaces another)."""
        return [g for g in self.plugins if g.plugin == plugin]

    # -- plugins ------------------------------------------------------------------------------

    def assign_plugin(self, plugin: str) -> PluginGrant:
        """GPUs and dedicated CPUs for a plugin process about to start, as configured for it;
        InsufficientResources when the budget has not enough left."""
        # A process of a version beside the first ("onnx@2.0") or of an upgrade ("onnx+1") has
        # what is configured for the plugin's name (names have neither "@" nor "+").
        name = plugin.partition("@")[0].partition("+")[0]
        demand = self.plugin_demands.get(plugin) or self.plugin_demands.get(name, PluginDemand())
        short: list[str] = []
        gpus = self._pick_gpus(demand.gpus, short)
        cpus = self._pick_cpus(demand.cpus, short)
        if short:
            raise InsufficientResources(
                f"plugin {plugin!r} does not fit the resource budget: {'; '.join(short)}",
                details={"plugin": plugin, "short": "; ".join(short)},
            )
        grant = PluginGrant(plugin, gpus, cpus)
        self.plugins.append(grant)
        return grant

    def _pick_gpus(self, wanted: int, short: list[str]) -> tuple[int, ...]:
        if not wanted:
            return ()
        holders = self.gpu_holders()
        total = len(self.inventory.devices())
        if self.gpu_sharing:
            candidates = sorted(holders, key=lambda index: (len(holders[index]), index))
        else:
            candidates = [index for index in sorted(holders) if not holders[index]]
        if len(candidates) < wanted:
            taken = ", ".join(
                f"{index}: {', '.join(names)}" for index, names in sorted(holders.items()) if names
            )
            text = f"gpus: needs {wanted}, {len(candidates)} free of {total}"
            short.append(text + (f" (assigned: {taken})" if taken else ""))
            return ()
        return tuple(sorted(candidates[:wanted]))

    def _pick_cpus(self, wanted: int, short: list[str]) -> tuple[int, ...]:
        if not wanted:
            return ()
        dedicated = self.dedicated
        free = [cpu for cpu in self.cpu_set if cpu not in dedicated]
        if len(free) < wanted:
            taken = ", ".join(
                f"{format_cpus(tuple(c for c, p in dedicated.items() if p == name))}: {name}"
                for name in sorted(set(dedicated.values()))
            )
            text = (
                f"cpus: needs {wanted} dedicated {'core' if wanted == 1 else 'cores'}, "
                f"{len(free)} free of {len(self.cpu_set)}"
            )
            short.append(text + (f" (dedicated: {taken})" if taken else ""))
            return ()
        return tuple(free[:wanted])

    def shared_cpus(self) -> tuple[int, ...]:
        """The budget's CPUs that no plugin has to itself."""
        dedicated = self.dedicated
        return tuple(cpu for cpu in self.cpu_set if cpu not in dedicated)

    def release_plugin(self, grant: PluginGrant) -> None:
        """Give a plugin process's GPUs and CPUs back (once; later calls do nothing)."""
        if grant.released:
            return
        grant.released = True
        self.plugins = [g for g in self.plugins if g is not grant]

    def set_baseline(self, plugin: str, rss_bytes: int) -> None:
        """Count a running plugin process's own resident memory against the budget."""
        self.baselines[plugin] = max(0, rss_bytes)

    def plugin_stopped(self, plugin: str) -> None:
        """A plugin process is gone: its footprint and its models' grants are given back."""
        self.baselines.pop(plugin, None)
        for key in [k for k, g in self.models.items() if g.plugin == plugin]:
            del self.models[key]

    # -- models -------------------------------------------------------------------------------

    def admit_model(
        self, name: str, version: str, plugin: str, demand: Demand, estimate: int
    ) -> ModelGrant:
        """Grant a model version what it declared (or `estimate` bytes when it declared no
        memory); InsufficientResources, naming each resource that is short, when it does not
        fit. A version that holds a grant already gives it up first."""
        previous = self.models.pop((name, version), None)
        memory = demand.memory_bytes or max(0, estimate)
        short: list[str] = []
        if memory > self.memory_free:
            short.append(
                f"memory: needs {human_size(memory)}, {human_size(self.memory_free)} free of "
                f"{human_size(self.memory_bytes)}"
            )
        cores = float(len(self.cpu_set))
        free_cores = max(0.0, cores - self.cpus_granted)
        if demand.cpus > free_cores + 1e-9:
            short.append(
                f"cpus: needs {_cores(demand.cpus)}, {free_cores:g} free of {cores:g}"
            )
        if demand.gpus:
            held = len({i for g in self.grants_of(plugin) for i in g.gpus})
            if demand.gpus > held:
                short.append(
                    f"gpus: needs {demand.gpus}, plugin {plugin!r} holds {held} "
                    "(plugin_resources assigns GPUs to plugins)"
                )
        if short:
            if previous is not None:
                self.models[(name, version)] = previous
            raise InsufficientResources(
                f"model {name!r} version {version!r} does not fit the resource budget: "
                + "; ".join(short),
                details={"model": name, "version": version, "short": "; ".join(short)},
            )
        grant = ModelGrant(
            name, version, plugin, memory, demand.cpus, demand.gpus,
            basis="declared" if demand.memory_bytes else "estimated",
        )  # fmt: skip
        self.models[(name, version)] = grant
        return grant

    def settle_model(self, name: str, version: str, used_bytes: int) -> None:
        """After the load: record what it was measured using; an estimate becomes that."""
        grant = self.models.get((name, version))
        if grant is None:
            return
        grant.used_bytes = max(0, used_bytes)
        if grant.basis == "estimated":
            grant.memory_bytes = grant.used_bytes
            grant.basis = "measured"

    def release_model(self, name: str, version: str) -> None:
        """Give a model version's grant back (no error when it holds none)."""
        self.models.pop((name, version), None)

    # -- report -------------------------------------------------------------------------------

    def to_proto(self) -> smi_pb2.ResourceBudget:
        """The budget and its totals, as /v1/resources shows them."""
        holders = self.gpu_holders()
        devices: Sequence[GpuDevice] = self.inventory.devices()
        return smi_pb2.ResourceBudget(
            memory_bytes=self.memory_bytes,
            memory_granted_bytes=self.memory_granted,
            memory_free_bytes=self.memory_free,
            cpu_set=format_cpus(self.cpu_set),
            cpus=float(len(self.cpu_set)),
            cpus_granted=self.cpus_granted,
            cpus_dedicated=format_cpus(tuple(sorted(self.dedicated))),
            gpu_source=self.inventory.source,
            gpus=[
                smi_pb2.GpuResources(
                    index=d.index,
                    name=d.name,
                    memory_total_bytes=d.memory_bytes,
                    plugins=holders.get(d.index, []),
                )
                for d in devices
            ],
            gpus_granted=sum(1 for names in holders.values() if names),
            gpu_sharing=self.gpu_sharing,
        )
