"""What generated IPC stubs are made of: a typed method descriptor and a per-call context."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.protobuf.message import Message

__all__ = ["CallContext", "Method"]

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

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())
