"""The focused benchmarks are modules of `mlos.bench` that `python -m` runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = ["cpu_per_call", "floors", "plugin_overhead", "shared_memory"]


@pytest.mark.parametrize("name", MODULES)
def test_each_benchmark_parses_its_command_line(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"mlos.bench.{name}")
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    assert "--requests" in capsys.readouterr().out


def test_runs_with_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlos.bench.floors", "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")
