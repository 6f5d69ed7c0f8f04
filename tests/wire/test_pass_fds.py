"""Answers that carry file descriptors (SCM_RIGHTS): what a direct channel's grant relies on."""

from __future__ import annotations

import asyncio
import os
import socket

from mlos.errors import InvalidArgument
from mlos.wire.connection import ServerConnection
from mlos.wire.framing import HEADER, FrameKind
from mlos.wire.method import CallContext
from mlos_generated import smi_ipc, smi_pb2


class Passing:
    """Health answers with the read end of a fresh pipe; ready=False fails after opening one."""

    METHODS = (smi_ipc.MLOS_HEALTH,)

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.writers: list[int] = []

    async def health(
        self, request: smi_pb2.HealthRequest, context: CallContext
    ) -> smi_pb2.HealthResponse:
        read, write = os.pipe()
        self.opened.append(read)
        self.writers.append(write)
        context.pass_fds = (read,)
        await asyncio.sleep(0)  # answered from a task, as a grant is
        if len(self.opened) == 2:
            raise InvalidArgument("refused after opening")
        return smi_pb2.HealthResponse(live=True)


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_an_answer_carries_its_descriptor_and_an_error_closes_it() -> None:
    servicer = Passing()
    server_end, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_unix_connection(
            lambda: ServerConnection(servicer), sock=server_end
        )
        try:
            for request_id in (1, 2):
                header = HEADER.pack(0, FrameKind.REQUEST, 0, smi_ipc.MLOS_HEALTH.id, request_id, 0)
                client.sendall(header)
                data, fds, _, _ = await loop.run_in_executor(
                    None, socket.recv_fds, client, 4096, 2
                )
                _, kind, _, _, answer_id, _ = HEADER.unpack_from(data)
                assert answer_id == request_id
                if request_id == 1:
                    assert kind == FrameKind.RESPONSE and len(fds) == 1
                    # The descriptor is the pipe's read end: what is written arrives through it.
                    os.write(servicer.writers[0], b"through")
                    assert os.read(fds[0], 16) == b"through"
                    os.close(fds[0])
                    assert _closed(servicer.opened[0])  # the server's copy is closed
                else:
                    assert kind == FrameKind.ERROR and fds == []
                    assert _closed(servicer.opened[1])  # not leaked by the failed call
        finally:
            transport.close()
            for fd in servicer.writers:
                os.close(fd)

    try:
        asyncio.run(scenario())
    finally:
        client.close()

