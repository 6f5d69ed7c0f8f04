"""What a plugin process does to itself before any plugin code runs.

The core starts every plugin process with a :class:`Confinement` (as JSON on its command line):
the plugin host applies it first thing (`python -P -m mlos.sdk.host ... --confine JSON`), and an
executable plugin is started through ``python -P -m mlos.sandbox --confine JSON -- PROGRAM ...``,
which applies it and then replaces itself with the program. In order:

1. join the plugin's cgroup (while still allowed to write its `cgroup.procs`);
2. resource limits: `RLIMIT_NOFILE` (open files); `RLIMIT_DATA` (memory, when no cgroup
   enforces it); `RLIMIT_NPROC` (processes, when no cgroup enforces it and the process runs
   as a user of its own — the kernel counts that limit per user and ignores it for root);
3. CPU affinity;
4. another user and group, when configured (supplementary groups dropped);
5. `no_new_privs`: neither the plugin nor anything it runs can gain privileges through
   set-user-ID programs or file capabilities;
6. the parent-death signal (set last: changing the user clears it), so a plugin never outlives
   the core that started it.

A Python plugin host whose memory is limited by `RLIMIT_DATA` exits with :data:`EXIT_MEMORY_LIMIT`
when an allocation fails (:mod:`mlos.sandbox.exits`), the way the kernel would kill it in a
cgroup; the core reports it as "killed: memory limit ...".
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Confinement", "confine", "die_with_parent", "set_no_new_privs"]

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38


@dataclass(frozen=True, slots=True)
class Confinement:
    """Everything a plugin process applies to itself; every field optional."""

    cgroup_procs: tuple[str, ...] = ()
    """The `cgroup.procs` files of the process's cgroup (one per v1 hierarchy; one for v2)."""
    memory_bytes: int = 0
    """`RLIMIT_DATA` in bytes (0: none — no memory limit, or a cgroup enforces it)."""
    open_files: int = 0
    """`RLIMIT_NOFILE` (0: unchanged)."""
    processes: int = 0
    """`RLIMIT_NPROC` (0: unchanged)."""
    cpus: tuple[int, ...] = field(default=())
    """CPU affinity (empty: unchanged)."""
    uid: int = -1
    """Switch to this user id (-1: stay)."""
    gid: int = -1
    """Switch to this group id (-1: stay)."""

    def to_json(self) -> str:
        """Compact JSON, for a command line."""
        values = {k: v for k, v in asdict(self).items() if v not in ("", 0, (), -1, [])}
        return json.dumps(values, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Confinement:
        """The confinement written by :meth:`to_json`; ValueError for anything else."""
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a confinement is a JSON object")
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown confinement keys: {', '.join(sorted(unknown))}")
        if "cpus" in data:
            data["cpus"] = tuple(int(cpu) for cpu in data["cpus"])
        if "cgroup_procs" in data:
            data["cgroup_procs"] = tuple(str(path) for path in data["cgroup_procs"])
        return cls(**data)


def confine(confinement: Confinement) -> None:
    """Apply `confinement` to this process (see the module documentation for the order).

    OSError when a step fails: a plugin that cannot be confined must not run.
    """
    for path in confinement.cgroup_procs:
        with open(path, "w") as procs:
            procs.write(str(os.getpid()))
    if confinement.open_files:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (confinement.open_files, confinement.open_files)
        )
    if confinement.memory_bytes:
        resource.setrlimit(
            resource.RLIMIT_DATA, (confinement.memory_bytes, confinement.memory_bytes)
        )
    if confinement.processes:
        resource.setrlimit(
            resource.RLIMIT_NPROC, (confinement.processes, confinement.processes)
        )
    if confinement.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, confinement.cpus)
    if confinement.gid >= 0:
        os.setgroups([])
        os.setgid(confinement.gid)
    if confinement.uid >= 0:
        os.setuid(confinement.uid)
    set_no_new_privs()
    die_with_parent()


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def set_no_new_privs() -> None:
    """`PR_SET_NO_NEW_PRIVS`: this process and its children never gain privileges (Linux)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """`python -m mlos.sandbox --confine JSON -- PROGRAM [ARGS...]`: confine, then exec PROGRAM."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 4 or args[0] != "--confine" or args[2] != "--":
        print("usage: python -m mlos.sandbox --confine JSON -- PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    try:
        confinement = Confinement.from_json(args[1])
    except (ValueError, TypeError) as exc:
        print(f"mlos sandbox: bad confinement: {exc}", file=sys.stderr)
        return 2
    program = args[3:]
    try:
        confine(confinement)
    except OSError as exc:
        print(f"mlos sandbox: cannot confine the plugin process: {exc}", file=sys.stderr)
        return 126
    try:
        os.execv(program[0], program)
    except OSError as exc:
        print(f"mlos sandbox: cannot run {program[0]}: {exc.strerror}", file=sys.stderr)
    return 127
