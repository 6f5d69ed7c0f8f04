"""How plugin processes are contained: their directory, environment, limits and cgroups.

Every plugin process starts

* with ``python -P`` (the plugin host) — the working directory and the script's directory are
  not on its import path, so a folder named `mlos` (or any other module name) wherever the
  server was started is never imported;
* in a fixed working directory of its own, `<home>/plugins/<name>/`, with a private temporary
  directory `<home>/plugins/<name>/tmp/` as `TMPDIR`, emptied at every start and stop (a plugin
  that runs as another user gets a fresh owner-only directory in the system's temporary
  folder instead, as `HOME` too, removed when it ends: the server's home is seldom reachable
  by another user);
* with a scrubbed environment: `PATH`, `HOME`, `LANG`, `LC_*` and `TZ` from the server, the
  `MLOS_*` variables the plugin host needs, `PYTHONPATH` from `plugin_python_path`, and the
  extras of `plugin_env` — nothing else of the server's environment (no tokens, no
  `LD_PRELOAD`, no `PYTHON*`);
* under its limits (:mod:`mlos.sandbox`): a cgroup where the server may create one, resource
  limits otherwise, CPU affinity, `no_new_privs`, optionally another user.

:class:`Containment` holds the configuration; :meth:`Containment.enclose` prepares one start of
one plugin as an :class:`Enclosure`, which says what was applied and, after the process ended,
whether its memory limit killed it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import resource
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlos.core.allocator import Allocator
from mlos.errors import InvalidArgument, PermissionDenied
from mlos.sandbox.cgroups import Cgroup, CgroupTree
from mlos.sandbox.confine import Confinement
from mlos.sandbox.limits import Limits, format_cpus, format_size

__all__ = ["PASSED_THROUGH", "Containment", "Enclosure"]

log = logging.getLogger(__name__)

PASSED_THROUGH = ("PATH", "HOME", "LANG", "TZ")
"""Variables of the server's environment every plugin process gets (and every `LC_*`)."""


