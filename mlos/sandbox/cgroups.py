"""Control groups for plugin processes, where the host lets the server create them.

A :class:`CgroupTree` knows, per controller (`memory`, `pids`, `cpu`), a cgroup directory the
server may create cgroups under:

* `plugin_cgroup: /sys/fs/cgroup/mlos.slice` — a cgroup v2 directory delegated to the server's
  user (systemd's `Delegate=yes`, or made by an administrator);
* `plugin_cgroup: auto` — the server's own cgroup, when it is the root of its hierarchy (a
  container or VM that hands the server the whole tree): cgroup v2, or on a host still on
  cgroup v1, each v1 hierarchy whose root the server is in. Below the root, the kernel keeps a
  v2 process from handing controllers to children of its own cgroup, and a cgroup below someone
  else's is theirs to manage: the server then falls back to resource limits
  (:mod:`mlos.sandbox.confine`);
* `plugin_cgroup: off` — no cgroups.

Under each directory the server makes `mlos-<pid>/`, and in it one cgroup per plugin process
start (`<plugin>-<n>`), with the plugin's limits written into it: v2 `memory.max` (with
`memory.swap.max` 0 and `memory.oom.group` 1), `pids.max`, `cpu.max`, `cpu.weight`; v1
`memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`), `pids.max`, `cpu.cfs_quota_us`,
`cpu.shares`. The plugin process joins it itself, before any plugin code runs. When the process
has ended, :meth:`Cgroup.oom_kills` says whether the kernel killed it for memory, and
:meth:`Cgroup.remove` kills anything left and removes the cgroup. `mlos-<pid>` directories of
servers that no longer run are removed by :meth:`CgroupTree.sweep`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import time
from pathlib import Path

from mlos.processes import pid_alive
from mlos.sandbox.limits import Limits

__all__ = ["CONTROLLERS", "Cgroup", "CgroupTree"]

log = logging.getLogger(__name__)

CONTROLLERS = ("memory", "pids", "cpu")
"""The controllers the server uses, where they are available."""
CPU_PERIOD_US = 100_000
_PREFIX = "mlos-"
_sequence = itertools.count(1)


class CgroupTree:
    """Where the server creates one cgroup per plugin process (see the module documentation)."""

    def __init__(self, roots: dict[str, Path], version: int) -> None:
        self.roots = dict(roots)
        """The directory to create cgroups under, by controller."""
        self.version = version
        self._own: dict[Path, Path] = {}

    @property
    def controllers(self) -> frozenset[str]:
        """The controllers available."""
        return frozenset(self.roots)

    @classmethod
    def find(cls, setting: str | Path = "auto") -> CgroupTree | None:
        """The tree for `setting` ("auto", "off", or a cgroup v2 directory); None: no cgroups."""
        if str(setting) == "off":
            return None
        if str(setting) != "auto":
            root = Path(setting)
            if not (root / "cgroup.controllers").is_file():
                log.warning("plugin_cgroup %s is not a cgroup v2 directory; using rlimits", root)
                return None
            return cls._v2(root)
        mounts = _mounts()
        own = _own_cgroups()
        v2 = mounts.get("")
        if v2 is not None and own.get("") == "/":
            tree = cls._v2(v2)
            if tree is not None:
                return tree
        roots = {
            controller: mounts[controller]
            for controller in CONTROLLERS
            if controller in mounts
            and own.get(controller) == "/"
            and os.access(mounts[controller], os.W_OK)
        }
        return cls(roots, 1) if roots else None

    @classmethod
    def _v2(cls, root: Path) -> CgroupTree | None:
        if not os.access(root, os.W_OK):
            return None
        enabled = _enable(root, CONTROLLERS)
        return cls(dict.fromkeys(enabled, root), 2) if enabled else None

    def _own_dir(self, root: Path) -> Path:
        """This server's directory under `root`, `mlos-<pid>` (created on first use)."""
        own = self._own.get(root)
        if own is None:
            own = root / f"{_PREFIX}{os.getpid()}"
            own.mkdir(exist_ok=True)
            if self.version == 2:
                enabled = _enable(own, tuple(c for c, r in self.roots.items() if r == root))
                self.roots = {c: r for c, r in self.roots.items() if c in enabled}
            self._own[root] = own
        return own

    def create(self, name: str, limits: Limits) -> Cgroup:
        """A new cgroup for one process of plugin `name`, with `limits` written into it.

        OSError when the cgroup cannot be made; the caller falls back to resource limits.
        """
        for root in {self.roots[c] for c in _wanted(limits) & self.controllers}:
            self._own_dir(root)  # enables the controllers below it (v2), or drops them
        wanted = _wanted(limits) & self.controllers
        leaf = f"{name}-{next(_sequence)}"
        paths: dict[str, Path] = {}
        cgroup = Cgroup(paths, self.version)
        try:
            for controller in sorted(wanted):
                directory = self._own_dir(self.roots[controller]) / leaf
                if directory not in paths.values():
                    directory.mkdir()
                paths[controller] = directory
            cgroup.apply(limits)
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def close(self) -> None:
        """Remove this server's directories (what runs in them is killed)."""
        for own in self._own.values():
            _remove_tree(own, self.version)
        self._own.clear()

    def sweep(self) -> list[str]:
        """Remove the `mlos-<pid>` directories of servers that no longer run; their paths."""
        removed = []
        for root in set(self.roots.values()):
            with contextlib.suppress(OSError):
                for path in root.glob(f"{_PREFIX}*"):
                    pid = path.name.removeprefix(_PREFIX)
                    dead = pid.isdigit() and not pid_alive(int(pid)) and path.is_dir()
                    if dead and _remove_tree(path, self.version):
                        removed.append(str(path))
        return removed


