"""SIGTERM drains a node: readiness turns false at once while the node keeps serving for
`drain_delay`, then it stops cleanly."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import requests

from mlos.testing import ServerProcess


def test_sigterm_turns_readiness_false_while_the_node_keeps_serving(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", "--no-auth", config={"drain_delay": 3})
    server.start()
    try:
        assert requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 2
        # Not ready is 400, as Triton answers it.
        while requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code != 400:
            assert time.monotonic() < deadline, "readiness stayed true after SIGTERM"
            time.sleep(0.02)
        # Draining, not gone: it still answers everything else.
        assert requests.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200
        assert requests.get(f"{server.url}/v1/plugins", timeout=5).status_code == 200
        status = requests.get(f"{server.url}/v1/cluster", timeout=5).json()
        assert [n["health"] for n in status["nodes"]] == ["draining"]
        assert server.process.wait(30) == 0
    finally:
        if server.process is not None and server.process.poll() is not None:
            server.process = None  # it stopped on its own, as it should
        server.stop()
