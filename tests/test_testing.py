"""mlos.testing.ServerProcess: a real `mlos serve`, ready when it answers, always stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from mlos.errors import InternalError, Unavailable
from mlos.testing import ServerProcess


def test_serves_every_api_and_stops_clean(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", logs=tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert requests.get(server.url + "/v2/health/ready", timeout=10).status_code == 200
        assert server.grpc_address.startswith("127.0.0.1:")
        assert server.grpc_url == "grpc://" + server.grpc_address
        assert server.ipc_url.startswith("unix://")
        assert server.client().health().live
        process = server.process
        assert process is not None
    assert server.process is None and process.poll() is not None
    assert (tmp_path / "serve-1.log").exists()


def test_a_server_that_cannot_start_is_unavailable_with_its_log(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", "--log-level", "chatty")
    with pytest.raises(Unavailable, match="exited before listening") as caught:
        server.start(timeout=60)
    assert "chatty" in str(caught.value)  # the server's own error, quoted from its log
    assert server.process is None
    assert server.log == tmp_path / "home" / "serve-1.log"


def test_a_process_left_behind_is_killed_and_reported(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", logs=tmp_path)
    server.start()
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        started = server._children()
        server._children = lambda: [*started, psutil.Process(stray.pid)]  # type: ignore[method-assign]
        with pytest.raises(InternalError, match=f"left processes running: \\[{stray.pid}\\]"):
            server.stop()
        assert stray.wait(10) != 0  # killed by stop()
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
        server.kill()
    assert server.process is None
