"""The frame decoder: whole, split and hostile byte streams; the sockets frames travel on."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from mlos.wire.framing import (
    SEND_BUFFER,
    FrameDecoder,
    FrameKind,
    ProtocolError,
    encode_header,
    widen_send_buffer,
)


def frame(kind: FrameKind, method: int, request_id: int, payload: bytes) -> bytes:
    return encode_header(kind, method, request_id, len(payload), 250) + payload


def test_decodes_frames_split_at_every_byte() -> None:
    stream = frame(FrameKind.REQUEST, 0x0101, 7, b"abc") + frame(FrameKind.RESPONSE, 2, 8, b"")
    decoder = FrameDecoder()
    frames = []
    for byte in stream:
        frames += decoder.feed(bytes([byte]))
    assert [(f.kind, f.method, f.request_id, f.payload) for f in frames] == [
        (FrameKind.REQUEST, 0x0101, 7, b"abc"),
        (FrameKind.RESPONSE, 2, 8, b""),
    ]
    assert frames[0].timeout_ms == 250
    assert decoder.pending_bytes == 0


def test_keeps_an_incomplete_frame_until_the_rest_arrives() -> None:
    decoder = FrameDecoder()
    data = frame(FrameKind.ERROR, 1, 1, b"x" * 100)
    assert decoder.feed(data[:50]) == []
    assert decoder.pending_bytes == 50
    (decoded,) = decoder.feed(data[50:])
    assert decoded.payload == b"x" * 100


def test_rejects_oversized_frames_before_buffering_them() -> None:
    decoder = FrameDecoder(max_frame=1024)
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.feed(encode_header(FrameKind.REQUEST, 1, 1, 4096))


def test_rejects_unknown_frame_kinds() -> None:
    header = bytearray(encode_header(FrameKind.REQUEST, 1, 1, 0))
    header[4] = 99
    with pytest.raises(ProtocolError, match="kind"):
        FrameDecoder().feed(bytes(header))


def test_a_large_frame_fits_the_widened_send_buffer_in_one_write() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        default = left.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        widen_send_buffer(left)
        widened = left.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        wmem_max = Path("/proc/sys/net/core/wmem_max")
        limit = int(wmem_max.read_text()) if sys.platform == "linux" else 0
        # The kernel caps the request at wmem_max (and doubles it for its own bookkeeping).
        assert widened >= min(SEND_BUFFER, max(limit, default // 2))
        if limit >= SEND_BUFFER:
            left.setblocking(False)
            assert left.send(bytes(1 << 20)) == 1 << 20  # 1 MiB queued without the reader
    widen_send_buffer(None)  # a transport without a socket: nothing to do


def test_a_frame_larger_than_the_buffer_is_received_into_its_own_payload() -> None:
    decoder = FrameDecoder(buffer_size=1024)
    payload = bytes(range(256)) * 40  # 10 KiB
    stream = (
        frame(FrameKind.REQUEST, 1, 1, b"small")
        + frame(FrameKind.REQUEST, 2, 2, payload)
        + frame(FrameKind.RESPONSE, 3, 3, b"after")
    )
    frames = []
    for cut in range(0, len(stream), 700):  # reads that split headers and payloads anywhere
        frames += decoder.feed(stream[cut : cut + 700])
        assert decoder.pending_bytes <= len(stream)
    assert [(f.method, bytes(f.payload)) for f in frames] == [
        (1, b"small"),
        (2, payload),
        (3, b"after"),
    ]
    assert isinstance(frames[1].payload, bytearray)  # handed over as received, not copied
    assert decoder.pending_bytes == 0


def test_the_socket_reads_straight_into_the_large_payload() -> None:
    decoder = FrameDecoder(buffer_size=64)
    payload = b"x" * 1000
    header = encode_header(FrameKind.REQUEST, 7, 9, len(payload))
    target = decoder.get_buffer(-1)
    target[: len(header) + 10] = header + payload[:10]
    assert decoder.buffer_updated(len(header) + 10) == []
    rest = decoder.get_buffer(-1)
    assert len(rest) == len(payload) - 10  # exactly the missing bytes, in the payload itself
    rest[:] = payload[10:]
    (done,) = decoder.buffer_updated(len(rest))
    assert (done.method, done.request_id, bytes(done.payload)) == (7, 9, payload)
    assert len(decoder.get_buffer(-1)) == 64  # back to the shared buffer


def test_an_oversized_announcement_is_refused_before_any_allocation() -> None:
    decoder = FrameDecoder(max_frame=1 << 20, buffer_size=64)
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.feed(encode_header(FrameKind.REQUEST, 1, 1, (1 << 20) + 1))
