"""A local MLOS server for ``axon run``: reuse the one that answers, or start one.

A server that answers at the configured URL is used as it is. Otherwise, if the URL is a
loopback HTTP address, ``mlos serve`` is started there in a session of its own (so it outlives
the command, like a daemon a package manager starts on demand), with its home in
``$AXON_HOME/server`` (database, sockets, ``serve.log``, ``serve.pid``), REST on the URL's
port, gRPC on a free port; the command waits until it is live. Nothing is started on any
other address.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from axon.errors import ServerError
from axon.mlos_api import connect, talking_to
from mlos.client import Unreachable
from mlos.errors import DeadlineExceeded, PermissionDenied, Unauthenticated

__all__ = ["LocalServer", "ensure_server"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class LocalServer:
    """The server ``axon run`` uses: its URL, and, when this call started it, how to find it."""

    url: str
    started: bool
    pid: int | None = None
    home: pathlib.Path | None = None

    @property
    def log(self) -> pathlib.Path | None:
        """The started server's log."""
        return self.home / "serve.log" if self.home is not None else None


def _answers(url: str, timeout: float, starting: bool = False) -> bool:
    """Whether an MLOS server is live at ``url``; nobody listening is False.

    While a server is ``starting``, a slow answer is False too (try again); otherwise it is an
    error, since something occupies the address.
    """
    client = connect(url, timeout)
    try:
        with talking_to(url):
            try:
                return client.health().live
            except (Unauthenticated, PermissionDenied):
                return True  # a server answered; what it lets this caller do is deploy's concern
            except Unreachable:
                return False
            except DeadlineExceeded:
                if starting:
                    return False
                raise
    finally:
        client.close()


def _tail(path: pathlib.Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text("utf-8", "replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def ensure_server(url: str, home: pathlib.Path, timeout: float = 5.0,
                  start_timeout: float = START_TIMEOUT) -> LocalServer:
    """The server at ``url``, started under ``home`` if nothing answers there."""
    if _answers(url, timeout):
        return LocalServer(url, False)
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK or not parts.port:
        raise ServerError(f"no MLOS server answers at {url}, and axon run starts one only on a "
                          "loopback http://127.0.0.1:PORT address; start `mlos serve` yourself")
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    command = [sys.executable, "-m", "mlos.cli", "serve", "--home", str(home),
               "--host", "127.0.0.1", "--http-port", str(parts.port), "--grpc-port", "0"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                   start_new_session=True, cwd=home)
    (home / "serve.pid").write_text(f"{process.pid}\n", encoding="utf-8")
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"mlos serve exited with status {process.returncode} before it "
                              f"answered at {url}: {_tail(log)} (log: {log})")
        if _answers(url, 2.0, starting=True):
            return LocalServer(url, True, process.pid, home)
        time.sleep(0.1)
    process.terminate()
    raise ServerError(f"mlos serve did not answer at {url} within {start_timeout:.0f} s "
                      f"(log: {log})")

