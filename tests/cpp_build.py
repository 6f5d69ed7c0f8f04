"""The C++ example plugin, built once per test session from its sources and spec/smi.proto.

The fixture `cpp_plugin` is shared by the whole suite (tests/conftest.py): the plugin's own
tests and the documentation's code blocks use the same build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPP_PLUGIN = ROOT / "plugins" / "examples" / "mlos-plugin-cpp"
#: CMake configure and build, on a slow machine (compiling smi.pb.cc takes most of it).
BUILD_TIMEOUT = 600
_HEADER = Path("google") / "protobuf" / "message.h"

__all__ = ["CPP_PLUGIN", "cpp_plugin", "in_ci", "missing_tools"]


def in_ci() -> bool:
    """Whether this runs in CI (`CI=true`, as GitHub, GitLab and most others set it)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_tools() -> list[str]:
    """What building the C++ plugin needs and this machine lacks."""
    missing = [tool for tool in ("cmake", "c++", "protoc") if shutil.which(tool) is None]
    if not any((base / _HEADER).exists() for base in (Path("/usr/include"), Path("/usr/local/include"))):
        missing.append("the protobuf C++ headers (libprotobuf-dev)")
    return missing


def _build(build: Path) -> Path:
    steps = [
        [
            "cmake", "-S", str(CPP_PLUGIN), "-B", str(build),
            "-DCMAKE_BUILD_TYPE=Release", "-DMLOS_FAST_PROTO=ON",
        ],
        ["cmake", "--build", str(build), "--parallel", "2"],
    ]
    for step in steps:
        result = subprocess.run(
            step, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(step)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return build / "mlos-plugin-cpp"


@pytest.fixture(scope="session")
def cpp_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built `mlos-plugin-cpp` executable (its build directory is its parent).

    Skips when the compiler, CMake or protobuf are missing (tools/system_deps.sh installs
    them), except in CI, where that fails: CI must test the plugin.
    """
    missing = missing_tools()
    if missing:
        reason = (
            f"the C++ example plugin cannot be built: missing {', '.join(missing)} "
            "(install with `sudo tools/system_deps.sh` or `make system-deps`)"
        )
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return _build(tmp_path_factory.mktemp("mlos-plugin-cpp"))
