"""How a plugin process ended, in the words that state messages and logs use.

    describe_exit(-9, memory_limit=512 * 2**20, oom_killed=True)
    → "killed: memory limit 512 MiB (SIGKILL from the kernel's OOM killer)"
    describe_exit(-11)  → "killed by signal SIGSEGV (11)"
    describe_exit(3)    → "exited with code 3"

Every description names the exit code or the signal.
"""

from __future__ import annotations

import signal

from mlos.sandbox.limits import format_size

__all__ = ["EXIT_MEMORY_LIMIT", "describe_exit", "memory_limit_reason"]

EXIT_MEMORY_LIMIT = 71
"""Exit status of a plugin host whose allocation failed under its memory limit (`RLIMIT_DATA`);
sysexits' EX_OSERR. An executable plugin may use it for the same purpose."""


def signal_name(number: int) -> str:
    """"SIGKILL (9)", or "signal 77" for a number without a name."""
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return f"signal {number}"


def memory_limit_reason(memory_limit: int) -> str:
    """"killed: memory limit 512 MiB" — what the state message starts with."""
    return f"killed: memory limit {format_size(memory_limit)}"


def describe_exit(
    returncode: int | None, *, memory_limit: int = 0, oom_killed: bool = False
) -> str:
    """How a process with this return code (negative: killed by that signal) ended.

    `memory_limit` is the process's limit in bytes (0: none); `oom_killed` says that its cgroup
    counted a kill by the kernel's OOM killer.
    """
    if returncode is None:
        return "ended with no exit status"
    if memory_limit and oom_killed:
        if returncode < 0:
            detail = f"{signal_name(-returncode)} from the kernel's OOM killer"
        else:
            detail = f"exit code {returncode}"
        return f"{memory_limit_reason(memory_limit)} ({detail})"
    if memory_limit and returncode == EXIT_MEMORY_LIMIT:
        return f"{memory_limit_reason(memory_limit)} (an allocation failed; exit code {returncode})"
    if returncode < 0:
        return f"killed by signal {signal_name(-returncode)}"
    return f"exited with code {returncode}"
