"""One suite for the Python client, run once per protocol (REST, gRPC, IPC) over a real server.

A single `mlos serve --demo` serves the module; each test gets a client of the protocol it is
parametrized with. Names a test creates carry the protocol, so the runs never collide.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlos.client import Client, Unreachable, connect, connect_async
from mlos.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MLOSError,
    NotFound,
    PermissionDenied,
)
from mlos.server import demo_model_path
from mlos.testing import ServerProcess
from mlos_generated import smi_pb2

pytest.importorskip("onnxruntime")

PROTOCOLS = ["rest", "grpc", "ipc"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("clients")
    served = ServerProcess(root / "home", "--demo", logs=root)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def url_of(server: ServerProcess, protocol: str) -> str:
    url = {"rest": server.url, "grpc": server.grpc_url, "ipc": server.ipc_url}[protocol]
    if not url:
        pytest.skip(f"this server does not serve {protocol}")
    return url


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(server: ServerProcess, protocol: str) -> Iterator[Client]:
    with connect(url_of(server, protocol), timeout=30, token=server.token) as opened:
        yield opened


@pytest.fixture(scope="module")
def expected(server: ServerProcess) -> tuple[np.ndarray, np.ndarray]:
    """An input of the demo model and the output onnxruntime computes for it in-process."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(demo_model_path(server.home)), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(7).standard_normal((3, 64)).astype(np.float32)
    return x, session.run(None, {"input": x})[0]


def test_health_and_resources(client: Client) -> None:
    health = client.health()
    assert isinstance(health, smi_pb2.HealthResponse)
    assert health.live and health.ready
    assert "onnx" in [plugin.name for plugin in health.plugins]
    resources = client.resources()
    assert resources.host.cpu_count > 0
    assert "onnx" in [usage.plugin for usage in resources.plugins]


def test_server_metadata(client: Client, protocol: str) -> None:
    metadata = client.server_metadata()
    assert metadata["name"] == "mlos"
    assert "binary_tensor_data" in metadata["extensions"]


def test_plugin_lifecycle(client: Client, protocol: str) -> None:
    name = f"onnx-{protocol}"
    status = client.register_plugin(name, entry_point="onnx")
    assert isinstance(status, smi_pb2.PluginStatus)
    assert (status.name, status.source.entry_point) == (name, "onnx")
    with pytest.raises(AlreadyExists):
        client.register_plugin(name, entry_point="onnx")
    assert name in [plugin.name for plugin in client.list_plugins()]
    loaded = client.load_plugin(name)
    assert loaded.state == smi_pb2.PLUGIN_STATE_READY and loaded.pid > 0
    assert client.get_plugin(name).info.name == "onnx"
    unloaded = client.unload_plugin(name)
    assert (unloaded.state, unloaded.pid) == (smi_pb2.PLUGIN_STATE_UNLOADED, 0)
    assert client.remove_plugin(name) is None
    with pytest.raises(NotFound):
        client.get_plugin(name)
    with pytest.raises(InvalidArgument, match="at most one"):
        client.register_plugin(name, entry_point="onnx", module="x:Y")


def test_plugin_versions_side_by_side(client: Client, protocol: str) -> None:
    name = f"versions-{protocol}"
    client.register_plugin(name, version="1.0", entry_point="onnx")
    beside = client.register_plugin(name, version="2.0", entry_point="onnx")
    assert (beside.registered_version, beside.default, beside.label) == ("2.0", False,
                                                                         f"{name}@2.0")
    with pytest.raises(AlreadyExists):
        client.register_plugin(name, version="2.0", entry_point="onnx")
    listed = [(p.registered_version, p.default) for p in client.list_plugins() if p.name == name]
    assert listed == [("1.0", True), ("2.0", False)]
    assert client.get_plugin(name).registered_version == "1.0"
    assert client.get_plugin(name, "2.0").registered_version == "2.0"
    with pytest.raises(NotFound, match="no version"):
        client.get_plugin(name, "3.0")
    assert client.set_default_plugin(name, "2.0").default
    assert client.get_plugin(name).registered_version == "2.0"
    with pytest.raises(FailedPrecondition, match="is the default"):
        client.remove_plugin(name)
    assert client.remove_plugin(name, "1.0") is None
    assert client.remove_plugin(name) is None
    with pytest.raises(NotFound):
        client.get_plugin(name)


