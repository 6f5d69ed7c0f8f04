"""Large inputs over direct channels, in the client's own shared memory (mlos.sdk.regions).

End to end: the blocking IPC client puts a 600 KB input into a sealed memfd that the plugin
process reads in place; the answers equal the relayed path's, the server registers no region,
and a model with instances (no batching) is served over a channel too. Unit: the plugin
host's checks of what arrives on a region socket.
"""

from __future__ import annotations

import asyncio
import fcntl
import mmap
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlos.client import AsyncIPCClient, IPCClient
from mlos.errors import FailedPrecondition, MLOSError, StatusCode
from mlos.sdk.regions import MAX_REGIONS, ChannelRegions
from mlos.sdk.segments import SegmentMap
from mlos.testing import ServerProcess
from mlos.wire.framing import FrameKind
from mlos.wire.handoff import channel_region_name, send_tagged
from mlos_generated import smi_ipc, smi_pb2
from tests.ipc.frames import answer, request_frame
from tests.ipc.rest import rest, success_count
from tests.suite import suite_config

pytest.importorskip("onnxruntime")


@pytest.fixture
def transfer_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """A server with the 600 KB transfer model as `big` (plain), `big2` (two instances) and
    `batched` (dynamic batching)."""
    from mlos.demo import build_transfer_model

    model = build_transfer_model(tmp_path / "transfer.onnx")
    server = ServerProcess(tmp_path / "home", logs=tmp_path, config=suite_config(tmp_path))
    server.start()
    monkeypatch.setenv("MLOS_TOKEN", server.token or "")
    try:
        with IPCClient(server.ipc_url, timeout=60) as admin:
            admin.register_plugin("onnx", entry_point="onnx")
            admin.load_plugin("onnx")
            admin.register_model("big", str(model), plugin="onnx")
            admin.register_model("big2", str(model), plugin="onnx", instance_count=2)
            admin.register_model(
                "batched", str(model), plugin="onnx", dynamic_batching={"max_queue_delay_us": 100}
            )
        yield server
    finally:
        server.stop()


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, 224, 224), np.float32)


def _counted(server: ServerProcess, model: str, expected: int) -> int:
    deadline = time.monotonic() + 10
    while (count := success_count(server, model)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


@pytest.mark.parametrize("model", ["big", "big2"])
def test_large_inputs_go_over_the_channel_in_client_memory(
    transfer_server: ServerProcess, model: str
) -> None:
    server = transfer_server
    with IPCClient(server.ipc_url, timeout=60) as client:
        for seed in range(6):  # the same region, rewritten for every call
            image = _image(seed)
            answer = client.infer(model, {"input": image})["output"]
            assert np.array_equal(answer, image.reshape(1, -1)[:, :1000])
        assert client.direct_channels == 1
        route = client._direct._routes[(model, "")]  # type: ignore[union-attr]
        assert route.region is not None and route.region.size >= image.nbytes
        # Nothing went through the server's shared memory: it registered no region.
        assert rest(server, "GET", "/v2/systemsharedmemory/status") == []
    assert _counted(server, model, 6) == 6


def test_the_asyncio_client_gives_each_call_in_flight_a_region(
    transfer_server: ServerProcess,
) -> None:
    server = transfer_server
    images = [_image(seed) for seed in range(12)]

    async def scenario() -> tuple[list[np.ndarray], int, int, Any]:
        async with AsyncIPCClient(server.ipc_url, timeout=60) as client:
            await client.infer("big", {"input": images[0]})  # opens the channel
            answers = await asyncio.gather(
                *(client.infer("big", {"input": image}) for image in images)
            )
            route = client._direct._routes[("big", "")]  # type: ignore[union-attr]
            # While the client is connected: no region registered with the server.
            status = rest(server, "GET", "/v2/systemsharedmemory/status")
            return [a["output"] for a in answers], route.made, client.direct_channels, status

    outputs, made, channels, status = asyncio.run(scenario())
    for image, output in zip(images, outputs, strict=True):
        assert np.array_equal(output, image.reshape(1, -1)[:, :1000])
    assert channels == 1 and made >= 1 and status == []
    assert _counted(server, "big", 13) == 13


def test_a_request_naming_another_channels_region_is_refused(
    transfer_server: ServerProcess,
) -> None:
    server = transfer_server
    with IPCClient(server.ipc_url, timeout=60) as client:
        client.infer("big", {"input": _image(0)})
        route = client._direct._routes[("big", "")]  # type: ignore[union-attr]
        request = smi_pb2.InferRequest(model_name="big")
        tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 224, 224])
        tensor.shared_memory.CopyFrom(smi_pb2.SharedMemoryRef(
            region=channel_region_name(route.channel_id + 1000, 1), offset=0,
            byte_size=_image(0).nbytes,
        ))  # fmt: skip
        route.sock.sendall(request_frame(smi_ipc.MLOS_INFER.id, request.SerializeToString(), 99))
        kind, payload = answer(route.sock)
        assert kind == FrameKind.ERROR
        error = MLOSError.from_proto(smi_pb2.Error.FromString(payload))
        assert error.code is StatusCode.FAILED_PRECONDITION
        # The channel still serves its own client.
        image = _image(1)
        got = client.infer("big", {"input": image})["output"]
        assert np.array_equal(got, image.reshape(1, -1)[:, :1000])
        assert client.direct_channels == 1


