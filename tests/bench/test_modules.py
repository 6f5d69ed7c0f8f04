"""The focused benchmarks are modules of `mlos.bench` that `python -m` runs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = [
    "control_plane", "cpu_per_call", "floors", "plugin_overhead", "shared_memory",
    "registration_floor",
]


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


def test_instances_measures_the_floor_and_every_registration(tmp_path: Path) -> None:
    from mlos.bench import instances

    out = tmp_path / "instances.json"
    args = ["--seconds", "0.5", "--warmup", "0.2", "--rounds", "1", "--concurrency", "2"]
    assert instances.main([*args, "--json", str(out)]) == 0
    [row] = json.loads(out.read_text())
    assert row["floor"]["throughput"] > 0 and row["floor"]["cpu_ms"] > 0
    for protocol in ("grpc", "ipc"):
        for name in ("plain", "x1", "x2"):
            line = row[f"{name} {protocol}"]
            assert line["throughput"] > 0 and line["server_cpu_ms"] > 0, (name, protocol)
        assert row[f"x2_over_floor {protocol}"] > 0


def test_the_grpc_floor_times_large_calls_after_compute_too() -> None:
    from mlos.bench import floors

    rows = floors.grpc_echo(40)
    assert [label for label, _, _ in rows] == [
        "grpc echo, 20 bytes",
        f"grpc echo, {floors.LARGE} bytes",
        f"grpc echo, {floors.LARGE} bytes, after 17 ms of compute",
    ]
    assert all(0 < p50 <= p90 for _, p50, p90 in rows)


def test_the_http_floor_answers_over_uvicorn() -> None:
    from mlos.bench import floors

    rows = floors.http_echo(20)
    assert [label.startswith("http echo, ") for label, _, _ in rows] == [True] * 3
    assert rows[2][0].endswith("POST, after 17 ms of compute")
    assert all(0 < p50 <= p90 for _, p50, p90 in rows)


def test_the_registry_write_floors_run_on_todays_schema() -> None:
    from mlos.bench import floors

    rows = floors.registry_write(20)
    assert [label for label, _, _ in rows] == [
        "registry write, RegistryStore.put_plugin", "registry write, sqlite3 upsert",
    ]
    assert all(0 < p50 <= p90 for _, p50, p90 in rows)


def test_the_registration_floor_registers_through_bare_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlos.bench import registration_floor

    assert registration_floor.main(["--requests", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.rsplit(None, 2)[0].strip(): float(line.split()[-2]) for line in lines[1:]}
    assert set(rows) == {
        "registration floor, servers sleep", "registration floor, core polls 500 us",
        "onnxruntime session creation alone",
    }
    assert all(p50 > 0 for p50 in rows.values())