class Cgroup:
    """The cgroup of one plugin process: one directory (v2), or one per controller (v1)."""

    def __init__(self, paths: dict[str, Path], version: int) -> None:
        self.paths = paths
        self.version = version
        self.enforced: list[str] = []
        """What this cgroup enforces, in words ("memory", "pids", "cpu quota", "cpu weight")."""

    @property
    def directories(self) -> list[Path]:
        """The cgroup's directories, without repeats."""
        return sorted(set(self.paths.values()))

    @property
    def procs(self) -> list[Path]:
        """The files a process writes its pid into to join the cgroup."""
        return [directory / "cgroup.procs" for directory in self.directories]

    def describe(self) -> str:
        """"cgroup v2 /sys/fs/cgroup/mlos-1/onnx-1: memory, pids"."""
        where = ", ".join(str(d) for d in self.directories)
        return f"cgroup v{self.version} {where}: {', '.join(self.enforced)}"

    def apply(self, limits: Limits) -> None:
        """Write `limits` into the cgroup's files, for the controllers it has."""
        v2 = self.version == 2
        if limits.memory_bytes and "memory" in self.paths:
            if v2:
                self._write("memory", "memory.max", str(limits.memory_bytes))
                self._write("memory", "memory.swap.max", "0", optional=True)
                self._write("memory", "memory.oom.group", "1", optional=True)
            else:
                self._write("memory", "memory.limit_in_bytes", str(limits.memory_bytes))
                self._write(
                    "memory", "memory.memsw.limit_in_bytes", str(limits.memory_bytes), optional=True
                )
            self.enforced.append("memory")
        if limits.processes and "pids" in self.paths:
            self._write("pids", "pids.max", str(limits.processes))
            self.enforced.append("pids")
        if limits.cpu_quota and "cpu" in self.paths:
            quota = max(1000, round(limits.cpu_quota * CPU_PERIOD_US))
            if v2:
                self._write("cpu", "cpu.max", f"{quota} {CPU_PERIOD_US}")
            else:
                self._write("cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US))
                self._write("cpu", "cpu.cfs_quota_us", str(quota))
            self.enforced.append("cpu quota")
        if limits.cpu_weight and "cpu" in self.paths:
            if v2:
                self._write("cpu", "cpu.weight", str(limits.cpu_weight))
            else:  # v1 shares: 1024 is the default, as weight 100 is in v2
                shares = min(262_144, max(2, limits.cpu_weight * 1024 // 100))
                self._write("cpu", "cpu.shares", str(shares))
            self.enforced.append("cpu weight")

    def _write(self, controller: str, name: str, value: str, *, optional: bool = False) -> None:
        path = self.paths[controller] / name
        if optional and not path.exists():
            return
        path.write_text(value)

    def oom_kills(self) -> int:
        """How many times the kernel killed a process of this cgroup for its memory limit."""
        directory = self.paths.get("memory")
        if directory is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (directory / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def remove(self) -> None:
        """Kill whatever still runs in the cgroup, then remove it."""
        for directory in self.directories:
            _remove_tree(directory, self.version)


def _wanted(limits: Limits) -> set[str]:
    wanted = set()
    if limits.memory_bytes:
        wanted.add("memory")
    if limits.processes:
        wanted.add("pids")
    if limits.cpu_quota or limits.cpu_weight:
        wanted.add("cpu")
    return wanted


def _proc_lines(name: str) -> list[str]:
    """The lines of `/proc/self/<name>`; none where it cannot be read (not Linux)."""
    try:
        return Path("/proc/self", name).read_text().splitlines()
    except OSError:
        return []


def _mounts() -> dict[str, Path]:
    """cgroup mount points: "" for the v2 hierarchy, else by v1 controller."""
    mounts: dict[str, Path] = {}
    for line in _proc_lines("mountinfo"):
        fields, _, rest = line.partition(" - ")
        parts = rest.split()
        if len(parts) < 3:
            continue
        point = Path(fields.split()[4])
        if parts[0] == "cgroup2":
            mounts.setdefault("", point)
        elif parts[0] == "cgroup":
            for option in parts[2].split(","):
                if option in CONTROLLERS:
                    mounts.setdefault(option, point)
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path: "" for v2, else by v1 controller."""
    own: dict[str, str] = {}
    for line in _proc_lines("cgroup"):
        _, controllers, path = line.split(":", 2)
        if not controllers:
            own[""] = path
        for controller in controllers.split(","):
            if controller in CONTROLLERS:
                own[controller] = path
    return own


def _enable(path: Path, wanted: tuple[str, ...]) -> frozenset[str]:
    """Enable `wanted` v2 controllers for the children of `path` where possible; those on."""
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


def _remove_tree(path: Path, version: int) -> bool:
    """Kill what runs in `path` and below, and remove the directories, deepest first."""
    if not path.is_dir():
        return True
    for child in path.iterdir():
        if child.is_dir():
            _remove_tree(child, version)
    kill = path / "cgroup.kill"
    for _ in range(50):
        pids = _pids(path)
        if not pids:
            break
        if version == 2 and kill.exists():
            with contextlib.suppress(OSError):
                kill.write_text("1")
        else:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    for _ in range(50):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)  # the kernel frees a cgroup a moment after its last process
    log.warning("cannot remove cgroup %s", path)
    return False


def _pids(path: Path) -> list[int]:
    try:
        return [int(line) for line in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []

