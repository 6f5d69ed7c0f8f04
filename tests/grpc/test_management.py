"""Every RPC of the `mlos.smi.v1.MLOS` service through the generated stub, over a real engine."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from mlos.grpc.status import CODE_METADATA_KEY
from mlos.wire import tensors
from mlos_generated import smi_pb2, smi_pb2_grpc
from tests.grpc.conftest import DOUBLE_PLUGIN, Served


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> smi_pb2_grpc.MLOSStub:
    return smi_pb2_grpc.MLOSStub(channel)


def _error(call: object, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request)  # type: ignore[operator]
    return info.value


def _metadata_code(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata())[CODE_METADATA_KEY]  # type: ignore[attr-defined]


def test_health_lists_plugins(stub: smi_pb2_grpc.MLOSStub) -> None:
    health = stub.Health(smi_pb2.HealthRequest())
    assert health.live and health.ready
    states = {p.name: p.state for p in health.plugins}
    assert states["double"] == smi_pb2.PLUGIN_STATE_READY


def test_get_and_list_plugins(stub: smi_pb2_grpc.MLOSStub) -> None:
    status = stub.GetPlugin(smi_pb2.PluginRef(name="double"))
    assert status.state == smi_pb2.PLUGIN_STATE_READY
    assert status.pid > 0
    assert "twice/1" in status.models
    listed = stub.ListPlugins(smi_pb2.ListPluginsRequest())
    assert "double" in [p.name for p in listed.plugins]


def test_unknown_plugin_is_not_found(stub: smi_pb2_grpc.MLOSStub) -> None:
    error = _error(stub.GetPlugin, smi_pb2.PluginRef(name="nope"))
    assert error.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert "nope" in error.details()  # type: ignore[attr-defined]
    assert _metadata_code(error) == "not_found"


def test_plugin_lifecycle(stub: smi_pb2_grpc.MLOSStub, served: Served) -> None:
    source = smi_pb2.PluginSource(module=DOUBLE_PLUGIN)
    registered = stub.RegisterPlugin(smi_pb2.RegisterPluginRequest(name="lifecycle", source=source))
    assert registered.state == smi_pb2.PLUGIN_STATE_REGISTERED
    again = _error(
        stub.RegisterPlugin, smi_pb2.RegisterPluginRequest(name="lifecycle", source=source)
    )
    assert again.code() is grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
    loaded = stub.LoadPlugin(smi_pb2.PluginRef(name="lifecycle"))
    assert loaded.state == smi_pb2.PLUGIN_STATE_READY and loaded.pid > 0

    path = served.models / "m.double"
    path.write_text("double")
    model = stub.RegisterModel(
        smi_pb2.RegisterModelRequest(name="lc_model", plugin="lifecycle", path=str(path))
    )
    assert model.state == smi_pb2.MODEL_STATE_READY and model.version == "1"
    in_use = _error(stub.RemovePlugin, smi_pb2.PluginRef(name="lifecycle"))
    assert in_use.code() is grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    stub.RemoveModel(smi_pb2.ModelRef(name="lc_model"))

    unloaded = stub.UnloadPlugin(smi_pb2.PluginRef(name="lifecycle"))
    assert unloaded.state == smi_pb2.PLUGIN_STATE_UNLOADED and unloaded.pid == 0
    assert stub.RemovePlugin(smi_pb2.PluginRef(name="lifecycle")) == smi_pb2.RemovePluginResponse()
    gone = _error(stub.GetPlugin, smi_pb2.PluginRef(name="lifecycle"))
    assert gone.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_model_lifecycle(stub: smi_pb2_grpc.MLOSStub, served: Served) -> None:
    path = served.models / "v.double"
    path.write_text("double")
    first = stub.RegisterModel(smi_pb2.RegisterModelRequest(name="versions", path=str(path)))
    second = stub.RegisterModel(smi_pb2.RegisterModelRequest(name="versions", path=str(path)))
    assert (first.version, second.version) == ("1", "2")
    assert first.plugin == "double"
    assert [i.name for i in second.metadata.inputs] == ["x"]

    listed = stub.ListModels(smi_pb2.ListModelsRequest())
    assert {("versions", "1"), ("versions", "2")} <= {(m.name, m.version) for m in listed.models}
    model = stub.GetModel(smi_pb2.ModelRef(name="versions"))
    assert [v.version for v in model.versions] == ["1", "2"]
    one = stub.GetModel(smi_pb2.ModelRef(name="versions", version="2"))
    assert [v.version for v in one.versions] == ["2"]

    removed = stub.RemoveModel(smi_pb2.ModelRef(name="versions", version="1"))
    assert [s.version for s in removed.removed] == ["1"]
    removed = stub.RemoveModel(smi_pb2.ModelRef(name="versions"))
    assert [s.version for s in removed.removed] == ["2"]
    error = _error(stub.GetModel, smi_pb2.ModelRef(name="versions"))
    assert error.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_register_model_with_a_missing_file_fails_cleanly(
    stub: smi_pb2_grpc.MLOSStub, served: Served
) -> None:
    missing = str(served.models / "nonexistent.double")
    error = _error(
        stub.RegisterModel, smi_pb2.RegisterModelRequest(name="ghost", plugin="double", path=missing)
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert stub.Health(smi_pb2.HealthRequest()).ready


def test_infer(stub: smi_pb2_grpc.MLOSStub) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    request = smi_pb2.InferRequest(
        model_name="twice", id="req-1", inputs=[tensors.from_numpy("x", x)]
    )
    response = stub.Infer(request)
    assert (response.model_name, response.model_version, response.id) == ("twice", "1", "req-1")
    (output,) = response.outputs
    np.testing.assert_array_equal(tensors.to_numpy(output), x * 2)


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (smi_pb2.InferRequest(model_name="missing"), grpc.StatusCode.NOT_FOUND),
        (smi_pb2.InferRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (
            smi_pb2.InferRequest(
                model_name="twice",
                inputs=[tensors.from_numpy("x", np.zeros((2, 3), dtype=np.float32))],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            smi_pb2.InferRequest(
                model_name="twice",
                inputs=[smi_pb2.Tensor(name="x", datatype="FP32", shape=[1, 4], contents=b"abc")],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
    ids=["unknown-model", "no-model", "bad-shape", "short-contents"],
)
def test_infer_errors(
    stub: smi_pb2_grpc.MLOSStub, request_: smi_pb2.InferRequest, code: grpc.StatusCode
) -> None:
    error = _error(stub.Infer, request_)
    assert error.code() is code  # type: ignore[attr-defined]
    assert error.details()  # type: ignore[attr-defined]


def test_resources(stub: smi_pb2_grpc.MLOSStub) -> None:
    resources = stub.GetResources(smi_pb2.ResourcesRequest())
    assert resources.host.cpu_count >= 1
    assert resources.host.memory_total_bytes > 0
    running = {p.plugin: p for p in resources.plugins}
    assert running["double"].pid > 0 and running["double"].rss_bytes > 0


def test_async_stub(served: Served) -> None:
    """The same service through grpc.aio, as an asyncio client would use it."""
    import asyncio

    async def health() -> bool:
        async with grpc.aio.insecure_channel(served.address) as channel:
            response = await smi_pb2_grpc.MLOSStub(channel).Health(smi_pb2.HealthRequest())
            return response.ready

    assert asyncio.run(health())


def test_system_shared_memory_registration(stub: smi_pb2_grpc.MLOSStub) -> None:
    from multiprocessing import shared_memory

    segment = shared_memory.SharedMemory(create=True, size=4096)
    try:
        region = smi_pb2.SharedMemoryRegion(name="r1", key=segment.name, offset=0, byte_size=4096)
        registered = stub.RegisterSystemSharedMemory(region)
        assert [r.name for r in registered.regions] == ["r1"] and registered.regions[0].byte_size == 4096
        with pytest.raises(grpc.RpcError) as duplicate:
            stub.RegisterSystemSharedMemory(region)
        assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS
        status = stub.SystemSharedMemoryStatus(smi_pb2.SharedMemoryRegionRef())
        assert [r.key for r in status.regions] == [segment.name]
        left = stub.UnregisterSystemSharedMemory(smi_pb2.SharedMemoryRegionRef(name="r1"))
        assert not left.regions
    finally:
        segment.close()
        segment.unlink()


def test_what_the_configuration_does_not_allow_is_permission_denied(
    stub: smi_pb2_grpc.MLOSStub, served: Served, tmp_path: Path
) -> None:
    for source in (smi_pb2.PluginSource(module="os:system"), smi_pb2.PluginSource(executable="/bin/sh")):
        error = _error(stub.RegisterPlugin, smi_pb2.RegisterPluginRequest(name="evil", source=source))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        assert _metadata_code(error) == "permission_denied"
    outside = tmp_path / "outside.double"
    outside.write_text("double")
    for path, code in (
        (str(outside), grpc.StatusCode.PERMISSION_DENIED),
        (f"{served.models}/../{outside.name}", grpc.StatusCode.PERMISSION_DENIED),
        (f"{served.models}/m\x00.double", grpc.StatusCode.INVALID_ARGUMENT),
    ):
        error = _error(stub.RegisterModel, smi_pb2.RegisterModelRequest(name="evil", plugin="double", path=path))
        assert error.code() is code  # type: ignore[attr-defined]
    assert "evil" not in {m.name for m in stub.ListModels(smi_pb2.ListModelsRequest()).models}
