"""A real `mlos serve` process for end-to-end tests: loopback, a free port, its own home.

    def test_something(mlos_server: MLOSServer) -> None:
        client = mlos_server.client()
        client.register_plugin("onnx")
        ...
        mlos_server.restart()          # same home: the state must survive

The server runs `python -m mlos.cli serve --home HOME --http-port 0 --grpc-port 0` in a session
of its own, with no `MLOS_*` variables from the test environment; with `config`, that mapping is
written to `HOME/config.yaml` first (`suite_config(tmp_path)` lets the suite's plugin modules be
registered and models be read from `tmp_path`). It is ready when it has printed
its REST "listening" line (the last of them) and answers `/v2/health/live`. The addresses the
other APIs announced are in `urls` by name ("IPC", "gRPC"); `ipc_url` and `grpc_url` give them
as `unix://...` and `grpc://host:port` ("" when not served). `stop()` sends SIGTERM and waits; it
kills anything left (the server, or plugin processes it did not stop) and then fails the test, so a
leak is never silent. Its stderr goes to `<tmp>/serve-N.log`, shown when it fails to start.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil
import requests
import yaml

from mlos.client import HTTPClient

__all__ = ["REPO", "MLOSServer", "suite_config"]

REPO = Path(__file__).resolve().parents[1]


def suite_config(*model_roots: Path) -> dict[str, Any]:
    """A server configuration for the suite: its test plugins (modules under `tests`) may be
    registered, and models read from `model_roots` (typically the test's temporary folder)."""
    return {
        "model_roots": [str(root) for root in model_roots],
        "plugin_modules": ["tests.*"],
        "plugin_python_path": [str(REPO)],
    }

_LISTENING = re.compile(r"MLOS (\S+) listening on (\S+)")


class MLOSServer:
    """One `mlos serve` process at a time over a fixed home directory."""

    def __init__(
        self, home: Path, logs: Path, *args: str, config: dict[str, Any] | None = None
    ) -> None:
        self.home = home
        self.logs = logs
        self.args = args
        self.config = config
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.urls: dict[str, str] = {}
        self.log = logs / "serve.log"
        self._starts = 0
        self._lines: queue.Queue[str | None] = queue.Queue()

    # ----- lifetime ----------------------------------------------------------------------

    def start(self, *args: str, timeout: float = 60.0) -> str:
        """Start the server (extra `args` for `mlos serve`, else those given at creation)."""
        assert self.process is None, "the server is running already"
        if self.config is not None:
            self.home.mkdir(parents=True, exist_ok=True)
            (self.home / "config.yaml").write_text(yaml.safe_dump(self.config))
        self._starts += 1
        self.log = self.logs / f"serve-{self._starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOS_")}
        command = [
            sys.executable, "-m", "mlos.cli", "serve", "--home", str(self.home),
            "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
            *(args or self.args),
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env,
                text=True, start_new_session=True,
            )
        self._lines = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=self._read, args=(stdout, self._lines), daemon=True).start()
        try:
            self.url = self._wait_listening(timeout)
            self._wait_live(timeout)
        except BaseException:
            self._kill()
            raise
        return self.url

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, and check that no process is left; the exit status."""
        process = self.process
        if process is None:
            return 0
        children = self._children()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise AssertionError(f"mlos serve did not stop within {timeout} s of SIGTERM") from None
        finally:
            self.process = None
        leftovers = [child for child in children if _alive(child)]
        for child in leftovers:
            child.kill()
        assert not leftovers, f"mlos serve left processes running: {[c.pid for c in leftovers]}"
        return code

    def restart(self, *args: str) -> str:
        """Stop (checking that it stops cleanly) and start again over the same home."""
        code = self.stop()
        assert code == 0, f"mlos serve exited with {code}; see {self.log}"
        return self.start(*args)

    def client(self, timeout: float = 30.0) -> HTTPClient:
        """A client of this server."""
        return HTTPClient(self.url, timeout=timeout)

    @property
    def ipc_url(self) -> str:
        """`unix:///...` of the IPC socket, or ""."""
        return self.urls.get("IPC", "")

    @property
    def grpc_url(self) -> str:
        """`grpc://host:port`, or ""."""
        address = self.urls.get("gRPC", "")
        return address if not address or "://" in address else f"grpc://{address}"

    # ----- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _read(stream: IO[str], lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _wait_listening(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        self.urls = {}
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._failure(f"no 'listening' line within {timeout} s") from None
            if line is None:
                raise self._failure("mlos serve exited before listening")
            match = _LISTENING.search(line)
            if match:
                self.urls[match.group(1)] = match.group(2)
                if match.group(1) == "REST":
                    return match.group(2)

    def _wait_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with requests.Session() as session:
            session.trust_env = False
            while True:
                try:
                    if session.get(self.url + "/v2/health/live", timeout=5).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline or self.process is None or (
                    self.process.poll() is not None
                ):
                    raise self._failure("/v2/health/live never answered 200")
                time.sleep(0.02)  # between polls; readiness itself is the 200 above

    def _failure(self, what: str) -> RuntimeError:
        log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return RuntimeError(f"mlos serve failed to start: {what}\n--- {self.log} ---\n{log}")

    def _children(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def _kill(self) -> None:
        process = self.process
        if process is None:
            return
        children = self._children()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for child in children:
            if _alive(child):
                child.kill()
        process.wait(10)
        self.process = None


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
