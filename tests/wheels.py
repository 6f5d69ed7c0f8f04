"""Offline wheels of our distributions and their dependencies, and clean virtual environments.

`build_wheelhouse` builds the SDK, server, kit and onnx plugin wheels with the project's packaging
(tools/distributions.py, isolated builds as `make dist` runs them) and packs every third-party
distribution they need from this environment (tools/wheelhouse.py), so that `pip install
--no-index --find-links WHEELHOUSE` works with no package index. `clean_venv` makes a
`python -m venv` without system site-packages and the environment variables that point its pip
at the wheelhouse.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("mlos-plugin-sdk", "mlos-server", "mlos-conformance", "mlos-plugin-onnx")
"""The distributions an author installs (the SDK, and the kit with the server it starts), and a
first-party plugin that installs beside the server (`mlos-server[onnx]`)."""
EXTRA = ("setuptools>=77", "wheel", "pytest>=8")
"""What pip's isolated builds need, and the `test` extra of a plugin made by `mlos plugin new`."""

__all__ = ["OURS", "build_wheelhouse", "clean_venv", "tool"]


def tool(name: str) -> ModuleType:
    """A module of tools/ (not a package), imported by path."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_wheelhouse(directory: Path, staging: Path) -> Path:
    """Fill `directory` with our wheels and every third-party wheel they need; return it."""
    wheelhouse, distributions = tool("wheelhouse"), tool("distributions")
    requirements = [wheelhouse.Requirement(text) for text in EXTRA]
    for name in OURS:
        requirements += wheelhouse.project_requirements(name)
    for dist in wheelhouse.closure(requirements, skip=OURS):
        wheelhouse.pack(dist, directory)
    known = distributions.load()
    with pytest.MonkeyPatch.context() as patch:
        # The isolated builds install setuptools and wheel from the wheelhouse too.
        patch.setenv("PIP_NO_INDEX", "1")
        patch.setenv("PIP_FIND_LINKS", str(directory))
        for name in OURS:
            source = distributions.stage(known[name], staging / name)
            distributions.build(source, directory, isolation=True, wheel_only=True)
    return directory


def clean_venv(venv: Path, wheelhouse: Path, home: Path) -> dict[str, str]:
    """Create a virtual environment without system site-packages at `venv`; the environment
    (PATH first, HOME, pip offline on `wheelhouse`) in which commands use it."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home), "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CACHE_DIR": str(home / ".cache" / "pip"),
    }
