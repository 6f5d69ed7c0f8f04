"""REST responses leave the process in one send: status line, headers and body together.

uvicorn writes a response's head when the application starts it and the body when it sends it,
two `send` calls. A node killed between the two (SIGKILL, the out-of-memory killer) leaves a
load balancer holding a head without a body: it has forwarded the status already, so it cannot
retry the request on another node, and the caller sees a broken response. With every write made
in one turn of the event loop joined into one send, a response is either out whole or not at
all, and HAProxy retries the requests of a lost node that never answered
(deploy/haproxy/, docs/deployment.md).

:class:`CoalescingTransport` holds the writes of one loop turn and sends them at its end;
:class:`CoalescingHttpProtocol` is uvicorn's httptools protocol over it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpProtocol", "CoalescingTransport"]


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes of one event-loop turn go out in one send."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue `data`; it is sent with the rest of this loop turn's writes."""
        if not data:
            return
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, list_of_data: Any) -> None:
        """Queue each of `list_of_data`."""
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is queued now, in one write."""
        self._scheduled = False
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Send what is queued, then close."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what is queued and close at once."""
        self._pending.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The underlying transport's information (socket, peer name, SSL object)."""
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        """Stop receiving (flow control)."""
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Receive again."""
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        """Whether the transport receives."""
        return self._transport.is_reading()

    def get_write_buffer_size(self) -> int:
        """Bytes queued here and in the underlying transport."""
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """The underlying transport's flow-control limits."""
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        """Whether the connection can be half-closed."""
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        """Send what is queued, then half-close."""
        self.flush()
        self._transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection to another protocol."""
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol the connection feeds."""
        return self._transport.get_protocol()


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows the parameter the same way
        """Wrap the connection's transport, then proceed as uvicorn does."""
        super().connection_made(CoalescingTransport(transport, self.loop))
