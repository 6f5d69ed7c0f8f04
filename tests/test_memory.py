"""The server allocator settings: freed large buffers are reused instead of mapped again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlos.memory import keep_freed_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

_FAULTS = """
import resource, sys
from mlos.memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else False
def churn():
    # Like a request with a large tensor: a few copies of it alive at once, then all freed.
    for _ in range(50):
        copies = [bytearray(1 << 20) for _ in range(4)]   # 1 MiB each, touched in full
        del copies
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    result = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    applied, faults = result.stdout.split()
    return applied, int(faults)


def test_freed_megabytes_are_reused_without_page_faults() -> None:
    applied, tuned = _faults("tuned")
    assert applied == "True"
    _, default = _faults("default")
    # glibc's defaults give the freed 4 MiB back to the kernel each time and fault it in again
    # (256 pages per MiB); the tuned process faults it in once and then reuses it.
    assert default > 50 * 4 * 200
    assert tuned < default / 10


def test_the_users_own_malloc_settings_win() -> None:
    applied, _ = _faults("tuned", MALLOC_TRIM_THRESHOLD_="131072")
    assert applied == "False"


def test_applying_twice_is_harmless() -> None:
    if any(name.startswith("MALLOC_") for name in os.environ):
        pytest.skip("the environment sets glibc's own thresholds")
    assert keep_freed_memory() and keep_freed_memory()
