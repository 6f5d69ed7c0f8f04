"""An in-process gRPC server over a real engine, shared by the gRPC tests of this process.

The engine runs in a fresh home with two plugin processes: `double` (the SDK tests' plugin,
y = 2x for FP32 x of shape [-1, 4]) and `onnx` with the models `mlp` (the demo MLP) and
`identity_<datatype>` for a few datatypes. Engine and server run on an event loop in a thread of
their own; tests talk to the server over a loopback port with the generated sync stubs.

The tritonclient tests do not use this server: tritonclient.grpc cannot share a process with
mlos_generated.inference_pb2 (both define the protobuf package `inference`), so they drive a
real `mlos serve` from a script in a subprocess (tests/grpc/triton_flows.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from mlos.config import Settings
from mlos.core.engine import Engine
from mlos.grpc.app import GRPCServer
from mlos_generated import smi_pb2

T = TypeVar("T")

DOUBLE_PLUGIN = "tests.sdk.echo_plugin:EchoPlugin"
REPO = Path(__file__).resolve().parents[2]
IDENTITY_DATATYPES = ("BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT64", "FP64", "BYTES")
MAX_MESSAGE_BYTES = 4 * 2**20


@dataclass(frozen=True)
class _Settings:
    home: Path
    restart_backoff_initial: float = 0.05
    restart_backoff_max: float = 30.0
    log_level: str = "warning"


@dataclass
class Served:
    """The running server: its address, engine, event loop and model files."""

    address: str
    engine: Engine
    server: GRPCServer
    loop: asyncio.AbstractEventLoop
    models: Path

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop and return its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def channel(self) -> grpc.Channel:
        """A new sync channel to the server."""
        return grpc.insecure_channel(self.address)


async def _populate(engine: Engine, models: Path) -> None:
    await engine.register_plugin(
        smi_pb2.RegisterPluginRequest(
            name="double", source=smi_pb2.PluginSource(module=DOUBLE_PLUGIN)
        )
    )
    await engine.load_plugin("double")
    (models / "twice.double").write_text("double")
    await engine.register_model(
        smi_pb2.RegisterModelRequest(name="twice", path=str(models / "twice.double"))
    )
    try:
        from tests.models import identity_model, mlp_model, save
    except ImportError:  # pragma: no cover - onnx is a dev dependency
        return
    await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="onnx"))
    await engine.load_plugin("onnx")
    files = {"mlp": save(mlp_model(), models / "mlp.onnx")}
    for datatype in IDENTITY_DATATYPES:
        name = f"identity_{datatype.lower()}"
        files[name] = save(identity_model(datatype), models / f"{name}.onnx")
    for name, path in files.items():
        await engine.register_model(
            smi_pb2.RegisterModelRequest(name=name, plugin="onnx", path=str(path))
        )


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The engine and the gRPC server on a random loopback port, for the whole session."""
    home = tmp_path_factory.mktemp("grpc-home")
    models = tmp_path_factory.mktemp("grpc-models")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[Engine, GRPCServer]:
        # Authentication has its own tests (tests/security); these call the stubs bare.
        engine = Engine(
            Settings(
                home=home,
                restart_backoff_initial=0.05,
                model_roots=(models,),
                plugin_modules=("tests.*",),
                plugin_python_path=(REPO, REPO / "generated", REPO / "plugins"),
                auth=False,
            )
        )
        await engine.start()
        server = GRPCServer(engine, "127.0.0.1", 0, max_message_bytes=MAX_MESSAGE_BYTES)
        await server.start()
        try:
            await _populate(engine, models)
        except BaseException:
            await server.stop(None)
            await engine.stop()
            raise
        return engine, server

    try:
        engine, server = asyncio.run_coroutine_threadsafe(start(), loop).result(120)
        running = Served(server.address, engine, server, loop, models)
        try:
            yield running
        finally:

            async def stop() -> None:
                await server.stop(1)
                await engine.stop()

            running.run(stop())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="session")
def channel(served: Served) -> Iterator[grpc.Channel]:
    """A sync channel to the session's server."""
    with served.channel() as opened:
        yield opened
