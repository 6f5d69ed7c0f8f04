"""Client side of an IPC connection: typed calls multiplexed by request id."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable

from google.protobuf.message import DecodeError, Message

from mlos.errors import DeadlineExceeded, InternalError, MLOSError, Unavailable
from mlos.wire.framing import DEFAULT_MAX_FRAME, FLAG_CLOSING, Frame, FrameKind, frame_parts
from mlos.wire.method import Method, RequestT, ResponseT
from mlos.wire.stream import FrameStream
from mlos_generated import smi_pb2

__all__ = ["Channel"]


class _Pending:
    """A call waiting for its response, and when it stops waiting (loop time, or None)."""

    __slots__ = ("deadline", "future", "method", "timeout")

    def __init__(
        self,
        future: asyncio.Future[Message],
        method: Method[Message, Message],
        timeout: float | None,
        deadline: float | None,
    ) -> None:
        self.future = future
        self.method = method
        self.timeout = timeout
        self.deadline = deadline


class Channel(FrameStream):
    """One persistent IPC connection to a server; many calls may be in flight at once.

    When the connection drops, every pending call fails with `Unavailable` at once, and the
    callbacks registered with `on_close` run. Deadlines share one timer, set for the earliest
    of them, rather than one timer per call.
    """

    def __init__(self, name: str = "peer", max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self.name = name
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._close_callbacks: list[Callable[[Exception | None], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.closed = False

    # -- connecting ---------------------------------------------------------------------------

    @classmethod
    async def connect(cls, path: str, name: str = "peer") -> Channel:
        """Open a channel to a server listening on the Unix socket `path`."""
        loop = asyncio.get_running_loop()
        try:
            _, channel = await loop.create_unix_connection(lambda: cls(name), path)
        except OSError as exc:
            raise Unavailable(f"cannot connect to {name} at {path}: {exc.strerror}") from exc
        return channel

    @classmethod
    async def from_socket(cls, sock: socket.socket, name: str = "peer") -> Channel:
        """Wrap an already connected Unix stream socket (for example one end of a socketpair)."""
        loop = asyncio.get_running_loop()
        _, channel = await loop.create_unix_connection(lambda: cls(name), sock=sock)
        return channel

    def on_close(self, callback: Callable[[Exception | None], None]) -> None:
        """Run `callback(exc)` once when the connection is lost."""
        self._close_callbacks.append(callback)

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def frames_received(self, frames: list[Frame]) -> None:
        """Complete the calls whose responses arrived."""
        for frame in frames:
            if frame.flags & FLAG_CLOSING:
                self.closed = True  # the server closes next: later calls need a new channel
            pending = self._pending.pop(frame.request_id, None)
            if pending is None or pending.future.done():
                continue  # a response to a call that already timed out
            try:
                if frame.kind == FrameKind.RESPONSE:
                    pending.future.set_result(
                        pending.method.response_type.FromString(frame.data)
                    )
                elif frame.kind == FrameKind.ERROR:
                    error = smi_pb2.Error.FromString(frame.data)
                    pending.future.set_exception(MLOSError.from_proto(error))
                else:
                    pending.future.set_exception(
                        InternalError(f"{self.name} sent an unexpected frame kind {frame.kind}")
                    )
            except DecodeError:
                pending.future.set_exception(
                    InternalError(f"{self.name} sent an undecodable {pending.method.name} reply")
                )

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail every pending call and tell the owner."""
        self.closed = True
        self._transport = None
        error = Unavailable(f"connection to {self.name} lost")
        pending, self._pending = self._pending, {}
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for call in pending.values():
            if not call.future.done():
                call.future.set_exception(error)
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            callback(exc)

    # -- calling ------------------------------------------------------------------------------

    async def call(
        self,
        method: Method[RequestT, ResponseT],
        request: RequestT,
        *,
        timeout: float | None = None,
    ) -> ResponseT:
        """Send `request` and wait for the response; raise the typed error the server sent."""
        transport = self._transport
        if transport is None or self.closed:
            raise Unavailable(f"connection to {self.name} is closed")
        loop = asyncio.get_running_loop()
        request_id = next(self._ids) & 0xFFFFFFFF
        future: asyncio.Future[Message] = loop.create_future()
        timeout_ms = 0
        deadline = None
        if timeout is not None:
            timeout_ms = max(1, int(timeout * 1000))
            deadline = loop.time() + timeout
            if self._timer is None or deadline < self._timer_at:
                self._arm(loop, deadline)
        self._pending[request_id] = _Pending(future, method, timeout, deadline)  # type: ignore[arg-type]  # a future of the method's response type, kept as Message
        parts = frame_parts(
            FrameKind.REQUEST, method.id, request_id, request.SerializeToString(), timeout_ms
        )
        self._write(parts)
        result = await future
        return result  # type: ignore[return-value]  # the future holds the method's response type

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire)
        self._timer_at = when

    def _expire(self) -> None:
        """Fail the calls past their deadline; set the timer for the next deadline."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        earliest: float | None = None
        for request_id, pending in list(self._pending.items()):
            deadline = pending.deadline
            if deadline is None:
                continue
            if deadline <= now:
                del self._pending[request_id]
                if not pending.future.done():
                    pending.future.set_exception(
                        DeadlineExceeded(
                            f"{self.name} did not answer {pending.method.name} "
                            f"within {pending.timeout:g} s"
                        )
                    )
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            self._arm(loop, earliest)

    @property
    def in_flight(self) -> int:
        """Calls sent and not yet answered."""
        return len(self._pending)

    def close(self) -> None:
        """Close the connection; pending calls fail with Unavailable."""
        if self._transport is not None:
            self._transport.close()
