"""The frame decoder: whole, split and hostile byte streams."""

from __future__ import annotations

import pytest

from mlos.ipc.framing import FrameDecoder, FrameKind, ProtocolError, encode_header


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
