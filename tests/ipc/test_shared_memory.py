"""Shared-memory regions registered over the IPC API of a real server, then used for inference."""

from __future__ import annotations

import asyncio
import os
import time
from multiprocessing import shared_memory

import numpy as np
import pytest

from mlos.client import AsyncIPCClient, GRPCClient, IPCClient
from mlos.client.base import Op
from mlos.client.smi import SmiCall
from mlos.errors import AlreadyExists, InvalidArgument
from mlos.loop import run
from mlos.testing import ServerProcess
from mlos.wire import Channel
from mlos.wire.method import ConnectionHooks
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_ipc, smi_pb2


def test_register_use_and_unregister_a_region_over_ipc(mlos_demo_server: ServerProcess) -> None:
    data = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    segment = shared_memory.SharedMemory(create=True, size=data.nbytes + 64)
    segment.buf[64 : 64 + data.nbytes] = data.tobytes()

    async def scenario() -> None:
        channel = await Channel.connect(str(mlos_demo_server.home / "mlos.sock"))
        client = smi_ipc.MLOSClient(channel)
        try:
            region = smi_pb2.SharedMemoryRegion(
                name="in", key=segment.name, offset=0, byte_size=data.nbytes + 64
            )
            registered = await client.register_system_shared_memory(region)
            assert registered.regions[0].key == segment.name
            with pytest.raises(AlreadyExists):
                await client.register_system_shared_memory(region)

            tensor = smi_pb2.Tensor(name="input", datatype="FP32", shape=[2, 64])
            tensor.shared_memory.region = "in"
            tensor.shared_memory.offset = 64
            tensor.shared_memory.byte_size = data.nbytes
            from_shm = await client.infer(smi_pb2.InferRequest(model_name="demo", inputs=[tensor]))
            inline = await client.infer(
                smi_pb2.InferRequest(model_name="demo", inputs=[from_numpy("input", data)])
            )
            assert from_shm.outputs[0].contents == inline.outputs[0].contents

            tensor.shared_memory.offset = data.nbytes  # past the end of the region
            with pytest.raises(InvalidArgument):
                await client.infer(smi_pb2.InferRequest(model_name="demo", inputs=[tensor]))
            left = await client.unregister_system_shared_memory(smi_pb2.SharedMemoryRegionRef())
            assert not left.regions
        finally:
            channel.close()

    try:
        run(scenario())
    finally:
        segment.close()
        segment.unlink()


def _client_regions(server: ServerProcess) -> list[str]:
    """The names of the regions clients staged inputs in, as the server lists them now."""
    with IPCClient(server.ipc_url, timeout=30) as probe:
        status = probe.call(
            smi_ipc.MLOS_SYSTEM_SHARED_MEMORY_STATUS, smi_pb2.SharedMemoryRegionRef()
        )
    return [region.name for region in status.regions if region.name.startswith("mlos-client-")]


