"""The IPC listener serving the MLOS service: socket file, peers, hostile bytes, every method.

The service runs over the REST tests' StubEngine in this process; clients are raw sockets (for
hostile bytes) and the generated MLOSClient over a Channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import stat
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlos.errors import (
    AlreadyExists,
    FailedPrecondition,
    MLOSError,
    NotFound,
    StatusCode,
    Unavailable,
)
from mlos.ipc.listener import Listener
from mlos.ipc.service import MLOSService
from mlos.wire import CallContext, Channel
from mlos.wire.framing import FLAG_CLOSING, HEADER, FrameDecoder, FrameKind, encode_header
from mlos_generated import smi_ipc, smi_pb2
from tests.rest.conftest import StubEngine


class RecordingService(MLOSService):
    """The service, remembering the peer uid each health call saw."""

    def __init__(self, engine: StubEngine) -> None:
        super().__init__(engine)
        self.peers: list[int | None] = []

    async def health(
        self, request: smi_pb2.HealthRequest, context: CallContext
    ) -> smi_pb2.HealthResponse:
        self.peers.append(context.peer_uid)
        return await super().health(request, context)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Listener, RecordingService, StubEngine]]:
    engine = StubEngine()
    service = RecordingService(engine)
    listener = Listener(service, tmp_path / "run" / "mlos.sock", max_frame=1 << 20)
    await listener.start()
    try:
        yield listener, service, engine
    finally:
        await listener.stop(drain=1)


async def open_client(listener: Listener) -> tuple[smi_ipc.MLOSClient, Channel]:
    channel = await Channel.connect(str(listener.path))
    return smi_ipc.MLOSClient(channel), channel


async def raw_call(path: Path, data: bytes) -> list[tuple[int, int, bytes]]:
    """Send `data`, read until one frame arrives or the server closes; (kind, id, payload)."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    await writer.drain()
    decoder = FrameDecoder()
    frames: list[tuple[int, int, bytes]] = []
    while not frames:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        frames = [(f.kind, f.request_id, f.payload) for f in decoder.feed(chunk)]
    writer.close()
    return frames


def request(method: int, request_id: int, payload: bytes) -> bytes:
    return encode_header(FrameKind.REQUEST, method, request_id, len(payload)) + payload


async def test_socket_is_owner_only_and_removed_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "mlos.sock"
    listener = Listener(MLOSService(StubEngine()), path)
    await listener.start()
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert listener.url == f"unix://{path}"
    assert [p.name for p in path.parent.iterdir()] == ["mlos.sock"]  # no staging left behind
    await listener.stop()
    assert not path.exists()


async def test_stale_socket_is_replaced_live_one_and_other_files_refused(tmp_path: Path) -> None:
    path = tmp_path / "mlos.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a killed server leaves
    first = Listener(MLOSService(StubEngine()), path)
    await first.start()
    second = Listener(MLOSService(StubEngine()), path)
    with pytest.raises(Unavailable, match="another server is listening"):
        await second.start()
    client, channel = await open_client(first)
    assert (await client.health(smi_pb2.HealthRequest())).live  # the first one still serves
    channel.close()
    await first.stop()
    path.write_text("not a socket")
    with pytest.raises(FailedPrecondition, match="not a socket"):
        await Listener(MLOSService(StubEngine()), path).start()
    assert path.read_text() == "not a socket"


async def test_peer_uid_reaches_the_servicer(served) -> None:
    listener, service, _ = served
    client, channel = await open_client(listener)
    await client.health(smi_pb2.HealthRequest())
    channel.close()
    assert service.peers == [os.getuid()]


async def test_every_method_reaches_the_engine(served) -> None:
    listener, _, engine = served
    client, channel = await open_client(listener)
    status = await client.register_plugin(
        smi_pb2.RegisterPluginRequest(name="p", source=smi_pb2.PluginSource(module="m:C"))
    )
    assert (status.name, status.source.module) == ("p", "m:C")
    with pytest.raises(AlreadyExists):
        await client.register_plugin(smi_pb2.RegisterPluginRequest(name="p"))
    assert [p.name for p in (await client.list_plugins(smi_pb2.ListPluginsRequest())).plugins] == ["p"]
    assert (await client.get_plugin(smi_pb2.PluginRef(name="p"))).pid == 1234
    assert (await client.unload_plugin(smi_pb2.PluginRef(name="p"))).state == smi_pb2.PLUGIN_STATE_UNLOADED
    assert (await client.load_plugin(smi_pb2.PluginRef(name="p"))).state == smi_pb2.PLUGIN_STATE_READY
    assert await client.remove_plugin(smi_pb2.PluginRef(name="p")) == smi_pb2.RemovePluginResponse()
    with pytest.raises(NotFound):
        await client.get_plugin(smi_pb2.PluginRef(name="p"))
    model = await client.register_model(smi_pb2.RegisterModelRequest(name="m", path="/x"))
    assert (model.name, model.path) == ("m", "/x")
    assert "m" in [s.name for s in (await client.list_models(smi_pb2.ListModelsRequest())).models]
    assert (await client.get_model(smi_pb2.ModelRef(name="m"))).versions[0].path == "/x"
    removed = await client.remove_model(smi_pb2.ModelRef(name="m", version="1"))
    assert [s.name for s in removed.removed] == ["m"]
    x = smi_pb2.Tensor(name="in", datatype="FP32", shape=[2], contents=b"\0" * 8)
    answer = await client.infer(smi_pb2.InferRequest(model_name="echo", inputs=[x]))
    assert answer.outputs[0].contents == b"\0" * 8
    assert engine.requests[-1].model_name == "echo"
    assert (await client.get_resources(smi_pb2.ResourcesRequest())).host.cpu_count == 2
    channel.close()


