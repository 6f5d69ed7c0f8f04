"""Channel and ServerConnection over a real socket pair, including hostile peers."""

from __future__ import annotations

import asyncio
import contextvars
import random
import socket
from collections.abc import AsyncIterator

import pytest

from mlos.errors import DeadlineExceeded, InvalidArgument, NotFound, Unavailable, Unimplemented
from mlos.wire import CallContext, Channel, ServerConnection
from mlos.wire.framing import FrameDecoder, FrameKind, encode_header
from mlos_generated import smi_ipc, smi_pb2


class FakePlugin(smi_ipc.PluginServicer[CallContext]):
    """A servicer with just enough behaviour to exercise the runtime."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def describe(self, request: smi_pb2.DescribeRequest, context: CallContext) -> smi_pb2.PluginInfo:
        return smi_pb2.PluginInfo(name="fake", version="1", smi_versions=[smi_ipc.SMI_VERSION])

    async def load_model(self, request: smi_pb2.LoadModelRequest, context: CallContext) -> smi_pb2.LoadModelResponse:
        raise InvalidArgument(f"cannot load {request.path}")

    async def unload_model(self, request: smi_pb2.UnloadModelRequest, context: CallContext) -> smi_pb2.UnloadModelResponse:
        raise RuntimeError("boom")

    async def infer(self, request: smi_pb2.InferRequest, context: CallContext) -> smi_pb2.InferResponse:
        if request.model_name == "slow":
            await self.release.wait()
        elif request.model_name != "m":
            raise NotFound("no such model")
        return smi_pb2.InferResponse(model_name=request.model_name, id=request.id)

    async def health(self, request: smi_pb2.PluginHealthRequest, context: CallContext) -> smi_pb2.PluginHealthResponse:
        return smi_pb2.PluginHealthResponse(ready=True)

    async def shutdown(self, request: smi_pb2.ShutdownRequest, context: CallContext) -> smi_pb2.ShutdownResponse:
        return smi_pb2.ShutdownResponse()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[smi_ipc.PluginClient, FakePlugin, socket.socket]]:
    loop = asyncio.get_running_loop()
    server_sock, client_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    servicer = FakePlugin()
    transport, _ = await loop.create_unix_connection(lambda: ServerConnection(servicer), sock=server_sock)
    channel = await Channel.from_socket(client_sock, "fake")
    yield smi_ipc.PluginClient(channel), servicer, client_sock
    channel.close()
    transport.close()


async def test_calls_return_typed_responses_and_errors(pair) -> None:
    client, _, _ = pair
    info = await client.describe(smi_pb2.DescribeRequest())
    assert info.name == "fake"
    with pytest.raises(InvalidArgument, match="cannot load /x"):
        await client.load_model(smi_pb2.LoadModelRequest(path="/x"))
    with pytest.raises(NotFound):
        await client.infer(smi_pb2.InferRequest(model_name="other"))
    # An unexpected exception in the servicer is an internal error, not a dropped connection.
    with pytest.raises(Exception, match="failed inside the server"):
        await client.unload_model(smi_pb2.UnloadModelRequest())
    assert (await client.health(smi_pb2.PluginHealthRequest())).ready


async def test_requests_are_multiplexed_and_complete_out_of_order(pair) -> None:
    client, servicer, _ = pair
    slow = asyncio.ensure_future(client.infer(smi_pb2.InferRequest(model_name="slow", id="a")))
    fast = await client.infer(smi_pb2.InferRequest(model_name="m", id="b"))
    assert fast.id == "b" and not slow.done()
    servicer.release.set()
    assert (await slow).id == "a"


async def test_deadline_fails_the_call_and_the_late_answer_is_ignored(pair) -> None:
    client, servicer, _ = pair
    with pytest.raises(DeadlineExceeded):
        await client.infer(smi_pb2.InferRequest(model_name="slow"), timeout=0.05)
    servicer.release.set()
    assert (await client.infer(smi_pb2.InferRequest(model_name="m"))).model_name == "m"


async def test_peer_closing_fails_pending_calls_with_unavailable() -> None:
    server_sock, client_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    channel = await Channel.from_socket(client_sock, "gone")
    closed = asyncio.Event()
    channel.on_close(lambda exc: closed.set())
    call = asyncio.ensure_future(smi_ipc.PluginClient(channel).describe(smi_pb2.DescribeRequest()))
    await asyncio.sleep(0)
    server_sock.close()
    with pytest.raises(Unavailable, match="lost"):
        await call
    await closed.wait()
    with pytest.raises(Unavailable, match="closed"):
        await smi_ipc.PluginClient(channel).describe(smi_pb2.DescribeRequest())


async def raw_exchange(sock: socket.socket, data: bytes) -> list:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, data)
    decoder = FrameDecoder()
    frames: list = []
    while not frames:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        if not chunk:
            return frames
        frames += decoder.feed(chunk)
    return frames


async def test_unknown_methods_and_undecodable_payloads_get_error_frames() -> None:
    loop = asyncio.get_running_loop()
    server_sock, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.setblocking(False)
    await loop.create_unix_connection(lambda: ServerConnection(FakePlugin()), sock=server_sock)
    (reply,) = await raw_exchange(peer, encode_header(FrameKind.REQUEST, 0x7777, 1, 0))
    assert reply.kind == FrameKind.ERROR
    assert smi_pb2.Error.FromString(reply.payload).code == Unimplemented.code
    garbage = b"\xff\xff\xff"
    (reply,) = await raw_exchange(
        peer, encode_header(FrameKind.REQUEST, smi_ipc.PLUGIN_INFER.id, 2, len(garbage)) + garbage
    )
    assert smi_pb2.Error.FromString(reply.payload).code == InvalidArgument.code
    peer.close()


async def test_random_garbage_never_stops_the_server() -> None:
    """A bounded fuzz: random and truncated frames on fresh connections, then a good call."""
    loop = asyncio.get_running_loop()
    rng = random.Random(1234)
    servicer = FakePlugin()
    valid = smi_pb2.InferRequest(model_name="m").SerializeToString()
    for round_number in range(300):
        server_sock, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.setblocking(False)
        transport, connection = await loop.create_unix_connection(
            lambda: ServerConnection(servicer, max_frame=1 << 20), sock=server_sock
        )
        if round_number % 3 == 0:
            data = rng.randbytes(rng.randint(1, 200))
        elif round_number % 3 == 1:
            method = rng.choice([smi_ipc.PLUGIN_INFER.id, smi_ipc.PLUGIN_DESCRIBE.id, rng.randint(0, 0xFFFF)])
            payload = rng.randbytes(rng.randint(0, 64))
            data = encode_header(FrameKind.REQUEST, method, round_number, len(payload)) + payload
        else:
            whole = encode_header(FrameKind.REQUEST, smi_ipc.PLUGIN_INFER.id, 1, len(valid)) + valid
            data = whole[: rng.randint(1, len(whole) - 1)]
        await loop.sock_sendall(peer, data)
        peer.close()
        await asyncio.wait_for(connection.lost, 5)
        transport.close()
    server_sock, client_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    await loop.create_unix_connection(lambda: ServerConnection(servicer), sock=server_sock)
    client = smi_ipc.PluginClient(await Channel.from_socket(client_sock))
    assert (await client.infer(smi_pb2.InferRequest(model_name="m"))).model_name == "m"
    client.channel.close()


_CALL_VALUE: contextvars.ContextVar[str] = contextvars.ContextVar("call_value", default="")


class ContextPlugin(FakePlugin):
    """Sets a context variable in each inference, waits, and resets it with its token."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def infer(self, request: smi_pb2.InferRequest, context: CallContext) -> smi_pb2.InferResponse:
        self.seen.append(_CALL_VALUE.get())  # what a call finds when it starts
        token = _CALL_VALUE.set(request.id)
        if request.model_name == "slow":
            await asyncio.sleep(0.01)  # finished by a task, not where it started
        assert _CALL_VALUE.get() == request.id
        _CALL_VALUE.reset(token)  # a ValueError here would fail the call
        return smi_pb2.InferResponse(id=request.id)


async def test_each_call_has_a_context_of_its_own() -> None:
    loop = asyncio.get_running_loop()
    server_sock, client_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    servicer = ContextPlugin()
    transport, _ = await loop.create_unix_connection(lambda: ServerConnection(servicer), sock=server_sock)
    channel = await Channel.from_socket(client_sock, "fake")
    client = smi_ipc.PluginClient(channel)
    try:
        for index, model in enumerate(["slow", "m", "slow", "slow", "m"]):
            answer = await client.infer(smi_pb2.InferRequest(model_name=model, id=f"call-{index}"))
            assert answer.id == f"call-{index}"
        assert servicer.seen == [""] * 5  # nothing of an earlier call leaks into a later one
    finally:
        channel.close()
        transport.close()