@dataclass(slots=True)
class Enclosure:
    """One start of one plugin process: where and how it runs."""

    name: str
    cwd: Path
    env: dict[str, str]
    limits: Limits
    confinement: Confinement
    cgroup: Cgroup | None = None
    applied: list[str] = field(default_factory=list)
    """How the limits are enforced, in words."""
    missing: list[str] = field(default_factory=list)
    """Limits this host cannot enforce, in words."""
    scratch: bool = False
    """Whether `cwd` is a directory of this start only (removed by :meth:`close`)."""
    on_close: Callable[[], None] | None = None
    """Gives back what the resource budget granted this start (called once, by :meth:`close`)."""

    @property
    def sandbox(self) -> str:
        """`PluginStatus.sandbox`: what is enforced and how, and what is not."""
        text = "; ".join(self.applied)
        if self.missing:
            text += "; not enforced: " + ", ".join(self.missing)
        return text

    @property
    def memory_by_rlimit(self) -> bool:
        """Whether the memory limit is `RLIMIT_DATA` (the host then exits when it is reached)."""
        return self.confinement.memory_bytes > 0

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this enclosure for its memory limit."""
        return self.cgroup is not None and self.cgroup.oom_kills() > 0

    def close(self) -> None:
        """After the process ended: remove its cgroup and empty its temporary directory."""
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        release, self.on_close = self.on_close, None
        if release is not None:
            release()
        if self.scratch:
            shutil.rmtree(self.cwd, ignore_errors=True)
        else:
            _empty(self.cwd / "tmp")


class Containment:
    """The server's configuration of plugin processes (see the module documentation)."""

    def __init__(
        self,
        home: Path,
        *,
        python_path: Iterable[Path] = (),
        env_entries: Iterable[str] = (),
        limits: Mapping[str, Limits] | None = None,
        cgroup: str = "auto",
        host_env: Mapping[str, str] | None = None,
        server_env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(home).expanduser() / "plugins"
        self.python_path = tuple(Path(p) for p in python_path)
        self.env_entries = tuple(env_entries)
        self.configured = dict(limits or {})
        self.host_env = dict(host_env or {})
        self.server_env = dict(os.environ if server_env is None else server_env)
        self.allocator: Allocator | None = None
        """The resource manager's allocator: GPUs and dedicated CPUs at every start."""
        self.tree = CgroupTree.find(cgroup)
        if self.tree is not None:
            removed = self.tree.sweep()
            if removed:
                log.info("removed cgroups of servers that no longer run: %s", ", ".join(removed))

    # -- limits -------------------------------------------------------------------------------

    def limits_for(self, name: str, registered: Limits) -> Limits:
        """The limits plugin `name` runs under: configured for `name`, over the registration's,
        over the configured default (`*`)."""
        limits = registered.over(self.configured.get("*", Limits()))
        return self.configured.get(name, Limits()).over(limits)

    def check(self, limits: Limits) -> None:
        """Refuse limits this host cannot apply (before anything is recorded or started)."""
        if limits.cpus and hasattr(os, "sched_getaffinity"):
            usable = os.sched_getaffinity(0)
            outside = [cpu for cpu in limits.cpus if cpu not in usable]
            if outside:
                raise InvalidArgument(
                    f"limits.cpus: CPU(s) {format_cpus(tuple(outside))} are not available; "
                    f"this server may use {format_cpus(tuple(sorted(usable)))}"
                )
        if limits.open_files and os.geteuid() != 0:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            if hard != resource.RLIM_INFINITY and limits.open_files > hard:
                raise InvalidArgument(
                    f"limits.open_files: {limits.open_files} is above this server's own hard "
                    f"limit of {hard}"
                )
        if limits.user:
            self._user(limits.user)

    def _user(self, user: str) -> tuple[int, int]:
        """The uid and gid of `user` (a name or a number); PermissionDenied if out of reach."""
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except (KeyError, OverflowError):
            if not user.isdigit():
                raise InvalidArgument(f"plugin user {user!r} does not exist") from None
            uid = gid = int(user)  # a uid without a name: its own group
        else:
            uid, gid = entry.pw_uid, entry.pw_gid
        if uid != os.geteuid() and os.geteuid() != 0:
            raise PermissionDenied(
                f"plugin user {user!r}: running plugins as another user needs the server to "
                "run as root"
            )
        return uid, gid

    # -- one start ----------------------------------------------------------------------------

    def enclose(self, name: str, limits: Limits) -> Enclosure:
        """Prepare the directory, environment, cgroup and confinement of one start of `name`."""
        if self.allocator is None:
            return self._enclose(name, limits, {})
        allocator = self.allocator
        grant, limits, env = allocator.assign(name, limits)
        try:
            enclosure = self._enclose(name, limits, env)
        except BaseException:
            allocator.release(grant)
            raise
        enclosure.on_close = lambda: allocator.release(grant)
        granted = allocator.describe(grant)
        if granted:
            enclosure.applied.insert(0, granted)
        return enclosure

    def _enclose(self, name: str, limits: Limits, extra_env: Mapping[str, str]) -> Enclosure:
        uid = gid = -1
        if limits.user:
            uid, gid = self._user(limits.user)
            if uid == os.geteuid():
                uid = gid = -1
        if uid >= 0:
            # The server's home is seldom reachable by another user: a fresh directory of its
            # own in the system's temporary folder, removed when the process ends.
            cwd = Path(tempfile.mkdtemp(prefix=f"mlos-plugin-{name}-"))
            tmp = cwd / "tmp"
            tmp.mkdir(mode=0o700)
            for directory in (cwd, tmp):
                os.chown(directory, uid, gid)
        else:
            cwd = self.root / name
            tmp = cwd / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            os.chmod(cwd, 0o700)
            os.chmod(tmp, 0o700)
            _empty(tmp)
        env = self.environment(tmp, home=cwd if uid >= 0 else None)
        env.update(extra_env)
        enclosure = Enclosure(name, cwd, env, limits, Confinement(), scratch=uid >= 0)
        cgroup = self._cgroup(enclosure)
        applied, missing = enclosure.applied, enclosure.missing
        memory = processes = 0
        if limits.memory_bytes and (cgroup is None or "memory" not in cgroup.enforced):
            memory = limits.memory_bytes
            applied.append(f"rlimit data {format_size(memory)}")
        if limits.processes and (cgroup is None or "pids" not in cgroup.enforced):
            if uid >= 0 and uid != 0:
                processes = limits.processes
                applied.append(f"rlimit nproc {processes} (user {limits.user})")
            else:
                missing.append("processes (needs a cgroup with the pids controller, or a "
                               "plugin user of its own)")
        for name_, wanted in (("cpu quota", limits.cpu_quota), ("cpu weight", limits.cpu_weight)):
            if wanted and (cgroup is None or name_ not in cgroup.enforced):
                missing.append(f"{name_} (needs a cgroup with the cpu controller)")
        if limits.open_files:
            applied.append(f"rlimit nofile {limits.open_files}")
        if limits.cpus:
            applied.append(f"cpus {format_cpus(limits.cpus)}")
        if uid >= 0:
            applied.append(f"user {limits.user}")
        applied.append("no_new_privs")
        enclosure.confinement = Confinement(
            cgroup_procs=tuple(str(p) for p in cgroup.procs) if cgroup is not None else (),
            memory_bytes=memory,
            open_files=limits.open_files,
            processes=processes,
            cpus=limits.cpus,
            uid=uid,
            gid=gid,
        )
        return enclosure

    def _cgroup(self, enclosure: Enclosure) -> Cgroup | None:
        limits = enclosure.limits
        if self.tree is None or not (
            limits.memory_bytes or limits.processes or limits.cpu_quota or limits.cpu_weight
        ):
            return None
        try:
            cgroup = self.tree.create(enclosure.name, limits)
        except OSError as exc:
            log.warning("plugin %s: no cgroup (%s); using rlimits", enclosure.name, exc)
            return None
        enclosure.cgroup = cgroup
        if cgroup.enforced:
            enclosure.applied.append(cgroup.describe())
        return cgroup

    def environment(self, tmp: Path, *, home: Path | None = None) -> dict[str, str]:
        """The environment of a plugin process (see the module documentation)."""
        server = self.server_env
        env = {
            key: value
            for key, value in server.items()
            if key in PASSED_THROUGH or key.startswith("LC_")
        }
        env.setdefault("PATH", os.defpath)
        for entry in self.env_entries:
            key, equals, value = entry.partition("=")
            if equals:
                env[key] = value
            elif key in server:
                env[key] = server[key]
        if self.python_path:
            extra = env.get("PYTHONPATH", "")
            paths = [str(path) for path in self.python_path]
            paths += [path for path in extra.split(os.pathsep) if path]
            env["PYTHONPATH"] = os.pathsep.join(paths)
        if home is not None:
            env["HOME"] = str(home)
        env["TMPDIR"] = str(tmp)
        env.update(self.host_env)
        return env

    def close(self) -> None:
        """Remove what the server created for plugin processes (cgroups)."""
        if self.tree is not None:
            self.tree.close()


def _empty(directory: Path) -> None:
    """Remove everything inside `directory` (not following symbolic links)."""
    with contextlib.suppress(FileNotFoundError):
        for child in directory.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    child.unlink()
