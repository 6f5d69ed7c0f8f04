"""`mlos health` and `mlos resources`."""

from __future__ import annotations

import json

from tests.cli.conftest import Run
from tests.cli.fake_client import FakeClient


def test_health_ready_and_not(run: Run, fake: FakeClient) -> None:
    result = run("health")
    assert result.code == 0
    assert "ready:  yes" in result.out and "onnx    ready" in result.out
    fake.ready = False
    result = run("health", "--json")
    assert result.code == 1  # scripts can test readiness with the exit status
    assert json.loads(result.out)["ready"] is False


def test_resources(run: Run) -> None:
    out = run("resources").out
    assert "memory: 6.0 GiB available of 8.0 GiB" in out
    assert "H100" in out
    assert "onnx    42   3.0 MiB" in out
    assert "budget memory: 5.0 MiB granted of 1.0 GiB, 1019.0 MiB free" in out
    assert "budget cpus:   0-1 (0.5 of 2 cores reserved; dedicated: -)" in out
    assert "budget gpus:   1 of 1 assigned (nvml)" in out
    assert "demo   1        onnx    2.0 MiB  2.0 MiB  measured  0.5    0" in out
    document = json.loads(run("resources", "--json").out)
    assert document["host"]["cpu_count"] == 2
