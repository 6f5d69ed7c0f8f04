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
from typing import NamedTuple

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HEADER",
    "INLINE_LIMIT",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "FrameTooLarge",
    "ProtocolError",
    "encode_header",
    "frame_parts",
    "widen_send_buffer",
]

HEADER = struct.Struct("<IBBHII")
DEFAULT_MAX_FRAME = 1 << 30  # 1 GiB; larger tensors belong in shared memory
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
    payload: bytes


def encode_header(
    kind: FrameKind, method: int, request_id: int, payload_length: int, timeout_ms: int = 0
) -> bytes:
    """The 16-byte header for a frame."""
    return HEADER.pack(payload_length, kind, 0, method, request_id, timeout_ms)


def frame_parts(
    kind: int, method: int, request_id: int, payload: bytes, timeout_ms: int = 0
) -> tuple[bytes, ...]:
    """A whole frame as the buffers to write: one for small payloads, header and payload else."""
    header = HEADER.pack(len(payload), kind, 0, method, request_id, timeout_ms)
    if len(payload) <= INLINE_LIMIT:
        return (header + payload,)
    return (header, payload)


class FrameDecoder:
    """Turns a byte stream into frames; raises ProtocolError on a frame it must not accept."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames now complete."""
        buffer = self._buffer
        size = HEADER.size
        if not buffer and type(data) is bytes and len(data) >= size:
            # The most common case by far: exactly one whole frame.
            header = HEADER.unpack_from(data)
            if (
                len(data) == size + header[0]
                and header[0] <= self.max_frame
                and (header[1] in _KINDS)
            ):
                return [Frame(header[1], header[2], header[3], header[4], header[5], data[size:])]
        if buffer:
            buffer += data
            source: bytes | bytearray = buffer
        else:
            # Nothing pending: frames are cut straight out of `data`, and only an incomplete
            # tail is copied into the buffer.
            if type(data) is not bytes:
                data = bytes(data)
            source = data
        frames: list[Frame] = []
        offset = 0
        total = len(source)
        unpack = HEADER.unpack_from
        while total - offset >= size:
            length, kind, flags, method, request_id, timeout_ms = unpack(source, offset)
            if length > self.max_frame:
                raise FrameTooLarge(
                    f"frame of {length} bytes exceeds the {self.max_frame} bytes limit",
                    kind,
                    method,
                    request_id,
                )
            if kind not in _KINDS:
                raise ProtocolError(f"unknown frame kind {kind}")
            end = offset + size + length
            if total < end:
                break
            if source is buffer:
                payload = bytes(memoryview(buffer)[offset + size : end])
            else:
                payload = data[offset + size : end]
            frames.append(Frame(kind, flags, method, request_id, timeout_ms, payload))
            offset = end
        if source is buffer:
            if offset:
                del buffer[:offset]
        elif offset < total:
            buffer += memoryview(data)[offset:]
        return frames

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buffer)
