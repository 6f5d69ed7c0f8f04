"""Control groups (cgroup v2) for plugin processes, where the host lets the server create them.

A :class:`CgroupTree` is a cgroup v2 directory the server may create cgroups under: one given
in the configuration (`plugin_cgroup: /sys/fs/cgroup/mlos.slice`, delegated to the server's
user), or, with `plugin_cgroup: auto`, the server's own cgroup when it is the root of its
hierarchy (a container or VM that gives the server the whole tree). Anywhere else the kernel's
"no internal processes" rule keeps a process from handing controllers to child cgroups of its
own cgroup, and the server falls back to resource limits (:mod:`mlos.sandbox.confine`).

Under the tree the server makes `mlos-<pid>/`, and in it one cgroup per plugin process start
(`<plugin>-<n>`) with `memory.max` (and `memory.swap.max` 0, `memory.oom.group` 1), `pids.max`,
`cpu.max` and `cpu.weight` as the plugin's limits say. The plugin process joins it itself before
any plugin code runs. When the process has ended, :meth:`Cgroup.oom_kills` tells whether the
kernel killed it for memory, and :meth:`Cgroup.remove` kills anything left and removes it.
`mlos-<pid>` directories of servers that no longer run are removed by :meth:`CgroupTree.sweep`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import time
from pathlib import Path

from mlos.sandbox.limits import Limits

__all__ = ["CONTROLLERS", "Cgroup", "CgroupTree"]

log = logging.getLogger(__name__)

CONTROLLERS = ("memory", "pids", "cpu")
"""The controllers the server uses, where they are available."""
CPU_PERIOD_US = 100_000
_PREFIX = "mlos-"
_sequence = itertools.count(1)


class CgroupTree:
    """A cgroup v2 directory under which the server creates one cgroup per plugin process."""

    def __init__(self, root: Path, controllers: frozenset[str]) -> None:
        self.root = root
        self.controllers = controllers
        self._own: Path | None = None

    @classmethod
    def find(cls, setting: str | Path = "auto") -> CgroupTree | None:
        """The tree to use for `setting` ("auto", "off", or a cgroup directory); None: none."""
        if str(setting) == "off":
            return None
        if str(setting) == "auto":
            root = _own_root_cgroup()
            if root is None:
                return None
        else:
            root = Path(setting)
            if not (root / "cgroup.controllers").is_file():
                log.warning("plugin_cgroup %s is not a cgroup v2 directory; using rlimits", root)
                return None
        if not os.access(root, os.W_OK):
            return None
        controllers = _enable(root, CONTROLLERS)
        if not controllers:
            return None
        return cls(root, controllers)

    @property
    def own(self) -> Path:
        """This server's directory in the tree, `mlos-<pid>` (created on first use)."""
        if self._own is None:
            own = self.root / f"{_PREFIX}{os.getpid()}"
            own.mkdir(exist_ok=True)
            self.controllers = _enable(own, tuple(self.controllers))
            self._own = own
        return self._own

    def create(self, name: str, limits: Limits) -> Cgroup:
        """A new cgroup for one process of plugin `name`, with `limits` written into it.

        OSError when the cgroup cannot be made; the caller falls back to resource limits.
        """
        path = self.own / f"{name}-{next(_sequence)}"
        path.mkdir()
        cgroup = Cgroup(path, self.controllers)
        try:
            cgroup.apply(limits)
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def close(self) -> None:
        """Remove this server's directory (its cgroups are removed as their processes end)."""
        if self._own is not None:
            for child in self._own.iterdir():
                if child.is_dir():
                    Cgroup(child, self.controllers).remove()
            _rmdir(self._own)
            self._own = None

    def sweep(self) -> list[str]:
        """Remove the `mlos-<pid>` directories of servers that no longer run; their names."""
        removed = []
        with contextlib.suppress(OSError):
            for path in self.root.glob(f"{_PREFIX}*"):
                pid = path.name.removeprefix(_PREFIX)
                if not pid.isdigit() or _alive(int(pid)) or not path.is_dir():
                    continue
                for child in path.iterdir():
                    if child.is_dir():
                        Cgroup(child, self.controllers).remove()
                if _rmdir(path):
                    removed.append(path.name)
        return removed


class Cgroup:
    """The cgroup of one plugin process."""

    def __init__(self, path: Path, controllers: frozenset[str]) -> None:
        self.path = path
        self.controllers = controllers
        self.enforced: list[str] = []
        """What this cgroup enforces, in words ("memory", "pids", "cpu quota", "cpu weight")."""

    def apply(self, limits: Limits) -> None:
        """Write `limits` into the cgroup's files, for the controllers it has."""
        if limits.memory_bytes and "memory" in self.controllers:
            self._write("memory.max", str(limits.memory_bytes))
            self._write("memory.swap.max", "0", optional=True)
            self._write("memory.oom.group", "1", optional=True)
            self.enforced.append("memory")
        if limits.processes and "pids" in self.controllers:
            self._write("pids.max", str(limits.processes))
            self.enforced.append("pids")
        if limits.cpu_quota and "cpu" in self.controllers:
            quota = max(1000, round(limits.cpu_quota * CPU_PERIOD_US))
            self._write("cpu.max", f"{quota} {CPU_PERIOD_US}")
            self.enforced.append("cpu quota")
        if limits.cpu_weight and "cpu" in self.controllers:
            self._write("cpu.weight", str(limits.cpu_weight))
            self.enforced.append("cpu weight")

    def _write(self, name: str, value: str, *, optional: bool = False) -> None:
        path = self.path / name
        if optional and not path.exists():
            return
        path.write_text(value)

    @property
    def procs(self) -> Path:
        """The file a process writes its pid into to join the cgroup."""
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int:
        """How many times the kernel killed a process of this cgroup for its memory limit."""
        try:
            text = (self.path / "memory.events").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def remove(self) -> None:
        """Kill whatever still runs in the cgroup, then remove it."""
        if not self.path.exists():
            return
        kill = self.path / "cgroup.kill"
        for _ in range(50):
            pids = self._pids()
            if not pids:
                break
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
            else:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        _rmdir(self.path)

    def _pids(self) -> list[int]:
        try:
            return [int(line) for line in self.procs.read_text().split()]
        except (OSError, ValueError):
            return []


def _own_root_cgroup() -> Path | None:
    """The server's cgroup v2 directory when it is the root of the hierarchy the server sees."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    mount = _cgroup2_mount()
    if own != "/" or mount is None:
        return None
    return mount


def _cgroup2_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        if rest.split(" ", 1)[0] == "cgroup2":
            return Path(fields.split()[4])
    return None


def _enable(path: Path, wanted: tuple[str, ...]) -> frozenset[str]:
    """Enable `wanted` controllers for the children of `path` where possible; those enabled."""
    try:
        available = set((path / "cgroup.controllers").read_text().split())
        enabled = set((path / "cgroup.subtree_control").read_text().split())
    except OSError:
        return frozenset()
    for controller in wanted:
        if controller in available and controller not in enabled:
            try:
                (path / "cgroup.subtree_control").write_text(f"+{controller}")
            except OSError:
                continue
            enabled.add(controller)
    return frozenset(enabled & set(wanted))


def _rmdir(path: Path) -> bool:
    for _ in range(20):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)  # the kernel frees a cgroup a moment after its last process
    log.warning("cannot remove cgroup %s", path)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
