"""The focused benchmarks are modules of `mlos.bench` that `python -m` runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = ["control_plane", "cpu_per_call", "floors", "plugin_overhead", "shared_memory"]


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


def test_control_plane_measures_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    from mlos.bench import control_plane

    assert control_plane.main(["--requests", "20", "--registrations", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split("  ")[0].strip(): line.split()[-2:] for line in lines[2:]}
    assert set(rows) == {
        "gRPC echo (floor)", "gRPC grpc.health.v1 Check", "gRPC ServerLive", "gRPC ServerReady",
        "gRPC MLOS.Health", "IPC MLOS.Health", "IPC plugin registration",
        "IPC model registration (small)",
    }
    for label, (p50, _cpu) in rows.items():
        assert float(p50) > 0, label
