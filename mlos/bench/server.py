"""Start a real `mlos serve` process on a free loopback port, and always stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from mlos.errors import Unavailable

__all__ = ["ServerProcess"]

LISTENING = re.compile(r"MLOS REST listening on (http://\S+)")
GRPC_LISTENING = re.compile(r"MLOS gRPC listening on (\S+)")
IPC_LISTENING = re.compile(r"MLOS IPC listening on (unix://\S+)")


class ServerProcess:
    """`mlos serve --home HOME --http-port 0 --grpc-port 0` as a context manager.

    It yields the REST base URL; `grpc_address` holds the gRPC `host:port` and `ipc_url` the
    IPC socket's `unix://` address (both printed before the REST line, so known once it is).
    """

    def __init__(self, home: Path, *extra: str, startup_timeout: float = 60.0) -> None:
        self.home = home
        self.extra = extra
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.grpc_address = ""
        self.ipc_url = ""
        self.output: list[str] = []

    def start(self) -> str:
        """Start the server and wait until it prints the address it listens on."""
        command = [
            sys.executable,
            "-m",
            "mlos.cli.main",
            "serve",
            "--home",
            str(self.home),
            "--host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            *self.extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        found = threading.Event()
        threading.Thread(target=self._read, args=(found,), daemon=True).start()
        if not found.wait(self.startup_timeout) or not self.url:
            self.stop()
            raise Unavailable("mlos serve did not start:\n" + "".join(self.output[-20:]))
        return self.url

    def _read(self, found: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            grpc_match = GRPC_LISTENING.search(line)
            if grpc_match and not self.grpc_address:
                self.grpc_address = grpc_match.group(1)
            ipc_match = IPC_LISTENING.search(line)
            if ipc_match and not self.ipc_url:
                self.ipc_url = ipc_match.group(1)
            match = LISTENING.search(line)
            if match and not self.url:
                self.url = match.group(1)
                found.set()
        found.set()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, SIGKILL if it must; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