async def test_unknown_method_is_unimplemented_and_the_connection_stays(served) -> None:
    listener, _, _ = served
    health = smi_pb2.HealthRequest().SerializeToString()
    frames = await raw_call(listener.path, request(0x02FF, 7, b""))
    assert [(kind, rid) for kind, rid, _ in frames] == [(FrameKind.ERROR, 7)]
    assert smi_pb2.Error.FromString(frames[0][2]).code == StatusCode.UNIMPLEMENTED
    # Same connection: an unknown method, then a good call, answered in order.
    reader, writer = await asyncio.open_unix_connection(str(listener.path))
    writer.write(request(0x7777, 1, b"") + request(smi_ipc.MLOS_HEALTH.id, 2, health))
    decoder, got = FrameDecoder(), []
    while len(got) < 2:
        got += decoder.feed(await asyncio.wait_for(reader.read(65536), 5))
    assert [(f.kind, f.request_id) for f in got] == [(FrameKind.ERROR, 1), (FrameKind.RESPONSE, 2)]
    writer.close()


async def test_undecodable_request_is_invalid_argument(served) -> None:
    listener, _, _ = served
    frames = await raw_call(listener.path, request(smi_ipc.MLOS_GET_MODEL.id, 3, b"\xff\xff\xff"))
    assert smi_pb2.Error.FromString(frames[0][2]).code == StatusCode.INVALID_ARGUMENT


async def test_oversized_frame_is_refused_and_closes_the_connection(served) -> None:
    listener, _, _ = served
    header = encode_header(FrameKind.REQUEST, smi_ipc.MLOS_INFER.id, 9, 2 << 20)
    frames = await raw_call(listener.path, header + b"\0" * 1024)
    assert [(kind, rid) for kind, rid, _ in frames] == [(FrameKind.ERROR, 9)]
    error = MLOSError.from_proto(smi_pb2.Error.FromString(frames[0][2]))
    assert error.code == StatusCode.RESOURCE_EXHAUSTED and "limit" in error.message
    reader, writer = await asyncio.open_unix_connection(str(listener.path))
    writer.write(header)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 5)
    assert len(answer) == HEADER.size + len(frames[0][2])
    assert HEADER.unpack_from(answer)[2] == FLAG_CLOSING  # says that the close comes next
    assert await asyncio.wait_for(reader.read(65536), 5) == b""  # then closed
    writer.close()


async def test_fuzzed_frames_leave_the_server_serving(served) -> None:
    listener, _, _ = served
    rng = random.Random(1234)
    methods = [m.id for m in smi_ipc.MLOSServicer.METHODS] + [0, 0xFFFF]
    sent = 0
    while sent < 3000:
        try:
            _reader, writer = await asyncio.open_unix_connection(str(listener.path))
        except OSError:
            continue
        for _ in range(100):
            choice = rng.random()
            payload = rng.randbytes(rng.randrange(0, 64))
            if choice < 0.4:  # a well-formed frame around random bytes
                data = request(rng.choice(methods), rng.getrandbits(32), payload)
            elif choice < 0.6:  # a frame cut short
                whole = request(rng.choice(methods), rng.getrandbits(32), payload)
                data = whole[: rng.randrange(1, len(whole))]
            elif choice < 0.8:  # a header with random fields
                data = struct.pack("<IBBHII", rng.getrandbits(32), rng.getrandbits(8), 0,
                                   rng.getrandbits(16), rng.getrandbits(32), 0) + payload
            else:
                data = payload
            writer.write(data)
            sent += 1
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(writer.drain(), 2)
        writer.close()
    client, channel = await open_client(listener)
    assert (await client.health(smi_pb2.HealthRequest(), timeout=5)).live
    channel.close()


async def test_stop_answers_calls_in_flight(tmp_path: Path) -> None:
    release = asyncio.Event()

    class Slow(StubEngine):
        async def health(self) -> smi_pb2.HealthResponse:
            await release.wait()
            return await super().health()

    listener = Listener(MLOSService(Slow()), tmp_path / "mlos.sock")
    await listener.start()
    client, channel = await open_client(listener)
    pending = asyncio.ensure_future(client.health(smi_pb2.HealthRequest()))
    await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(listener.stop(drain=5))
    await asyncio.sleep(0.05)
    assert not stopping.done() and not (tmp_path / "mlos.sock").exists()
    release.set()
    assert (await pending).live
    await stopping
    channel.close()
