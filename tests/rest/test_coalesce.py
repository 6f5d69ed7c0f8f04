"""Writes of one event-loop turn leave in one send; a closing connection sends what is queued."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import requests

from mlos.rest.coalesce import CoalescingTransport
from mlos.testing import ServerProcess


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


async def test_the_writes_of_one_turn_are_one_send() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert inner.sent == [] and transport.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert inner.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    transport.close()
    assert inner.sent[-1] == b"next" and inner.closed


async def test_an_aborted_connection_drops_what_is_queued() -> None:
    inner = Recording()
    inner.abort = lambda: setattr(inner, "closed", True)  # type: ignore[method-assign]
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"partial")
    transport.abort()
    await asyncio.sleep(0)
    assert inner.sent == [] and inner.closed


def test_a_served_response_arrives_in_one_segment(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--no-auth") as server:
        assert requests.get(f"{server.url}/v2/health/live", timeout=10).status_code == 200
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
            first = sock.recv(65536)
        head, _, body = first.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        assert first.startswith(b"HTTP/1.1 200") and len(body) == length
