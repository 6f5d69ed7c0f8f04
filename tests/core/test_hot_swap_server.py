"""The whole server upgrades a plugin 20 times under 16 clients (REST, gRPC, IPC): no call
fails, every answer is right; a failed upgrade answers 409 / FAILED_PRECONDITION and switches
nothing, over every API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlos.bench.hot_swap import SwapLoad
from mlos.client import connect
from mlos.errors import FailedPrecondition
from mlos.testing import ServerProcess

V1 = "tests.sdk.echo_plugin:EchoPlugin"
V2 = "tests.sdk.swap_plugins:DoubleV2"


def _serve(server: ServerProcess, tmp_path: Path) -> None:
    admin = server.client(timeout=60)
    admin.register_plugin("double", module=V1)
    admin.load_plugin("double")
    model = tmp_path / "m.double"
    model.write_text("double")
    admin.register_model("m", str(model), plugin="double")
    admin.close()


def test_twenty_upgrades_under_sixteen_clients_fail_no_call(
    mlos_server: ServerProcess, tmp_path: Path
) -> None:
    assert mlos_server.grpc_url and mlos_server.ipc_url
    _serve(mlos_server, tmp_path)
    admin = mlos_server.client(timeout=120)
    pids = {admin.get_plugin("double").pid}
    urls = {"REST": mlos_server.url, "gRPC": mlos_server.grpc_url, "IPC": mlos_server.ipc_url}
    load = SwapLoad(urls, mlos_server.token, "m", clients=16)
    load.start()
    try:
        for i in range(20):
            module, version = (V2, "0.0.2") if i % 2 == 0 else (V1, "0.0.1")
            load.swap(lambda m=module, v=version: admin.upgrade_plugin("double", module=m, version=v))
            status = admin.get_plugin("double")
            assert status.version == version and status.source.module == module
            pids.add(status.pid)
    finally:
        report = load.stop()
    summary = report.summary()
    assert report.failures == [], summary["failures"]
    assert len(pids) == 21  # a new process each time
    assert all(summary["calls_by_transport"][t] > 20 for t in ("REST", "gRPC", "IPC")), summary
    assert summary["during_swaps"]["calls"] > 0
    assert admin.get_plugin("double").state == 3  # ready
    admin.close()


@pytest.mark.parametrize("transport", ["REST", "gRPC", "IPC"])
def test_a_failed_upgrade_is_a_precondition_over_every_api(
    mlos_server: ServerProcess, tmp_path: Path, transport: str
) -> None:
    _serve(mlos_server, tmp_path)
    urls = {"REST": mlos_server.url, "gRPC": mlos_server.grpc_url, "IPC": mlos_server.ipc_url}
    client = connect(urls[transport], token=mlos_server.token, timeout=60)
    before = client.get_plugin("double")
    with pytest.raises(FailedPrecondition, match=r"cannot load model 'm' version '1'.*keeps serving"):
        client.upgrade_plugin("double", module="tests.sdk.swap_plugins:LoadFails")
    after = client.get_plugin("double")
    assert (after.pid, after.version) == (before.pid, before.version)
    y = client.infer("m", {"x": np.ones((1, 4), np.float32)})["y"]
    assert y.tolist() == [[2.0, 2.0, 2.0, 2.0]]
    client.close()


def test_rest_answers_409_problem_and_the_cli_says_why(
    mlos_server: ServerProcess, tmp_path: Path
) -> None:
    import requests

    _serve(mlos_server, tmp_path)
    response = requests.post(
        f"{mlos_server.url}/v1/plugins/double/upgrade",
        json={"module": "tests.sdk.swap_plugins:WarmupFails"},
        headers=mlos_server.auth_headers,
        timeout=60,
    )
    assert response.status_code == 409
    problem = response.json()
    assert "cannot warm up model 'm'" in problem["detail"]
    bad = requests.post(
        f"{mlos_server.url}/v1/plugins/double/upgrade", json={"modul": "x"},
        headers=mlos_server.auth_headers, timeout=10,
    )  # fmt: skip
    assert bad.status_code == 400

    cli = [sys.executable, "-m", "mlos.cli", "plugin", "upgrade", "double", "--url", mlos_server.url]
    failed = subprocess.run(
        [*cli, "--module", "tests.sdk.swap_plugins:LoadFails"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode != 0
    assert "cannot load model" in failed.stderr and "Traceback" not in failed.stderr
    done = subprocess.run(
        [*cli, "--json", "--module", V2, "--version", "0.0.2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == "0.0.2"
