"""Raw IPC frames for tests that speak to a socket (a direct channel) without a client."""

from __future__ import annotations

import socket

from mlos.wire.framing import HEADER, FrameKind

__all__ = ["answer", "request_frame"]


def request_frame(method: int, payload: bytes, request_id: int = 1) -> bytes:
    """A request frame for `method` carrying `payload`."""
    return HEADER.pack(len(payload), FrameKind.REQUEST, 0, method, request_id, 0) + payload


def answer(sock: socket.socket) -> tuple[int, bytes]:
    """The next frame on `sock`: its kind and payload (fails the test when it closes)."""
    sock.settimeout(10)
    data = b""
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        more = sock.recv(65536)
        assert more, "the channel closed"
        data += more
    return HEADER.unpack_from(data)[1], data[HEADER.size :]
