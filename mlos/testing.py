"""A real `mlos serve` process for end-to-end tests and benchmarks, always stopped.

::

    with ServerProcess(tmp_path / "home", "--demo") as server:
        client = server.client()
        client.register_plugin("onnx")
        ...
        server.restart()               # same home: the state must survive

The server runs ``python -m mlos.cli serve --home HOME --host 127.0.0.1 --http-port 0
--grpc-port 0`` (loopback, free ports) in a session of its own, by default with no ``MLOS_*``
variables from this process's environment. It is ready when it has printed its REST
"listening" line (the last of them) and answers ``/v2/health/live``; the addresses the other
APIs announced are in `urls` by name ("gRPC", "IPC"), and `grpc_url`, `grpc_address` and
`ipc_url` give them in the forms clients take. Its stdout is kept in `output`; its stderr goes
to ``serve-N.log`` (N counts the starts) in `logs`, and is quoted when it fails to start.

`stop()` sends SIGTERM and waits; a server that does not stop in time, or leaves a process
behind (a plugin process it did not stop), is killed with everything it started, and then
`stop()` raises `InternalError`, so that a leak is never silent.
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
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil
import requests
import yaml

from mlos.client import HTTPClient
from mlos.client.credentials import ADMIN_TOKEN_FILE
from mlos.errors import InternalError, Unavailable

__all__ = ["ServerProcess"]

LISTENING = re.compile(r"MLOS (\S+) listening on (\S+)")
"""The line `mlos serve` prints for each API once it listens: the API's name and address."""

_POLL = 0.02
"""Seconds between readiness polls; readiness itself is the health answer."""


class ServerProcess:
    """One `mlos serve` process at a time over a fixed home directory.

    `args` are extra `mlos serve` arguments for every start; `logs` is where the stderr logs
    go (the home directory when not given); `env` is the environment to start from (this
    process's without ``MLOS_*`` variables when not given: pass `os.environ` to hand settings
    such as ``MLOS_BUSY_POLL_US`` through).
    """

    def __init__(
        self,
        home: Path,
        *args: str,
        logs: Path | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        ca: Path | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.home = home
        self.config = config
        """Settings written to ``HOME/config.yaml`` before each start, when given."""
        self.args = args
        self.logs = logs or home
        self.env = env
        self.ca = ca
        """The CA bundle that verifies the server's certificate when it serves TLS."""
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        """The REST base URL (``http://127.0.0.1:PORT``) once started."""
        self.urls: dict[str, str] = {}
        """Every address announced, by API name ("REST", "gRPC", "IPC")."""
        self.output: list[str] = []
        """The lines the server printed on stdout, this start."""
        self.log = self.logs / "serve.log"
        """The file the server's stderr goes to, this start."""
        self._starts = 0
        self._lines: queue.Queue[str | None] = queue.Queue()

    # ----- lifetime ----------------------------------------------------------------------

    def start(self, *args: str, timeout: float | None = None) -> str:
        """Start the server (extra `args` for `mlos serve`, else those given at creation).

        Returns the REST base URL once the server answers its liveness check; raises
        `Unavailable`, with the server's log, when it exits or is not live within `timeout`.
        """
        if self.process is not None:
            raise InternalError("mlos serve is running already; stop it first")
        if self.config is not None:
            self.home.mkdir(parents=True, exist_ok=True)
            (self.home / "config.yaml").write_text(yaml.safe_dump(dict(self.config)))
        timeout = self.startup_timeout if timeout is None else timeout
        self._starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        self.log = self.logs / f"serve-{self._starts}.log"
        base = self.env if self.env is not None else _without_mlos(os.environ)
        env = {**base, "PYTHONUNBUFFERED": "1"}
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
        self.output = []
        self._lines = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=self._read, args=(stdout, self._lines), daemon=True).start()
        try:
            self.url = self._wait_listening(timeout)
            self._wait_live(timeout)
        except BaseException:
            self.kill()
            raise
        return self.url

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, and check that no process is left; the exit status (0 when stopped).

        Raises `InternalError` (after killing what is left) when the server does not exit
        within `timeout` or leaves processes running.
        """
        process = self.process
        if process is None:
            return 0
        children = self._children()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise InternalError(f"mlos serve did not stop within {timeout} s of SIGTERM") from None
        self.process = None
        leftovers = [child for child in children if _alive(child)]
        for child in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if leftovers:
            pids = [child.pid for child in leftovers]
            raise InternalError(f"mlos serve left processes running: {pids}")
        return code

    def restart(self, *args: str) -> str:
        """Stop (checking that it stops cleanly, with status 0) and start over the same home."""
        code = self.stop()
        if code != 0:
            raise InternalError(f"mlos serve exited with {code}; see {self.log}")
        return self.start(*args)

    def kill(self) -> None:
        """SIGKILL the server's session and every process it started; no checks."""
        process = self.process
        if process is None:
            return
        children = self._children()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for child in children:
            if _alive(child):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        process.wait(10)
        self.process = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.stop()
        else:  # the error in flight says more than a check of the shutdown would
            self.kill()

    # ----- addresses ---------------------------------------------------------------------

    def client(self, timeout: float = 30.0) -> HTTPClient:
        """A REST client of this server, with its admin token."""
        return HTTPClient(self.url, timeout=timeout, token=self.token)

    @property
    def token(self) -> str | None:
        """The admin token the server wrote into its home (None when it runs without auth)."""
        try:
            return (self.home / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    @property
    def auth_headers(self) -> dict[str, str]:
        """The HTTP header that presents the admin token (for requests, curl, tritonclient)."""
        token = self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def ipc_url(self) -> str:
        """``unix:///...`` of the IPC socket, or "" when not served."""
        return self.urls.get("IPC", "")

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the gRPC API (what grpcio and tritonclient take), or ""."""
        return self.urls.get("gRPC", "").removeprefix("grpc://")

    @property
    def grpc_url(self) -> str:
        """``grpc://host:port``, or "" when not served."""
        address = self.grpc_address
        return f"grpc://{address}" if address else ""

    def log_tail(self, chars: int = 4000) -> str:
        """The end of this start's stderr log ("" when there is none)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    # ----- plumbing ----------------------------------------------------------------------

    def _read(self, stream: IO[str], lines: queue.Queue[str | None]) -> None:
        for line in stream:
            self.output.append(line)
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
            match = LISTENING.search(line)
            if match:
                self.urls[match.group(1)] = match.group(2)
                if match.group(1) == "REST":
                    return match.group(2)

    def _wait_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with requests.Session() as session:
            session.trust_env = False
            if self.ca is not None:
                session.verify = str(self.ca)
            while True:
                with contextlib.suppress(requests.RequestException):
                    if session.get(self.url + "/v2/health/live", timeout=5).status_code == 200:
                        return
                process = self.process
                if time.monotonic() > deadline or process is None or process.poll() is not None:
                    raise self._failure("/v2/health/live never answered 200")
                time.sleep(_POLL)

    def _failure(self, what: str) -> Unavailable:
        return Unavailable(f"mlos serve failed to start: {what}\n--- {self.log} ---\n"
                           f"{self.log_tail()}")

    def _children(self) -> list[psutil.Process]:
        if self.process is None:
            return []
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def _without_mlos(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in environ.items() if not key.startswith("MLOS_")}


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
