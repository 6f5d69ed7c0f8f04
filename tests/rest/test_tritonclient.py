"""tritonclient.http, unchanged, against the REST server on a loopback port."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.rest.conftest import RunningServer

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def triton(server: RunningServer) -> Any:
    client = httpclient.InferenceServerClient(server.url)
    yield client
    client.close()


def _inputs(binary: bool, **arrays: np.ndarray[Any, Any]) -> list[Any]:
    inputs = []
    for name, array in arrays.items():
        datatype = (
            "BYTES"
            if array.dtype == object
            else {
                np.dtype(np.float32): "FP32",
                np.dtype(np.float16): "FP16",
                np.dtype(np.int8): "INT8",
                np.dtype(np.uint16): "UINT16",
                np.dtype(np.int64): "INT64",
                np.dtype(np.float64): "FP64",
                np.dtype(np.bool_): "BOOL",
                np.dtype(np.uint64): "UINT64",
            }[array.dtype]
        )
        tensor = httpclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_health_and_metadata(triton: Any) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("add")
    assert not triton.is_model_ready("nope")
    assert triton.get_server_metadata()["name"] == "mlos"
    metadata = triton.get_model_metadata("add")
    assert [i["name"] for i in metadata["inputs"]] == ["x", "y"]
    assert triton.get_model_metadata("add", model_version="1")["versions"] == ["1"]
    config = triton.get_model_config("add")
    assert config["input"][0]["dims"] == [-1, 4]


@pytest.mark.parametrize("binary", [True, False])
def test_infer_fp32(triton: Any, binary: bool) -> None:
    x = np.random.rand(3, 4).astype(np.float32)
    y = np.random.rand(3, 4).astype(np.float32)
    outputs = None if binary else [httpclient.InferRequestedOutput("z", binary_data=False)]
    result = triton.infer("add", _inputs(binary, x=x, y=y), outputs=outputs, request_id="r7")
    np.testing.assert_allclose(result.as_numpy("z"), x + y, rtol=1e-6)
    assert result.get_response()["id"] == "r7"
    assert result.get_output("z")["datatype"] == "FP32"


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize(
    "array",
    [
        np.array([0.5, -2.0, 1000.0], dtype=np.float16),
        np.array([-128, 0, 127], dtype=np.int8),
        np.array([0, 65535], dtype=np.uint16),
        np.array([-(2**62), 2**62], dtype=np.int64),
        np.array([2**64 - 1, 0], dtype=np.uint64),
        np.array([0.1, -1e300], dtype=np.float64),
        np.array([True, False, True], dtype=np.bool_),
    ],
    ids=lambda a: str(a.dtype),
)
def test_infer_datatypes(triton: Any, binary: bool, array: np.ndarray[Any, Any]) -> None:
    if not binary and array.dtype == np.float16:
        pytest.skip("tritonclient sends FP16 only as binary data")
    outputs = [httpclient.InferRequestedOutput("out", binary_data=binary)]
    result = triton.infer("echo", _inputs(binary, **{"in": array}), outputs=outputs)
    out = result.as_numpy("out")
    assert out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("binary", [True, False])
def test_infer_bytes(triton: Any, binary: bool) -> None:
    text = np.array([b"hello", b"mlos", b""], dtype=object)
    outputs = [httpclient.InferRequestedOutput("upper", binary_data=binary)]
    result = triton.infer("upper", _inputs(binary, text=text), outputs=outputs)
    upper = [v if isinstance(v, bytes) else v.encode() for v in result.as_numpy("upper")]
    assert upper == [b"HELLO", b"MLOS", b""]


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request(triton: Any, algorithm: str) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    result = triton.infer("add", _inputs(True, x=x, y=x), request_compression_algorithm=algorithm)
    np.testing.assert_array_equal(result.as_numpy("z"), 2 * x)


def test_errors_surface_as_exceptions(triton: Any) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    with pytest.raises(InferenceServerException, match="no model 'nope'"):
        triton.infer("nope", _inputs(True, x=x))
    with pytest.raises(InferenceServerException, match="takes inputs 'x' and 'y'"):
        triton.infer("add", _inputs(True, x=x))


def test_statistics_and_repository(triton: Any, server: RunningServer) -> None:
    stats = triton.get_inference_statistics("add")
    assert stats["model_stats"][0]["name"] == "add"
    assert {m["name"] for m in triton.get_model_repository_index()} >= {"add", "echo"}
    triton.load_model("add")
    triton.unload_model("add")
    assert ("load_model", ("add", "")) in server.engine.calls
    assert ("unload_model", ("add", "")) in server.engine.calls
