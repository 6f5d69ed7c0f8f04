"""`inference.GRPCInferenceService` through the generated stub, over a real engine.

The same RPCs through tritonclient.grpc, against `mlos serve`, are in test_tritonclient.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from multiprocessing import shared_memory
from typing import Any

import grpc
import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.wire import tensors
from mlos_generated import inference_pb2, inference_pb2_grpc, smi_pb2
from tests.grpc.conftest import IDENTITY_DATATYPES, Served

pytest.importorskip("onnxruntime")

Input = inference_pb2.ModelInferRequest.InferInputTensor
Stub = inference_pb2_grpc.GRPCInferenceServiceStub


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> Stub:
    return Stub(channel)


def _code(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value.code(), info.value.details()  # type: ignore[attr-defined]


def _raw_request(model: str, **arrays: np.ndarray[Any, Any]) -> inference_pb2.ModelInferRequest:
    request = inference_pb2.ModelInferRequest(model_name=model)
    for name, array in arrays.items():
        request.inputs.add(name=name, datatype=tensors.datatype_of(array), shape=array.shape)
        if array.dtype == object:
            request.raw_input_contents.append(tensors.encode_bytes(array.reshape(-1)))
        else:
            request.raw_input_contents.append(array.tobytes())
    return request


def _output(response: inference_pb2.ModelInferResponse, index: int = 0) -> np.ndarray[Any, Any]:
    spec = response.outputs[index]
    contents = response.raw_output_contents[index]
    tensor = smi_pb2.Tensor(datatype=spec.datatype, shape=spec.shape, contents=contents)
    return tensors.to_numpy(tensor)


# ----- server and models ------------------------------------------------------------------


def test_server_live_ready_and_metadata(stub: Stub, served: Served) -> None:
    assert stub.ServerLive(inference_pb2.ServerLiveRequest()).live
    assert stub.ServerReady(inference_pb2.ServerReadyRequest()).ready
    metadata = stub.ServerMetadata(inference_pb2.ServerMetadataRequest())
    expected = served.run(served.engine.server_metadata())
    assert metadata.name == expected.name == "mlos"
    assert metadata.version == expected.version
    assert list(metadata.extensions) == list(expected.extensions)


def test_model_ready(stub: Stub) -> None:
    assert stub.ModelReady(inference_pb2.ModelReadyRequest(name="mlp")).ready
    assert stub.ModelReady(inference_pb2.ModelReadyRequest(name="mlp", version="1")).ready
    assert not stub.ModelReady(inference_pb2.ModelReadyRequest(name="mlp", version="9")).ready
    assert not stub.ModelReady(inference_pb2.ModelReadyRequest(name="nope")).ready


def test_model_metadata(stub: Stub) -> None:
    metadata = stub.ModelMetadata(inference_pb2.ModelMetadataRequest(name="twice"))
    assert (metadata.name, list(metadata.versions), metadata.platform) == (
        "twice",
        ["1"],
        "test_double",
    )
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("x", "FP32", [-1, 4])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("y", "FP32", [-1, 4])
    ]
    code, details = _code(stub.ModelMetadata, inference_pb2.ModelMetadataRequest(name="nope"))
    assert code is grpc.StatusCode.NOT_FOUND and "nope" in details


def test_model_config_is_the_engines(stub: Stub, served: Served) -> None:
    config = stub.ModelConfig(inference_pb2.ModelConfigRequest(name="mlp")).config
    expected = served.run(served.engine.model_config("mlp"))
    assert config.name == "mlp" and config.platform == "onnxruntime_onnx"
    assert config.input[0].data_type == inference_pb2.TYPE_FP32
    assert config == expected
    code, _ = _code(stub.ModelConfig, inference_pb2.ModelConfigRequest(name="nope"))
    assert code is grpc.StatusCode.NOT_FOUND


# ----- inference ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7])
def test_mlp_matches_onnxruntime(stub: Stub, served: Served, batch: int) -> None:
    import onnxruntime

    x = np.random.default_rng(batch).random((batch, 64), dtype=np.float32)
    response = stub.ModelInfer(_raw_request("mlp", input=x))
    session = onnxruntime.InferenceSession(str(served.models / "mlp.onnx"))
    (expected,) = session.run(None, {session.get_inputs()[0].name: x})
    assert response.model_name == "mlp" and response.model_version == "1"
    np.testing.assert_allclose(_output(response), expected, rtol=1e-5, atol=1e-6)


def test_raw_fp32(stub: Stub) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    request = _raw_request("twice", x=x)
    request.id = "abc"
    response = stub.ModelInfer(request)
    assert response.id == "abc"
    assert len(response.raw_output_contents) == len(response.outputs) == 1
    np.testing.assert_array_equal(_output(response), x * 2)


_TYPED = {
    "BOOL": ("bool_contents", np.array([[True, False, True, True]])),
    "INT8": ("int_contents", np.array([[-128, 0, 1, 127]], dtype=np.int8)),
    "INT16": ("int_contents", np.array([[-300, 0, 1, 300]], dtype=np.int16)),
    "INT32": ("int_contents", np.array([[-(2**31), 0, 1, 7]], dtype=np.int32)),
    "INT64": ("int64_contents", np.array([[-(2**62), 0, 1, 2**62]], dtype=np.int64)),
    "UINT8": ("uint_contents", np.array([[0, 1, 2, 255]], dtype=np.uint8)),
    "UINT64": ("uint64_contents", np.array([[0, 1, 2, 2**64 - 1]], dtype=np.uint64)),
    "FP64": ("fp64_contents", np.array([[0.1, -1e300, 0.0, 2.0]])),
    "BYTES": ("bytes_contents", np.array([[b"a", b"", "é".encode(), b"\0"]], dtype=object)),
}


@pytest.mark.parametrize("datatype", IDENTITY_DATATYPES)
@pytest.mark.parametrize("typed", [False, True], ids=["raw", "typed"])
def test_datatypes_round_trip(stub: Stub, datatype: str, typed: bool) -> None:
    field, array = _TYPED[datatype]
    model = f"identity_{datatype.lower()}"
    if typed:
        request = inference_pb2.ModelInferRequest(model_name=model)
        tensor = request.inputs.add(name="x", datatype=datatype, shape=array.shape)
        getattr(tensor.contents, field).extend(array.reshape(-1).tolist())
    else:
        request = _raw_request(model, x=array)
    response = stub.ModelInfer(request)
    assert response.outputs[0].datatype == datatype
    result = _output(response)
    assert result.shape == array.shape
    np.testing.assert_array_equal(result, array)


def test_typed_fp32(stub: Stub) -> None:
    request = inference_pb2.ModelInferRequest(model_name="twice")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend(
        [1, 2, 3, 4]
    )
    np.testing.assert_array_equal(_output(stub.ModelInfer(request)), [[2, 4, 6, 8]])


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        (inference_pb2.ModelInferRequest(model_name="nope"), grpc.StatusCode.NOT_FOUND, "nope"),
        (
            _raw_request("twice", x=np.zeros((2, 3), dtype=np.float32)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "shape",
        ),
        (
            _raw_request("twice", x=np.zeros((2, 4), dtype=np.float64)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "datatype",
        ),
        (
            inference_pb2.ModelInferRequest(
                model_name="twice",
                inputs=[Input(name="x", datatype="FP32", shape=[1, 4])],
                raw_input_contents=[b"\0" * 12],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "bytes",
        ),
        (
            inference_pb2.ModelInferRequest(
                model_name="twice",
                inputs=[Input(name="x", datatype="FP32", shape=[1, 4])],
                raw_input_contents=[b"\0" * 16, b"\0" * 16],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "raw_input_contents",
        ),
    ],
    ids=["unknown-model", "bad-shape", "bad-datatype", "short-raw", "extra-raw"],
)
def test_infer_errors(
    stub: Stub, request_: inference_pb2.ModelInferRequest, code: grpc.StatusCode, words: str
) -> None:
    got, details = _code(stub.ModelInfer, request_)
    assert got is code
    assert words in details


def test_stream_infer_answers_each_request(stub: Stub) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    good = _raw_request("twice", x=x)
    good.id = "first"
    bad = inference_pb2.ModelInferRequest(model_name="nope", id="second")
    responses = list(stub.ModelStreamInfer(iter([good, bad, good])))
    assert len(responses) == 3
    assert responses[0].infer_response.id == "first" and not responses[0].error_message
    np.testing.assert_array_equal(_output(responses[0].infer_response), x * 2)
    assert "nope" in responses[1].error_message
    assert responses[2].infer_response.model_name == "twice"


# ----- statistics and repository ------------------------------------------------------------


def test_statistics_count_inferences(stub: Stub) -> None:
    def count() -> int:
        response = stub.ModelStatistics(inference_pb2.ModelStatisticsRequest(name="identity_int8"))
        (stats,) = response.model_stats
        assert (stats.name, stats.version) == ("identity_int8", "1")
        return stats.inference_count

    before = count()
    stub.ModelInfer(_raw_request("identity_int8", x=np.zeros((3, 4), dtype=np.int8)))
    assert count() == before + 3
    everything = stub.ModelStatistics(inference_pb2.ModelStatisticsRequest())
    assert {"mlp", "twice"} <= {s.name for s in everything.model_stats}
    code, _ = _code(stub.ModelStatistics, inference_pb2.ModelStatisticsRequest(name="nope"))
    assert code is grpc.StatusCode.NOT_FOUND


def test_repository_index_unload_and_load(stub: Stub) -> None:
    index = stub.RepositoryIndex(inference_pb2.RepositoryIndexRequest())
    states = {(m.name, m.version): m.state for m in index.models}
    assert states[("identity_fp64", "1")] == "READY"

    stub.RepositoryModelUnload(
        inference_pb2.RepositoryModelUnloadRequest(model_name="identity_fp64")
    )
    try:
        assert not stub.ModelReady(inference_pb2.ModelReadyRequest(name="identity_fp64")).ready
        ready_only = stub.RepositoryIndex(inference_pb2.RepositoryIndexRequest(ready=True))
        assert "identity_fp64" not in {m.name for m in ready_only.models}
        assert all(m.state == "READY" for m in ready_only.models)
        code, details = _code(stub.ModelInfer, _raw_request("identity_fp64", x=np.zeros((1, 4))))
        # Unloaded on purpose: a precondition until it is loaded again (not a transient 503).
        assert code is grpc.StatusCode.FAILED_PRECONDITION and "unloaded" in details
    finally:
        stub.RepositoryModelLoad(
            inference_pb2.RepositoryModelLoadRequest(model_name="identity_fp64")
        )
    assert stub.ModelReady(inference_pb2.ModelReadyRequest(name="identity_fp64")).ready
    code, _ = _code(
        stub.RepositoryModelLoad, inference_pb2.RepositoryModelLoadRequest(model_name="nope")
    )
    assert code is grpc.StatusCode.NOT_FOUND


# ----- shared memory, tracing, logging ------------------------------------------------------

needs_shm = pytest.mark.skipif(
    not hasattr(Engine, "register_system_shm"), reason="the engine has no system shared memory"
)


@pytest.fixture
def region() -> Iterator[shared_memory.SharedMemory]:
    segment = shared_memory.SharedMemory(create=True, size=64)
    try:
        yield segment
    finally:
        segment.close()
        segment.unlink()


@needs_shm
def test_system_shared_memory_round_trip(stub: Stub, region: shared_memory.SharedMemory) -> None:
    key = "/" + region.name.lstrip("/")
    stub.SystemSharedMemoryRegister(
        inference_pb2.SystemSharedMemoryRegisterRequest(name="grpc-in", key=key, byte_size=64)
    )
    try:
        status = stub.SystemSharedMemoryStatus(inference_pb2.SystemSharedMemoryStatusRequest())
        assert status.regions["grpc-in"].key == key
        assert status.regions["grpc-in"].byte_size == 64

        x = np.arange(4, dtype=np.float32).reshape(1, 4)
        region.buf[:16] = x.tobytes()
        request = inference_pb2.ModelInferRequest(model_name="twice")
        tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 4])
        tensor.parameters["shared_memory_region"].string_param = "grpc-in"
        tensor.parameters["shared_memory_byte_size"].int64_param = 16
        output = request.outputs.add(name="y")
        output.parameters["shared_memory_region"].string_param = "grpc-in"
        output.parameters["shared_memory_byte_size"].int64_param = 16
        output.parameters["shared_memory_offset"].int64_param = 32
        response = stub.ModelInfer(request)
        assert response.outputs[0].name == "y"
        result = np.frombuffer(bytes(region.buf[32:48]), dtype=np.float32)
        np.testing.assert_array_equal(result, (x * 2).reshape(-1))
    finally:
        stub.SystemSharedMemoryUnregister(
            inference_pb2.SystemSharedMemoryUnregisterRequest(name="grpc-in")
        )
    status = stub.SystemSharedMemoryStatus(inference_pb2.SystemSharedMemoryStatusRequest())
    assert "grpc-in" not in status.regions


@needs_shm
def test_cuda_shared_memory_is_refused(stub: Stub) -> None:
    status = stub.CudaSharedMemoryStatus(inference_pb2.CudaSharedMemoryStatusRequest())
    assert not status.regions
    code, details = _code(
        stub.CudaSharedMemoryRegister,
        inference_pb2.CudaSharedMemoryRegisterRequest(name="gpu", byte_size=8),
    )
    assert code is grpc.StatusCode.NOT_FOUND and "no CUDA device" in details
    stub.CudaSharedMemoryUnregister(inference_pb2.CudaSharedMemoryUnregisterRequest(name="gpu"))


def test_trace_settings_per_model_and_their_errors(stub: Stub) -> None:
    def settings(response: inference_pb2.TraceSettingResponse) -> dict[str, list[str]]:
        return {name: list(value.value) for name, value in response.settings.items()}

    request = inference_pb2.TraceSettingRequest(model_name="mlp")
    request.settings["trace_rate"].value.append("2")
    assert settings(stub.TraceSetting(request))["trace_rate"] == ["2"]
    assert settings(stub.TraceSetting(inference_pb2.TraceSettingRequest()))["trace_rate"] == ["1000"]
    clear = inference_pb2.TraceSettingRequest(model_name="mlp")
    clear.settings["trace_rate"].SetInParent()  # no value: clear it
    assert settings(stub.TraceSetting(clear))["trace_rate"] == ["1000"]
    code, details = _code(stub.TraceSetting, inference_pb2.TraceSettingRequest(model_name="nope"))
    assert code is grpc.StatusCode.NOT_FOUND and "nope" in details
    bad = inference_pb2.TraceSettingRequest()
    bad.settings["trace_count"].value.extend(["1", "2"])
    code, details = _code(stub.TraceSetting, bad)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "trace_count takes one value" in details


def test_log_settings_are_read_and_bad_ones_refused(stub: Stub) -> None:
    response = stub.LogSettings(inference_pb2.LogSettingsRequest())
    assert response.settings["log_format"].string_param == "default"
    assert response.settings["log_verbose_level"].WhichOneof("parameter_choice") == "uint32_param"
    bad = inference_pb2.LogSettingsRequest()
    bad.settings["log_info"].string_param = "yes"
    code, details = _code(stub.LogSettings, bad)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "log_info must be true or false" in details
