"""A real REST server (the app of mlos.rest over the REST tests' StubEngine) for the client.

The server runs uvicorn in a thread on a loopback socket bound to port 0, once per module; each
test gets the engine reset to its initial state (three models: add, echo, upper; no plugins).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from mlos.client import HTTPClient
from mlos.rest.app import create_app
from tests.rest.conftest import Settings, StubEngine


@dataclass
class StubServer:
    """A served StubEngine and its base URL."""

    url: str
    engine: StubEngine


@pytest.fixture(scope="module")
def stub_server() -> Iterator[StubServer]:
    engine = StubEngine()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(engine, Settings(max_body_bytes=1024 * 1024)), log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    started = threading.Event()

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        started.set()
        await task

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    assert started.wait(10) and server.started, "uvicorn did not start"
    try:
        yield StubServer(f"http://127.0.0.1:{port}", engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def stub(stub_server: StubServer) -> StubServer:
    """The module's server with its engine back in its initial state."""
    stub_server.engine.__init__()  # type: ignore[misc]
    return stub_server


@pytest.fixture
def client(stub: StubServer) -> Iterator[HTTPClient]:
    with HTTPClient(stub.url, timeout=10) as http:
        yield http
