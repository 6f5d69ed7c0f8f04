"""What generated IPC stubs are made of: a typed method descriptor and a per-call context."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

__all__ = ["CallContext", "ConnectionHooks", "Method"]

log = logging.getLogger(__name__)

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)


@dataclass(frozen=True, slots=True)
class Method(Generic[RequestT, ResponseT]):
    """One RPC of a service: its stable numeric id and its message types."""

    id: int
    service: str
    name: str
    handler: str
    request_type: type[RequestT]
    response_type: type[ResponseT]

    @property
    def full_name(self) -> str:
        """`mlos.smi.v1.Plugin/LoadModel`."""
        return f"{self.service}/{self.name}"


class ConnectionHooks:
    """Clean-ups to run when a connection closes (a region it registered, for example), and
    the state the server keeps for the connection.

    One added after the connection closed runs at once, so a call that finishes late still
    cleans up after itself.
    """

    __slots__ = ("_callbacks", "closed", "state")

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self.closed = False
        self.state: dict[str, Any] = {}
        """What the server keeps per connection (who it authenticated as, for example)."""

    def add(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the connection closes (now, if it has)."""
        if self.closed:
            self._call(callback)
        else:
            self._callbacks.append(callback)

    def close(self) -> None:
        """The connection closed: run every clean-up, once."""
        self.closed = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._call(callback)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("a clean-up after a closed connection failed")


@dataclass(slots=True)
class CallContext:
    """What a servicer knows about the call it is handling."""

    method: Method[Message, Message]
    request_id: int
    # Monotonic time by which the caller stops waiting; None when the call has no deadline.
    deadline: float | None = None
    # Uid of the peer process (SO_PEERCRED), when the transport knows it.
    peer_uid: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Clean-ups for when the caller's connection closes (the IPC server's connections have
    # them); None where the transport has no connection a handler can see.
    connection: ConnectionHooks | None = None
    # File descriptors to pass to the caller with the answer (SCM_RIGHTS, IPC only); the
    # connection closes its copies once they are sent, or when the answer is an error.
    pass_fds: tuple[int, ...] = ()

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())