def _released(server: ServerProcess, timeout: float = 10.0) -> bool:
    """Whether the server let go of every client region within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while _client_regions(server):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _shm_files() -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith("mlos-client-")]


def test_client_stages_large_inputs_in_shared_memory(mlos_demo_server: ServerProcess) -> None:
    data = np.random.default_rng(2).standard_normal((16, 64)).astype(np.float32)
    with IPCClient(mlos_demo_server.ipc_url, shared_memory_from=0) as inline:
        expected = inline.infer("demo", {"input": data})
    before = set(_shm_files())
    # Through the server (a direct channel takes large inputs in memory of its own:
    # tests/ipc/test_direct_regions.py).
    staged = IPCClient(
        mlos_demo_server.ipc_url, timeout=30, shared_memory_from=1024, direct=False
    )
    try:
        for scale in (1.0, 2.0, 3.0):  # the region is reused, and holds each call's input
            got = staged.infer("demo", {"input": data * scale})
            with IPCClient(mlos_demo_server.ipc_url, shared_memory_from=0) as inline:
                want = inline.infer("demo", {"input": data * scale})
            assert got.keys() == want.keys()
            for name in got:
                np.testing.assert_array_equal(got[name], want[name])
        assert expected.keys() == got.keys()
        assert len(_client_regions(mlos_demo_server)) == 1
        assert set(_shm_files()) <= before  # the name was unlinked once the server had it

        staged.close()  # the server releases the region with the connection ...
        assert _released(mlos_demo_server)
        again = staged.infer("demo", {"input": data})  # ... and the client makes a new one
        np.testing.assert_array_equal(again["output"], expected["output"])
        assert len(_client_regions(mlos_demo_server)) == 1
    finally:
        staged.close()
    assert _released(mlos_demo_server)


def test_async_client_stages_concurrent_calls(mlos_demo_server: ServerProcess) -> None:
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((8, 64)).astype(np.float32) for _ in range(6)]
    with IPCClient(mlos_demo_server.ipc_url, shared_memory_from=0) as inline:
        expected = [inline.infer("demo", {"input": batch})["output"] for batch in batches]

    async def scenario() -> list[dict[str, np.ndarray]]:
        client = AsyncIPCClient(mlos_demo_server.ipc_url, timeout=30, shared_memory_from=1024)
        try:
            return await asyncio.gather(
                *(client.infer("demo", {"input": batch}) for batch in batches)
            )
        finally:
            await client.close()

    answers = asyncio.run(scenario())
    for answer, want in zip(answers, expected, strict=True):
        np.testing.assert_array_equal(answer["output"], want)
    assert _released(mlos_demo_server)


def test_release_on_disconnect_is_per_connection(mlos_demo_server: ServerProcess) -> None:
    segments = [shared_memory.SharedMemory(create=True, size=4096) for _ in range(2)]

    async def register(release: bool, name: str, key: str) -> None:
        channel = await Channel.connect(str(mlos_demo_server.home / "mlos.sock"))
        try:
            region = smi_pb2.SharedMemoryRegion(
                name=name, key=key, byte_size=4096, release_on_disconnect=release
            )
            await smi_ipc.MLOSClient(channel).register_system_shared_memory(region)
        finally:
            channel.close()

    try:
        run(register(True, "mlos-client-scoped", segments[0].name))
        run(register(False, "kept", segments[1].name))
        assert _released(mlos_demo_server)  # the scoped one went with its connection
        with IPCClient(mlos_demo_server.ipc_url) as client:
            status = client.call(
                smi_ipc.MLOS_SYSTEM_SHARED_MEMORY_STATUS, smi_pb2.SharedMemoryRegionRef()
            )
            assert [region.name for region in status.regions] == ["kept"]
        grpc = GRPCClient(mlos_demo_server.grpc_url)
        region = smi_pb2.SharedMemoryRegion(
            name="x", key=segments[0].name, byte_size=4096, release_on_disconnect=True
        )
        try:
            with pytest.raises(InvalidArgument, match="release_on_disconnect"):
                grpc._run(Op(SmiCall(smi_ipc.MLOS_REGISTER_SYSTEM_SHARED_MEMORY, region), id))
        finally:
            grpc.close()
    finally:
        for segment in segments:
            segment.close()
            segment.unlink()


def test_connection_hooks_run_once_and_late_ones_at_once() -> None:
    ran: list[str] = []
    hooks = ConnectionHooks()
    hooks.add(lambda: ran.append("early"))

    def fail() -> None:
        raise RuntimeError("a failing clean-up does not stop the others")

    hooks.add(fail)
    hooks.add(lambda: ran.append("second"))
    hooks.close()
    hooks.close()
    assert ran == ["early", "second"]
    hooks.add(lambda: ran.append("late"))  # a call that finished after the connection closed
    assert ran == ["early", "second", "late"]


def test_a_larger_input_replaces_the_smallest_region(
    mlos_demo_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlos.client.staging.MAX_REGIONS", 1)
    rng = np.random.default_rng(4)
    small = rng.standard_normal((16, 64)).astype(np.float32)  # a 1 MiB region
    large = rng.standard_normal((6000, 64)).astype(np.float32)  # 1.5 MB: a 2 MiB region
    with IPCClient(mlos_demo_server.ipc_url, shared_memory_from=0) as inline:
        want_small = inline.infer("demo", {"input": small})["output"]
        want_large = inline.infer("demo", {"input": large})["output"]
    with IPCClient(
        mlos_demo_server.ipc_url, timeout=30, shared_memory_from=1024, direct=False
    ) as client:
        np.testing.assert_array_equal(client.infer("demo", {"input": small})["output"], want_small)
        first = _client_regions(mlos_demo_server)
        np.testing.assert_array_equal(client.infer("demo", {"input": large})["output"], want_large)
        second = _client_regions(mlos_demo_server)
        assert len(first) == len(second) == 1 and first != second
        with IPCClient(mlos_demo_server.ipc_url) as probe:
            status = probe.call(
                smi_ipc.MLOS_SYSTEM_SHARED_MEMORY_STATUS, smi_pb2.SharedMemoryRegionRef()
            )
        assert [region.byte_size for region in status.regions] == [2 << 20]
        np.testing.assert_array_equal(client.infer("demo", {"input": small})["output"], want_small)
        assert _client_regions(mlos_demo_server) == second  # the large region serves small ones
    assert _released(mlos_demo_server)


def test_staging_survives_a_server_restart(mlos_demo_server: ServerProcess) -> None:
    data = np.random.default_rng(5).standard_normal((16, 64)).astype(np.float32)
    with IPCClient(mlos_demo_server.ipc_url, shared_memory_from=0) as inline:
        want = inline.infer("demo", {"input": data})["output"]
    with IPCClient(
        mlos_demo_server.ipc_url, timeout=30, shared_memory_from=1024, direct=False
    ) as client:
        np.testing.assert_array_equal(client.infer("demo", {"input": data})["output"], want)
        mlos_demo_server.restart()  # the region went with the old server and its connection
        for _ in range(2):
            np.testing.assert_array_equal(client.infer("demo", {"input": data})["output"], want)
        assert len(_client_regions(mlos_demo_server)) == 1
        assert client._staging.enabled
