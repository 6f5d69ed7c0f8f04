"""Launches for the conformance tests: the real plugins, the broken ones, and their models."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlos.core.supervisor import PluginLaunch
from mlos_conformance import Options
from tests.conformance.broken_plugins import MODEL_TEXT

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "tests.conformance.broken_plugins"
#: Few cycles and a tight tolerance keep a run to a second or two; the broken plugins leak
#: far more than the tolerance.
OPTIONS = Options(
    cycles=3, rss_tolerance=16 * 1024 * 1024, settle_timeout=1.0, env={"PYTHONPATH": str(ROOT)}
)


def module_launch(name: str) -> PluginLaunch:
    """The plugin class `name` of tests/conformance/broken_plugins.py, hosted by mlos.sdk.host."""
    return PluginLaunch(name, "module", f"{PLUGINS}:{name}")


@pytest.fixture
def double_model(tmp_path: Path) -> Path:
    """A model file for the `double` plugin and its broken variants."""
    path = tmp_path / "model.double"
    path.write_text(MODEL_TEXT)
    return path


#: The double plugin's fixtures: one case inline, one from .npy files (the model file is written
#: beside them by the `double_fixtures` fixture).
DOUBLE_FIXTURES = """\
rtol: 1e-6
fixtures:
  - name: double
    model: model.double
    cases:
      - name: counting
        inputs:
          x: {datatype: FP32, data: [[1, 2, 3, 4]]}
        outputs:
          y: {datatype: FP32, data: [[2, 4, 6, 8]]}
      - name: random-batch
        inputs: {x: x.npy}
        outputs: {y: y.npy}
        atol: 0
"""


@pytest.fixture
def double_fixtures(tmp_path: Path) -> Path:
    """A fixtures directory for the `double` plugin: y = 2 * x."""
    directory = tmp_path / "fixtures"
    directory.mkdir()
    (directory / "model.double").write_text(MODEL_TEXT)
    x = np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)
    np.save(directory / "x.npy", x)
    np.save(directory / "y.npy", x * np.float32(2))
    (directory / "fixtures.yaml").write_text(DOUBLE_FIXTURES)
    return directory


@pytest.fixture
def broken_host(tmp_path: Path) -> Callable[[str], PluginLaunch]:
    """An executable plugin: tests/conformance/broken_hosts.py with one flavor."""

    def launch(flavor: str) -> PluginLaunch:
        script = tmp_path / f"plugin-{flavor}"
        script.write_text(
            "#!/bin/sh\n"
            f'PYTHONPATH="{ROOT}" exec "{sys.executable}" '
            f'-m tests.conformance.broken_hosts {flavor} "$@"\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return PluginLaunch(flavor, "executable", str(script))

    return launch
