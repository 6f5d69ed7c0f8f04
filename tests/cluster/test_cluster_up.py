"""`mlos cluster up`: PostgreSQL, two nodes and HAProxy on loopback, stopped by Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from mlos.cluster.postgres import find_bindir
from tests.services import require, require_haproxy


def test_cluster_up_serves_two_nodes_behind_haproxy_until_ctrl_c() -> None:
    require_haproxy()
    require(find_bindir() is not None, "PostgreSQL (the postgresql package)")
    command = [
        sys.executable, "-m", "mlos.cli", "cluster", "up", "--nodes", "2",
        "--http-port", "0", "--grpc-port", "0", "--json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.rstrip() == "}":
                break
        assert lines, process.stderr.read() if process.stderr else ""
        endpoints = json.loads("".join(lines))
        directory = Path(endpoints["directory"])
        token = Path(endpoints["token_file"]).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(endpoints["rest"] + "/v2/health/ready", timeout=10).status_code == 200
        status = requests.get(endpoints["rest"] + "/v1/cluster", headers=headers, timeout=10)
        assert status.status_code == 200, status.text
        nodes = status.json()["nodes"]
        assert [n["id"] for n in nodes] == ["n0", "n1"]
        assert all(n["health"] == "ready" for n in nodes)
        assert status.json()["database"] == "postgresql"
        assert [n["rest"] for n in endpoints["nodes"]] == [n["address"] for n in nodes]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0
    deadline = time.monotonic() + 5
    while directory.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not directory.exists()
