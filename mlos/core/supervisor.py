"""Plugin processes: start one, speak SMI to it, notice at once when it dies.

Each plugin version runs in its own OS process. The core creates a connected pair of Unix
sockets, keeps one end and hands the other to the child as an inherited file descriptor, so
the connection exists before the child runs and nothing is left on the file system. Losing
the connection (the process crashed, was killed, or exited) fails every call in flight with
`Unavailable` and is reported through `on_exit` right away; the process is then reaped, and
`exit_reason` says how it ended — its exit code or signal, and "killed: memory limit ..." when
its memory limit stopped it — once `ended` is set.

The server starts a plugin process contained (:mod:`mlos.core.containment`): ``python -P`` in
its own directory, with a scrubbed environment, under its limits. Without an enclosure (the
conformance kit) the command is the plain one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

from mlos import errors
from mlos.core.containment import Containment, Enclosure
from mlos.core.drain import InFlight
from mlos.discovery import find_entry_point
from mlos.sandbox.confine import Confinement
from mlos.sandbox.exits import describe_exit
from mlos.sandbox.limits import Limits
from mlos.wire.channel import Channel
from mlos.wire.handoff import CHANNEL_FD_ENV
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["PluginLaunch", "PluginProcess", "check_smi_version"]

log = logging.getLogger(__name__)

DESCRIBE_TIMEOUT = 60.0  # a first import of a heavy framework can take a while
SHUTDOWN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class PluginLaunch:
    """How to start a plugin: exactly one of the three sources."""

    name: str
    source_kind: str  # "entry_point", "module" or "executable"
    source: str
    python: str = ""
    """The interpreter of the plugin host (entry_point and module sources); empty: this one."""

    def command(self, fd: int, confinement: Confinement | None = None) -> list[str]:
        """The command line of the plugin process, which inherits its socket as `fd`.

        With a `confinement` the process applies it to itself before any plugin code runs
        (an executable through ``python -m mlos.sandbox``), and Python runs with `-P`: neither
        the working directory nor a script's directory is on its import path.
        """
        if self.source_kind == "executable":
            if confinement is None:
                return [self.source, "--fd", str(fd)]
            return [
                sys.executable, "-P", "-m", "mlos.sandbox", "--confine", confinement.to_json(),
                "--", self.source, "--fd", str(fd),
            ]  # fmt: skip
        flag = {"entry_point": "--entry-point", "module": "--module"}.get(self.source_kind)
        if flag is None:
            raise errors.InvalidArgument(f"unknown plugin source kind {self.source_kind!r}")
        python = self.python or sys.executable
        if confinement is None:
            return [python, "-m", "mlos.sdk.host", flag, self.source, "--fd", str(fd)]
        return [
            python, "-P", "-m", "mlos.sdk.host", flag, self.source, "--fd", str(fd),
            "--confine", confinement.to_json(),
        ]  # fmt: skip

    def check(self) -> None:
        """Fail early when the source cannot possibly start."""
        if self.python and self.source_kind == "executable":
            raise errors.InvalidArgument(
                "python is for entry_point and module sources, not executables"
            )
        if self.source_kind == "executable":
            found = shutil.which(self.source)
            if found is None:
                raise errors.NotFound(f"plugin executable {self.source!r} not found")
        elif self.source_kind == "entry_point":
            if not self.python and find_entry_point(self.source) is None:
                raise errors.NotFound(
                    f"no installed plugin provides the entry point {self.source!r} "
                    "(group mlos.plugins); install it with pip or give module/executable"
                )
        elif self.source_kind == "module":
            if ":" not in self.source:
                raise errors.InvalidArgument("module must look like 'package.module:Class'")
        else:
            raise errors.InvalidArgument(f"unknown plugin source kind {self.source_kind!r}")


def check_smi_version(info: smi_pb2.PluginInfo) -> None:
    """Accept a plugin speaking the core's SMI major version at the core's minor or later."""
    core = smi_ipc.SMI_VERSION
    for version in info.smi_versions:
        if version.major == core.major and version.minor >= core.minor:
            return
    spoken = ", ".join(f"{v.major}.{v.minor}" for v in info.smi_versions) or "none"
    raise errors.IncompatibleVersion(
        f"plugin {info.name!r} speaks SMI {spoken}; this core needs {core.major}.{core.minor} "
        "or a later minor version"
    )


class PluginProcess:
    """One running plugin process and its SMI client."""

    def __init__(
        self,
        launch: PluginLaunch,
        on_exit: Callable[[PluginProcess], None],
        containment: Containment | None = None,
        limits: Limits | None = None,
        instance: str = "",
    ) -> None:
        self.launch = launch
        self.instance = instance or launch.name
        """The name of this process's directory and cgroup: the plugin's name, or another one
        while a second process of the plugin runs beside it (a hot swap)."""
        self.in_flight = InFlight()
        """Inference calls the core has routed to this process and not yet seen answered."""
        self.containment = containment
        self.limits = limits or Limits()
        self.enclosure: Enclosure | None = None
        self._on_exit = on_exit
        self.process: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.client: smi_ipc.PluginClient | None = None
        self.info: smi_pb2.PluginInfo | None = None
        self.alive = False
        self._exit_reported = False
        self._stopping = False
        self.exit_reason = ""
        self.ended = asyncio.Event()
        """Set once the process is gone, reaped, and `exit_reason` says how it ended."""
        self._reaper: asyncio.Future[None] | None = None
        self.channel_socket: socket.socket | None = None
        """The core's end of the plugin's channel socket (mlos.sdk.direct), while it runs."""

    @property
    def pid(self) -> int:
        """The process id, or 0 when not running."""
        return self.process.pid if self.process is not None and self.alive else 0

    @property
    def uid(self) -> int:
        """The user the process runs as when it is not the server's, else -1."""
        return self.enclosure.confinement.uid if self.enclosure is not None else -1

    @property
    def sandbox(self) -> str:
        """How the process's limits are enforced (empty before it started)."""
        return self.enclosure.sandbox if self.enclosure is not None else ""

    async def start(self) -> smi_pb2.PluginInfo:
        """Start the process, describe it and check its SMI version; stop it on any failure."""
        enclosure = None
        if self.containment is not None:
            try:
                enclosure = self.containment.enclose(self.instance, self.limits)
            except OSError as exc:
                raise errors.Unavailable(
                    f"cannot prepare plugin {self.launch.name!r}: {exc.strerror or exc}"
                ) from exc
        self.enclosure = enclosure
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The channel socket: sockets of direct channels go to the plugin on it (SCM_RIGHTS).
        channels, channels_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.channel_socket = channels
        try:
            fd = child.fileno()
            extra = {"MLOS_SMI_FD": str(fd), CHANNEL_FD_ENV: str(channels_child.fileno())}
            if enclosure is not None:
                command = self.launch.command(fd, enclosure.confinement)
                env, cwd = {**enclosure.env, **extra}, str(enclosure.cwd)
            else:
                command = self.launch.command(fd)
                env, cwd = {**os.environ, **extra}, None
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=(fd, channels_child.fileno()),
                env=env,
                cwd=cwd,
                # Its own session: a Ctrl-C meant for the server must not kill the plugin
                # before the server has drained its requests (it dies with the server anyway).
                start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            channels.close()
            self.channel_socket = None
            if enclosure is not None:
                enclosure.close()
            raise errors.Unavailable(f"cannot start plugin {self.launch.name!r}: {exc}") from exc
        finally:
            child.close()
            channels_child.close()
        self.alive = True
        self.channel = await Channel.from_socket(parent, name=f"plugin {self.launch.name!r}")
        self.channel.on_close(lambda _exc: self._connection_lost())
        self.client = smi_ipc.PluginClient(self.channel)
        try:
            info = await self.client.describe(
                smi_pb2.DescribeRequest(core_smi_version=smi_ipc.SMI_VERSION),
                timeout=DESCRIBE_TIMEOUT,
            )
            check_smi_version(info)
        except errors.MLOSError as exc:
            reason = exc.message
            if isinstance(exc, errors.Unavailable):
                # Its code or installation is broken: starting again will not help until
                # that is fixed (FailedPrecondition, not the transient Unavailable).
                reason = f"plugin process {self._describe(await self._wait())} during start"
                exc = errors.FailedPrecondition(f"plugin {self.launch.name!r}: {reason}")
            await self.stop()
            self.exit_reason = reason
            raise exc from None
        self.info = info
        return info

    async def _wait(self) -> int | None:
        if self.process is None:
            return None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.process.wait(), 2.0)
        return None

    def _describe(self, returncode: int | None) -> str:
        """How the process ended, in words that name its exit code or signal."""
        enclosure = self.enclosure
        memory = self.limits.memory_bytes
        oom = enclosure is not None and enclosure.oom_killed()
        if not (enclosure is not None and (oom or enclosure.memory_by_rlimit)):
            memory = 0  # the exit code has its ordinary meaning
        return describe_exit(returncode, memory_limit=memory, oom_killed=oom)

    def _connection_lost(self) -> None:
        self.alive = False
        if self.channel_socket is not None:
            self.channel_socket.close()
            self.channel_socket = None
        if self.process is not None and self._reaper is None:
            # Reap the child so it never lingers as a zombie, and learn how it ended.
            self._reaper = asyncio.ensure_future(self._reap())
        if not self._exit_reported:
            self._exit_reported = True
            self.exit_reason = "plugin process ended"  # until the exit status is known
            self._on_exit(self)

    async def _reap(self) -> None:
        assert self.process is not None
        closed_only = False
        try:
            returncode = await asyncio.wait_for(self.process.wait(), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            closed_only = True  # it closed the connection but went on running
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            returncode = await self.process.wait()
        finally:
            if self.enclosure is not None:
                self.enclosure.close()
        if not self._stopping:
            how = self._describe(returncode)
            self.exit_reason = (
                f"plugin process closed its connection and was {how}"
                if closed_only
                else f"plugin process {how}"
            )
        self.ended.set()

    async def stop(self) -> None:
        """Ask the plugin to shut down, then make sure the process is gone."""
        self._stopping = True
        self._exit_reported = True  # a requested stop is not a crash
        if self.client is not None and self.channel is not None and not self.channel.closed:
            with contextlib.suppress(errors.MLOSError):
                await self.client.shutdown(
                    smi_pb2.ShutdownRequest(deadline_ms=int(SHUTDOWN_TIMEOUT * 1000)),
                    timeout=SHUTDOWN_TIMEOUT,
                )
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), SHUTDOWN_TIMEOUT)
            except TimeoutError:
                log.warning("plugin %s did not exit in time; killing it", self.launch.name)
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self.channel is not None:
            self.channel.close()
        if self.channel_socket is not None:
            self.channel_socket.close()
            self.channel_socket = None
        if self._reaper is not None and not self._reaper.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self.enclosure is not None:
            self.enclosure.close()
        self.alive = False
        self.ended.set()
