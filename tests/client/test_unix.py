"""IPCClient and AsyncIPCClient against the IPC listener over the stub engine, in a thread.

What the shared protocol suite cannot show: deadlines, a lost connection and the reconnect,
a request over the server's frame limit, many threads sharing one client, and addresses.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mlos.client import AsyncIPCClient, IPCClient, Unreachable, connect
from mlos.client.unix import socket_path
from mlos.errors import DeadlineExceeded, InvalidArgument, NotFound, ResourceExhausted
from mlos.ipc.listener import Listener
from mlos.ipc.service import MLOSService
from mlos_generated import smi_pb2
from tests.rest.conftest import StubEngine


class Engine(StubEngine):
    """The stub engine, with a health check that can be made to hang."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = False

    async def health(self) -> smi_pb2.HealthResponse:
        if self.hang:
            await asyncio.sleep(3600)
        return await super().health()


@dataclass
class Served:
    path: Path
    engine: Engine
    loop: asyncio.AbstractEventLoop
    listener: Listener


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    engine = Engine()
    path = tmp_path_factory.mktemp("ipc") / "mlos.sock"
    loop = asyncio.new_event_loop()
    listener = Listener(MLOSService(engine), path, max_frame=1 << 20)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(listener.start(), loop).result(10)
    try:
        yield Served(path, engine, loop, listener)
    finally:
        asyncio.run_coroutine_threadsafe(listener.stop(drain=0.1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def stub(served: Served) -> Served:
    served.engine.__init__()  # type: ignore[misc]
    return served


def test_calls_and_typed_errors(stub: Served) -> None:
    with IPCClient(f"unix://{stub.path}", timeout=5) as client:
        assert client.health().live
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        outputs = client.infer("add", {"x": x, "y": x})
        np.testing.assert_array_equal(outputs["z"], x + x)
        text = client.infer("upper", {"text": np.array([b"ab", "cd"], dtype=object)})
        assert text["upper"].tolist() == [b"AB", b"CD"]
        with pytest.raises(NotFound):
            client.get_model("nope")


def test_deadline_then_the_next_call_reconnects(stub: Served) -> None:
    client = IPCClient(stub.path, timeout=0.2)
    stub.engine.hang = True
    with pytest.raises(DeadlineExceeded, match=r"did not answer Health within 0\.2 s"):
        client.health()
    stub.engine.hang = False
    assert client.health().live
    client.close()


def test_lost_connection_then_reconnect(stub: Served) -> None:
    client = IPCClient(stub.path, timeout=5)
    assert client.health().live

    async def drop() -> None:
        connections = list(stub.listener.connections)
        for connection in connections:
            connection.close()
        await asyncio.gather(*(connection.lost for connection in connections))

    asyncio.run_coroutine_threadsafe(drop(), stub.loop).result(5)
    # The next call sees that the server closed the connection and makes a new one: the call
    # itself does not fail (as after a server restart).
    assert client.health().live
    assert client.health().live
    client.close()


def test_request_over_the_frame_limit_is_resource_exhausted(stub: Served) -> None:
    client = IPCClient(stub.path, timeout=5)
    with pytest.raises(ResourceExhausted, match="limit"):
        client.infer("echo", {"in": np.zeros(600_000, np.float32)})  # 2.4 MB over 1 MiB
    assert client.health().live  # a fresh connection
    client.close()


def test_threads_share_one_client(stub: Served) -> None:
    client = IPCClient(stub.path, timeout=5)

    def call(i: int) -> float:
        return float(client.infer("echo", {"in": np.full(3, i, np.float32)})["out"][0])

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(200))) == [float(i) for i in range(200)]
    client.close()


def test_async_client_multiplexes(stub: Served) -> None:
    async def run() -> list[float]:
        async with AsyncIPCClient(f"unix://{stub.path}", timeout=5) as client:
            results = await asyncio.gather(
                *(client.infer("echo", {"in": np.full(2, i, np.float32)}) for i in range(50))
            )
            return [float(r["out"][0]) for r in results]

    assert asyncio.run(run()) == [float(i) for i in range(50)]


def test_unreachable_and_addresses(tmp_path: Path) -> None:
    with pytest.raises(Unreachable, match="no such file"):
        IPCClient(tmp_path / "missing.sock").health()
    refusing = tmp_path / "refusing.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(refusing))
        with pytest.raises(Unreachable, match="connection refused"):
            connect(f"unix://{refusing}").health()

    async def run() -> None:
        with pytest.raises(Unreachable, match="no MLOS server is reachable"):
            await AsyncIPCClient(tmp_path / "missing.sock").health()

    asyncio.run(run())
    assert socket_path("unix:///run/mlos.sock") == Path("/run/mlos.sock")
    assert socket_path("unix://relative.sock") == Path("relative.sock")
    assert socket_path(Path("/x.sock")) == Path("/x.sock")
    for bad in ("unix://", "http://x"):
        with pytest.raises(InvalidArgument):
            socket_path(bad)


def test_spinning_client_gets_the_same_answers(stub: Served) -> None:
    with IPCClient(stub.path, timeout=5, spin=0.001) as client:
        for i in range(20):
            assert float(client.infer("echo", {"in": np.full(2, i, np.float32)})["out"][1]) == i
        stub.engine.hang = True
        client_short = IPCClient(stub.path, timeout=0.1, spin=0.01)
        with pytest.raises(DeadlineExceeded):
            client_short.health()  # the spin ends, then the blocking read times out
        stub.engine.hang = False
        client_short.close()


def test_inputs_go_inline_when_the_server_refuses_shared_memory(stub: Served) -> None:
    # The stub engine has no shared memory: registering the client's region fails, the client
    # says so once (staging off), sends the inputs inline and leaves nothing in /dev/shm.
    before = {name for name in os.listdir("/dev/shm") if name.startswith("mlos-client-")}
    with IPCClient(f"unix://{stub.path}", timeout=5, shared_memory_from=16) as client:
        x = np.arange(64, dtype=np.float32).reshape(8, 8)
        for _ in range(2):
            np.testing.assert_array_equal(client.infer("add", {"x": x, "y": x})["z"], x + x)
        assert not client._staging.enabled
    after = {name for name in os.listdir("/dev/shm") if name.startswith("mlos-client-")}
    assert after <= before