def test_a_batched_model_keeps_its_calls_on_the_server(transfer_server: ServerProcess) -> None:
    server = transfer_server
    with IPCClient(server.ipc_url, timeout=60) as client:
        for seed in range(3):
            image = _image(seed)
            answer = client.infer("batched", {"input": image})["output"]
            assert np.array_equal(answer, image.reshape(1, -1)[:, :1000])
        assert client.direct_channels == 0  # the server's scheduler batches them
    assert _counted(server, "batched", 3) == 3


def test_without_a_region_socket_large_inputs_still_arrive(
    transfer_server: ServerProcess,
) -> None:
    server = transfer_server
    with IPCClient(server.ipc_url, timeout=60) as client:
        client.infer("big", {"input": _image(0)})
        route = client._direct._routes[("big", "")]  # type: ignore[union-attr]
        assert route.regions is not None
        route.regions.close()  # the plugin takes no more regions from this client
        route.regions, route.region = None, None
        image = _image(1)
        answer = client.infer("big", {"input": image})["output"]
        assert np.array_equal(answer, image.reshape(1, -1)[:, :1000])


# -- the plugin host's side ------------------------------------------------------------------


def _memfd(size: int, seals: int) -> int:
    fd = os.memfd_create("test", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


@pytest.fixture
def regions() -> Iterator[tuple[ChannelRegions, socket.socket, SegmentMap]]:
    client, host = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    segments = SegmentMap()
    table = ChannelRegions(7, host, segments, max_bytes=1 << 20)
    try:
        yield table, client, segments
    finally:
        table.close()
        client.close()


def _send(client: socket.socket, region_id: int, fd: int) -> None:
    try:
        send_tagged(client, region_id, (fd,))
    finally:
        os.close(fd)


def _tensor(name: str, size: int) -> smi_pb2.Tensor:
    tensor = smi_pb2.Tensor(name="x", datatype="UINT8", shape=[size])
    tensor.shared_memory.CopyFrom(smi_pb2.SharedMemoryRef(region=name, offset=0, byte_size=size))
    return tensor


def test_a_sealed_memfd_is_read_in_place(
    regions: tuple[ChannelRegions, socket.socket, SegmentMap],
) -> None:
    table, client, segments = regions
    fd = _memfd(4096, fcntl.F_SEAL_SHRINK)
    mapping = mmap.mmap(fd, 4096)
    _send(client, 1, fd)
    name = channel_region_name(7, 1)
    assert table.owns(name) and not table.owns(channel_region_name(8, 1))
    table.require(name)
    mapping[:3] = b"abc"  # the client writes after sending: the host sees its bytes
    assert bytes(segments.array(_tensor(name, 3))) == b"abc"
    mapping.close()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _memfd(4096, 0), "not sealed against shrinking"),
        (lambda: _memfd(2 << 20, fcntl.F_SEAL_SHRINK), "not within the channel's limit"),
        (None, "not a memfd"),  # a regular file
    ],
)
def test_unsafe_regions_are_refused(
    regions: tuple[ChannelRegions, socket.socket, SegmentMap],
    make: Callable[[], int] | None, reason: str, tmp_path: Path,
) -> None:
    table, client, _ = regions
    if make is None:
        (tmp_path / "file").write_bytes(b"\0" * 4096)
        fd = os.open(tmp_path / "file", os.O_RDWR)
    else:
        fd = make()
    _send(client, 1, fd)
    with pytest.raises(FailedPrecondition, match=reason):
        table.require(channel_region_name(7, 1))
    with pytest.raises(FailedPrecondition, match="has not sent it"):
        table.require(channel_region_name(7, 2))


def test_a_channel_keeps_its_newest_regions(
    regions: tuple[ChannelRegions, socket.socket, SegmentMap],
) -> None:
    table, client, segments = regions
    for region_id in range(1, MAX_REGIONS + 2):
        _send(client, region_id, _memfd(4096, fcntl.F_SEAL_SHRINK))
    table.require(channel_region_name(7, MAX_REGIONS + 1))
    with pytest.raises(FailedPrecondition):
        table.require(channel_region_name(7, 1))  # replaced by the newest
    table.close()
    with pytest.raises(Exception, match="not one of the core's"):
        segments.mapping(channel_region_name(7, MAX_REGIONS + 1))
