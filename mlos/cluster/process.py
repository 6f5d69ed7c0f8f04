"""A child service process: started with its output in a log file, stopped for certain.

:class:`ServiceProcess` is what :mod:`mlos.cluster.postgres` and :mod:`mlos.cluster.haproxy`
share: start a binary (as another user when asked), tell whether it still runs, show the end of
its log when it fails, and stop it — a polite signal first, SIGKILL when that is not enough.
:class:`ManagedService` is the lifetime both servers share around it: `running`, `stop`, and
use as a context manager.
"""

from __future__ import annotations

import abc
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

__all__ = ["ManagedService", "RunAs", "ServiceProcess", "free_port", "run_as_for_root"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (the caller binds it soon after; a race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class RunAs:
    """An unprivileged account to run a service as (root's children drop to it)."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def lookup(cls, name: str) -> RunAs:
        """The account `name`; KeyError when there is none."""
        entry = pwd.getpwnam(name)
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)

    def chown(self, path: Path) -> None:
        """Give `path` and everything under it to this account."""
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)

    def spawn_options(self, argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
        """The command line and `subprocess.Popen` options that run `argv` as this account.

        util-linux's `setpriv` switches the account, so that Python can start the child with
        vfork: a fork of a process that has threads (a gRPC runtime, say) can hang or crash the
        child before it runs anything. Without `setpriv`, Popen switches it after a fork.
        """
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            prefix = [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
            return [*prefix, "--", *argv], {}
        return list(argv), {"user": self.uid, "group": self.gid, "extra_groups": []}

    def can_reach(self, path: Path) -> bool:
        """Whether this account may walk down to `path` (search permission on every parent)."""
        for parent in path.resolve().parents:
            mode = parent.stat()
            if mode.st_uid == self.uid:
                allowed = mode.st_mode & 0o100
            elif mode.st_gid == self.gid:
                allowed = mode.st_mode & 0o010
            else:
                allowed = mode.st_mode & 0o001
            if not allowed:
                return False
        return True


def run_as_for_root(candidates: Sequence[str] = ("postgres", "nobody")) -> RunAs | None:
    """The first account of `candidates` when this process is root; None when it is not."""
    if os.geteuid() != 0:
        return None
    for name in candidates:
        try:
            return RunAs.lookup(name)
        except KeyError:
            continue
    raise RuntimeError(f"no unprivileged account to run as (tried {', '.join(candidates)})")


class ServiceProcess:
    """One running service binary, its output appended to `log`."""

    def __init__(
        self,
        argv: Sequence[str],
        log: Path,
        *,
        run_as: RunAs | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self.log_start = log.stat().st_size if log.exists() else 0
        environment = dict(os.environ if env is None else env)
        if run_as is not None:
            environment.update(HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
        argv_run, options = run_as.spawn_options(self.argv) if run_as else (self.argv, {})
        with log.open("ab") as out:
            if run_as is not None:
                os.chown(log, run_as.uid, run_as.gid)
            self.process = subprocess.Popen(
                argv_run,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=cwd,
                # Its own session: a Ctrl-C meant for the parent does not reach it; the parent
                # decides how the service stops.
                start_new_session=True,
                **options,
            )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def running(self) -> bool:
        """Whether the process has not exited."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last `lines` lines this process wrote to its log."""
        try:
            with self.log.open("rb") as handle:
                handle.seek(self.log_start)
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self, first: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `first`, wait up to `timeout` seconds, then SIGKILL; return the exit status."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(first)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.running():
            self.process.kill()
        return self.process.wait()

    def wait_exit(self, timeout: float) -> int | None:
        """The exit status once the process exits within `timeout` seconds, else None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.process.poll()
            if status is not None:
                return status
            time.sleep(0.02)
        return self.process.poll()


class ManagedService(abc.ABC):
    """A server this process starts and stops, one `ServiceProcess` at a time.

    `with service:` starts it and stops it on the way out. Subclasses write `start`, which sets
    `_process`, and name the signal that asks their server to stop gracefully.
    """

    #: The polite signal `stop` sends before SIGKILL.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    #: How long `stop` waits for the server to exit after `stop_signal`, by default.
    stop_timeout: ClassVar[float] = 30.0

    _process: ServiceProcess | None = None

    @abc.abstractmethod
    def start(self) -> None:
        """Start the server and return once it is ready."""

    @property
    def running(self) -> bool:
        """Whether the server process is up."""
        return self._process is not None and self._process.running()

    def stop(self, timeout: float | None = None) -> None:
        """Send `stop_signal`, SIGKILL after `timeout` seconds (`stop_timeout` by default)."""
        if self._process is not None:
            wait = self.stop_timeout if timeout is None else timeout
            self._process.stop(self.stop_signal, timeout=wait)
            self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
