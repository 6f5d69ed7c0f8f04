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

import enum
import struct
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HEADER",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "ProtocolError",
    "encode_header",
]

HEADER = struct.Struct("<IBBHII")
DEFAULT_MAX_FRAME = 1 << 30  # 1 GiB; larger tensors belong in shared memory


class FrameKind(enum.IntEnum):
    """What a frame carries."""

    REQUEST = 1
    RESPONSE = 2
    ERROR = 3


class ProtocolError(Exception):
    """The peer broke the framing; the connection cannot continue."""


@dataclass(frozen=True, slots=True)
class Frame:
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


class FrameDecoder:
    """Turns a byte stream into frames; raises ProtocolError on a frame it must not accept."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames now complete."""
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        offset = 0
        size = HEADER.size
        while len(buffer) - offset >= size:
            length, kind, flags, method, request_id, timeout_ms = HEADER.unpack_from(buffer, offset)
            if length > self.max_frame:
                raise ProtocolError(f"frame of {length} bytes exceeds the {self.max_frame} limit")
            if kind not in (FrameKind.REQUEST, FrameKind.RESPONSE, FrameKind.ERROR):
                raise ProtocolError(f"unknown frame kind {kind}")
            end = offset + size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[offset + size : end])
            frames.append(Frame(kind, flags, method, request_id, timeout_ms, payload))
            offset = end
        if offset:
            del buffer[:offset]
        return frames

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buffer)