def test_model_lifecycle(client: Client, protocol: str, server: ServerProcess) -> None:
    name = f"mlp-{protocol}"
    path = str(demo_model_path(server.home))
    status = client.register_model(name, path, plugin="onnx", config={"intra_op_threads": "1"})
    assert (status.name, status.version, status.state) == (name, "1", smi_pb2.MODEL_STATE_READY)
    assert status.config["intra_op_threads"] == "1"
    second = client.register_model(name, path, plugin="onnx")
    assert second.version == "2"
    assert {(s.name, s.version) for s in client.list_models()} >= {(name, "1"), (name, "2")}
    assert [v.version for v in client.get_model(name).versions] == ["1", "2"]
    assert [v.version for v in client.get_model(name, "1").versions] == ["1"]
    metadata = client.model_metadata(name)
    assert (metadata.name, metadata.version) == (name, "2")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [-1, 64])
    ]
    assert client.model_metadata(name, "1").version == "1"
    assert client.model_ready(name) and client.model_ready(name, "1")
    assert not client.model_ready(name, "9") and not client.model_ready("no-such-model")
    removed = client.remove_model(name, "2")
    assert [(s.name, s.version) for s in removed] == [(name, "2")]
    assert [s.version for s in client.remove_model(name)] == ["1"]
    for call in (lambda: client.get_model(name), lambda: client.model_metadata(name)):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotFound, match="does not exist"):
        client.register_model(f"broken-{protocol}", str(server.home / "models" / "none.onnx"), plugin="onnx")
    with pytest.raises(PermissionDenied, match="outside the server's model roots"):
        client.register_model(f"outside-{protocol}", "/no/such/model.onnx", plugin="onnx")
    with pytest.raises(PermissionDenied, match="plugin_modules"):
        client.register_plugin(f"evil-{protocol}", module="os:system")


def test_registration_sets_dynamic_batching_and_instances(
    client: Client, protocol: str, server: ServerProcess
) -> None:
    name = f"batched-{protocol}"
    path = str(demo_model_path(server.home))
    batching = {"max_queue_delay_us": 300, "preferred_batch_size": [4, 2], "priority_levels": 2,
                "default_priority_level": 1, "max_queue_size": 16}  # fmt: skip
    status = client.register_model(
        name, path, plugin="onnx", config={"max_batch_size": "8"},
        dynamic_batching=batching, instance_count=2,
    )  # fmt: skip
    assert status.instance_count == 2 and status.metadata.max_batch_size == 8
    got = status.dynamic_batching
    assert (list(got.preferred_batch_size), got.max_queue_delay_us, got.priority_levels,
            got.default_priority_level, got.max_queue_size) == ([2, 4], 300, 2, 1, 16)  # fmt: skip
    on = client.register_model(f"on-{protocol}", path, plugin="onnx", dynamic_batching={})
    assert on.HasField("dynamic_batching") and on.instance_count == 1
    plain = client.register_model(f"plain-{protocol}", path, plugin="onnx")
    assert not plain.HasField("dynamic_batching")
    with pytest.raises(InvalidArgument, match="no field 'delay'"):
        client.register_model(f"bad-{protocol}", path, plugin="onnx", dynamic_batching={"delay": 1})
    for model in (name, f"on-{protocol}", f"plain-{protocol}"):
        client.remove_model(model)


def test_infer_agrees_with_onnxruntime(client: Client, expected) -> None:
    x, y = expected
    outputs = client.infer("demo", {"input": x})
    assert list(outputs) == ["output"]
    assert outputs["output"].dtype == np.float32 and outputs["output"].shape == (3, 10)
    np.testing.assert_allclose(outputs["output"], y, rtol=1e-5, atol=1e-6)
    chosen = client.infer("demo", {"input": x[:1]}, outputs=["output"], version="1")
    np.testing.assert_allclose(chosen["output"], y[:1], rtol=1e-5, atol=1e-6)


def test_infer_errors_are_typed(client: Client) -> None:
    x = np.zeros((1, 64), np.float32)
    with pytest.raises(NotFound):
        client.infer("no-such-model", {"input": x})
    with pytest.raises(InvalidArgument, match="wrong"):
        client.infer("demo", {"wrong": x})
    with pytest.raises(InvalidArgument, match="shape"):
        client.infer("demo", {"input": np.zeros((1, 63), np.float32)})
    with pytest.raises(InvalidArgument, match="datatype"):
        client.infer("demo", {"input": x.astype(np.float64)})
    with pytest.raises(InvalidArgument, match="unknown datatype"):
        client.infer("demo", {"input": x}, datatypes={"input": "FP8"})


def test_async_client(server: ServerProcess, protocol: str, expected) -> None:
    x, y = expected

    async def run() -> None:
        async with connect_async(url_of(server, protocol), timeout=30, token=server.token) as client:
            assert (await client.health()).ready
            assert "demo" in [m.name for m in await client.list_models()]
            results = await asyncio.gather(
                *(client.infer("demo", {"input": x[i : i + 1]}) for i in range(3))
            )
            for i, outputs in enumerate(results):
                np.testing.assert_allclose(outputs["output"], y[i : i + 1], rtol=1e-5, atol=1e-6)
            with pytest.raises(NotFound):
                await client.get_plugin("no-such-plugin")
            assert (await client.model_metadata("demo")).inputs[0].name == "input"

    asyncio.run(run())


def test_unreachable(protocol: str, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that is bound and never listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = {
            "rest": f"http://127.0.0.1:{port}",
            "grpc": f"grpc://127.0.0.1:{port}",
            "ipc": f"unix://{tmp_path / 'nobody.sock'}",
        }[protocol]
        with pytest.raises(Unreachable) as caught:
            connect(url, timeout=5).health()
    assert caught.value.message.startswith(f"no MLOS server is reachable at {url}")
    assert isinstance(caught.value, MLOSError) and caught.value.code.slug == "unavailable"
