"""A Unix-socket server for a generated servicer: owner-only, safe to restart, drained on stop.

    listener = Listener(MLOSService(engine), settings.ipc_socket, max_frame=64 * 2**20)
    await listener.start()          # the socket exists, mode 0600, and accepts connections
    ...
    await listener.stop()           # no new connections; answers in flight; socket removed

The socket is bound inside a fresh private directory (mode 0700) next to its final path,
given mode 0600, and only then renamed into place, so no other user can connect in between.
A socket file left by a server that died is replaced; a live server on the same path, or a
file that is not a socket, is an error. On stop the socket file is removed if it is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

from mlos.errors import FailedPrecondition, Unavailable
from mlos.wire.connection import ServerConnection
from mlos.wire.framing import DEFAULT_MAX_FRAME

__all__ = ["Listener"]

log = logging.getLogger(__name__)

BACKLOG = 512
_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def _check_stale(path: Path) -> None:
    """Remove a socket file nobody listens on; refuse a live one or any other file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FailedPrecondition(f"cannot listen on {path}: it exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise Unavailable(f"cannot listen on {path}: {exc.strerror}") from None
        log.info("removing the stale IPC socket %s", path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        raise Unavailable(f"cannot listen on {path}: another server is listening there")
    finally:
        probe.close()


def bind_private(path: Path) -> socket.socket:
    """A listening Unix socket at `path` that only its owner can connect to (see the module)."""
    if len(os.fsencode(path)) > _PATH_MAX:
        raise FailedPrecondition(
            f"cannot listen on {path}: a Unix socket path must be under {_PATH_MAX + 1} bytes"
        )
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_stale(path)
    private = Path(tempfile.mkdtemp(prefix=".s", dir=parent))  # mode 0700
    staging = private / "s"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(staging))
        os.chmod(staging, 0o600)
        os.rename(staging, path)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        raise Unavailable(f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            private.rmdir()
    return sock


class Listener:
    """Serves `servicer` on the Unix socket `path` (see the module documentation)."""

    def __init__(self, servicer: Any, path: Path, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.servicer = servicer
        self.path = Path(path)
        self.max_frame = max_frame
        self.connections: set[ServerConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        """`unix:///absolute/path`, as clients connect to it."""
        return f"unix://{self.path.absolute()}"

    async def start(self) -> None:
        """Create the socket and accept connections."""
        sock = bind_private(self.path)
        info = self.path.lstat()
        self._identity = (info.st_dev, info.st_ino)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_unix_server(self._connection, sock=sock)
        except BaseException:
            sock.close()
            self._remove()
            raise

    def _connection(self) -> ServerConnection:
        connection = ServerConnection(self.servicer, self.max_frame)
        self.connections.add(connection)
        connection.lost.add_done_callback(lambda _: self.connections.discard(connection))
        return connection

    async def stop(self, drain: float = 30.0) -> None:
        """Stop accepting, wait up to `drain` seconds for answers in flight, close, remove."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._remove()
        waiting = [c.drain() for c in self.connections if c.in_flight]
        if waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waiting), drain)
        for connection in list(self.connections):
            connection.close()
        await server.wait_closed()

    def _remove(self) -> None:
        """Unlink the socket file if it is still the one this listener created."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return
        if (info.st_dev, info.st_ino) == self._identity:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
