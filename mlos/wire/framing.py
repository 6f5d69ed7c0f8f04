"""The IPC framing: length-prefixed frames on a Unix stream socket.

Every frame is a 16-byte little-endian header followed by a protobuf payload:

    u32 payload_length | u8 kind | u8 flags | u16 method | u32 request_id | u32 timeout_ms

`kind` is REQUEST (payload: the method's request message), RESPONSE (its response message) or
ERROR (an `smi.v1.Error`). Responses and errors echo the request's id and method, so several
requests can be in flight on one connection and complete in any order. `timeout_ms` is the
caller's deadline for a request (0: none). docs/ipc.md describes the protocol for implementers
in other languages.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
from typing import NamedTuple, cast

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FLAG_CLOSING",
    "HEADER",
    "INLINE_LIMIT",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "FrameTooLarge",
    "ProtocolError",
    "encode_header",
    "frame_parts",
    "send_frame",
    "widen_send_buffer",
]

HEADER = struct.Struct("<IBBHII")
DEFAULT_MAX_FRAME = 1 << 30  # 1 GiB; larger tensors belong in shared memory
FLAG_CLOSING = 0x01
"""Frame flag: the sender closes the connection after this frame (the receiver should not send
on it again)."""
INLINE_LIMIT = 1 << 14
"""Payloads up to this size are joined to their header into one buffer; larger ones are sent
as two buffers (one `writev`), which saves copying the payload."""

SEND_BUFFER = 4 << 20
"""Send buffer asked for on every IPC socket (the kernel caps it at `net.core.wmem_max`)."""

_KINDS = frozenset((1, 2, 3))


def widen_send_buffer(sock: socket.socket | None) -> None:
    """Let a whole large frame queue in the kernel at once.

    On a Unix stream socket the sender's buffer bounds the bytes in flight. With the default
    (about 200 KiB) a frame of a few hundred kilobytes is sent in several rounds, each one
    waiting for the reader to wake up and drain the socket.
    """
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


class FrameKind(enum.IntEnum):
    """What a frame carries."""

    REQUEST = 1
    RESPONSE = 2
    ERROR = 3


class ProtocolError(Exception):
    """The peer broke the framing; the connection cannot continue."""


class FrameTooLarge(ProtocolError):
    """A frame announced more payload than the receiver accepts; its header says whose."""

    def __init__(self, message: str, kind: int, method: int, request_id: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.method = method
        self.request_id = request_id


class Frame(NamedTuple):
    """One decoded frame."""

    kind: int
    flags: int
    method: int
    request_id: int
    timeout_ms: int
    payload: bytes | bytearray
    """The message bytes (a bytearray for a frame too large for the receive buffer)."""

    @property
    def data(self) -> bytes:
        """The payload typed as protobuf's parsers declare it. They read a bytearray in place
        just as well, so a large payload is not copied to make it `bytes`."""
        return cast(bytes, self.payload)


def encode_header(
    kind: FrameKind, method: int, request_id: int, payload_length: int, timeout_ms: int = 0
) -> bytes:
    """The 16-byte header for a frame."""
    return HEADER.pack(payload_length, kind, 0, method, request_id, timeout_ms)


def frame_parts(
    kind: int, method: int, request_id: int, payload: bytes, timeout_ms: int = 0, flags: int = 0
) -> tuple[bytes, ...]:
    """A whole frame as the buffers to write: one for small payloads, header and payload else."""
    header = HEADER.pack(len(payload), kind, flags, method, request_id, timeout_ms)
    if len(payload) <= INLINE_LIMIT:
        return (header + payload,)
    return (header, payload)


def send_frame(sock: socket.socket, header: bytes, payload: bytes) -> None:
    """Write one frame to a blocking socket: in one write when small (`INLINE_LIMIT`), else
    the header and then the payload, which is not copied."""
    if len(payload) <= INLINE_LIMIT:
        sock.sendall(header + payload)
    else:
        sock.sendall(header)
        sock.sendall(payload)


class FrameDecoder:
    """Cuts a byte stream into frames, receiving straight into its own buffers.

    It serves as an `asyncio.BufferedProtocol`'s reader: :meth:`get_buffer` hands the event
    loop the memory to read into and :meth:`buffer_updated` returns the frames completed by
    the bytes read. Small frames share one fixed buffer; a frame larger than that buffer gets a
    payload buffer of its own, which the socket fills directly and which becomes the frame's
    payload — a tensor of megabytes is never copied between the socket and the parser.
    :meth:`feed` does the same for bytes already received.
    """

    __slots__ = (
        "_buffer",
        "_end",
        "_large",
        "_large_filled",
        "_large_header",
        "_large_view",
        "_start",
        "_view",
        "max_frame",
    )

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, buffer_size: int = 1 << 16) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray(max(buffer_size, HEADER.size))
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte not yet cut into a frame
        self._end = 0  # end of the bytes received into the buffer
        self._large: bytearray | None = None
        self._large_view = self._view
        self._large_filled = 0
        self._large_header: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Where the next bytes received go."""
        if self._large is not None:
            return self._large_view[self._large_filled :]
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> list[Frame]:
        """`nbytes` arrived in the last buffer handed out; return the frames now complete."""
        large = self._large
        if large is not None:
            self._large_filled += nbytes
            if self._large_filled < len(large):
                return []
            kind, flags, method, request_id, timeout_ms = self._large_header
            self._large = None
            self._large_view = self._view
            return [Frame(kind, flags, method, request_id, timeout_ms, large)]
        self._end += nbytes
        return self._cut()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes received elsewhere; return the frames now complete."""
        source = memoryview(data).cast("B")
        frames: list[Frame] = []
        offset = 0
        while offset < len(source):
            target = self.get_buffer()
            count = min(len(target), len(source) - offset)
            target[:count] = source[offset : offset + count]
            offset += count
            frames += self.buffer_updated(count)
        return frames

    def _cut(self) -> list[Frame]:
        buffer, view = self._buffer, self._view
        start, end = self._start, self._end
        size = HEADER.size
        frames: list[Frame] = []
        while end - start >= size:
            length, kind, flags, method, request_id, timeout_ms = HEADER.unpack_from(buffer, start)
            if length > self.max_frame:
                raise FrameTooLarge(
                    f"frame of {length} bytes exceeds the {self.max_frame} bytes limit",
                    kind,
                    method,
                    request_id,
                )
            if kind not in _KINDS:
                raise ProtocolError(f"unknown frame kind {kind}")
            stop = start + size + length
            if stop <= end:
                payload = bytes(view[start + size : stop])
                frames.append(Frame(kind, flags, method, request_id, timeout_ms, payload))
                start = stop
                continue
            if size + length > len(buffer):
                # Too large for the shared buffer: the rest of the payload is read into its own.
                large = bytearray(length)
                have = end - start - size
                large[:have] = view[start + size : end]
                self._large = large
                self._large_view = memoryview(large)
                self._large_filled = have
                self._large_header = (kind, flags, method, request_id, timeout_ms)
                start = end
            break
        if start == end:
            start = end = 0
        elif start:
            # A partial frame after whole ones: move it to the front to make room for the rest.
            view[: end - start] = view[start:end]
            start, end = 0, end - start
        self._start, self._end = start, end
        return frames

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        if self._large is not None:
            return HEADER.size + self._large_filled
        return self._end - self._start
