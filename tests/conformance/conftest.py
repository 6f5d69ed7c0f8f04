"""Launches for the conformance tests: the real plugins, the broken ones, and their models."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path

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
