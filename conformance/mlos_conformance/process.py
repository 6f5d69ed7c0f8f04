"""The plugin under test, started exactly as the core starts a plugin.

`mlos.core.supervisor.PluginLaunch` builds the command line; like `PluginProcess`, the kit
creates a connected pair of Unix sockets, passes one end to the child as an inherited file
descriptor (named by `--fd N` and by `MLOS_SMI_FD`) and starts the child in a session of its
own. One difference: the plugin's stdout and stderr go to a log file instead of the terminal,
so the report stays readable and `--json` output stays parseable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Mapping
from typing import IO

import psutil

from mlos.core.supervisor import PluginLaunch
from mlos_conformance.wire import Connection

__all__ = ["PluginUnderTest"]


class PluginUnderTest:
    """A running plugin process and the kit's SMI connection to it."""

    def __init__(
        self,
        launch: PluginLaunch,
        process: asyncio.subprocess.Process,
        connection: Connection,
    ) -> None:
        self.launch = launch
        self.process = process
        self.connection = connection
        self.pid = process.pid
        try:
            self.handle: psutil.Process | None = psutil.Process(process.pid)
        except psutil.Error:
            self.handle = None

    @classmethod
    async def start(
        cls, launch: PluginLaunch, log: IO[bytes], env: Mapping[str, str] | None = None
    ) -> PluginUnderTest:
        """Start the plugin process on one end of a fresh socket pair."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            fd = child.fileno()
            process = await asyncio.create_subprocess_exec(
                *launch.command(fd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(fd,),
                env={**os.environ, **(env or {}), "MLOS_SMI_FD": str(fd)},
                start_new_session=True,
            )
        except OSError:
            parent.close()
            raise
        finally:
            child.close()
        connection = await Connection.from_socket(parent)
        return cls(launch, process, connection)

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.process.returncode is None

    @property
    def usable(self) -> bool:
        """Whether the process runs and the connection is open."""
        return self.running and not self.connection.closed

    @property
    def exit_code(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return self.process.returncode

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the process to exit; its exit status, or None."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.process.wait(), timeout)
        return None

    def describe_exit(self) -> str:
        """How the process ended ("exited with code N", "killed by signal N"), if it did."""
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by signal {-code}"
        return f"exited with code {code}"

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the connection (a plugin exits when it closes); kill the process if it stays."""
        self.connection.close()
        if self.running and await self.wait_exit(timeout) is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        # The plugin leads a process group of its own; take down what it left behind in it.
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
