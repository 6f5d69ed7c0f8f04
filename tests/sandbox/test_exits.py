"""Exit descriptions always name the exit code or the signal."""

from __future__ import annotations

from mlos.sandbox.exits import EXIT_MEMORY_LIMIT, describe_exit


def test_exit_codes_and_signals() -> None:
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-11) == "killed by signal SIGSEGV (11)"
    assert describe_exit(-9) == "killed by signal SIGKILL (9)"
    assert describe_exit(-77) == "killed by signal signal 77"
    assert describe_exit(None) == "ended with no exit status"


def test_memory_limit_kills() -> None:
    assert describe_exit(-9, memory_limit=512 * 2**20, oom_killed=True) == (
        "killed: memory limit 512 MiB (SIGKILL (9) from the kernel's OOM killer)"
    )
    assert describe_exit(EXIT_MEMORY_LIMIT, memory_limit=2**30) == (
        f"killed: memory limit 1 GiB (an allocation failed; exit code {EXIT_MEMORY_LIMIT})"
    )
    # without a memory limit the code keeps its ordinary meaning
    assert describe_exit(EXIT_MEMORY_LIMIT) == f"exited with code {EXIT_MEMORY_LIMIT}"
