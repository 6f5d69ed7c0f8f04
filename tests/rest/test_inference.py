"""/v2: the Open Inference Protocol with Triton's binary tensor data and extensions."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest

from tests.rest.conftest import StubEngine
from tests.rest.schemas import assert_matches

X = np.arange(8, dtype=np.float32).reshape(2, 4)
Y = np.ones((2, 4), dtype=np.float32)


def _binary_body(
    inputs: list[tuple[str, np.ndarray[Any, Any], str]], **document: Any
) -> tuple[bytes, dict[str, str]]:
    """A binary-extension body: JSON header then each input's raw bytes."""
    chunks = []
    specs = []
    for name, array, datatype in inputs:
        raw = array.tobytes()
        chunks.append(raw)
        specs.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        )
    head = json.dumps({"inputs": specs, **document}).encode()
    return head + b"".join(chunks), {"Inference-Header-Content-Length": str(len(head))}


def _split(response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    length = int(response.headers["inference-header-content-length"])
    return json.loads(response.content[:length]), response.content[length:]


async def test_server_metadata(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2")
    assert response.status_code == 200
    assert_matches("ServerMetadataResponse", response.json())
    assert response.json()["name"] == "mlos"


async def test_live_and_ready(client: httpx.AsyncClient, engine: StubEngine) -> None:
    assert (await client.get("/v2/health/live")).status_code == 200
    assert (await client.get("/v2/health/ready")).status_code == 200
    engine.ready = False
    assert (await client.get("/v2/health/ready")).status_code == 400
    assert (await client.get("/v2/health/live")).status_code == 200


async def test_model_metadata(client: httpx.AsyncClient) -> None:
    for path in ("/v2/models/add", "/v2/models/add/versions/1"):
        response = await client.get(path)
        assert response.status_code == 200
        body = response.json()
        assert_matches("ModelMetadataResponse", body)
        assert body == {
            "name": "add",
            "versions": ["1"],
            "platform": "stub_platform",
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [-1, 4]},
                {"name": "y", "datatype": "FP32", "shape": [-1, 4]},
            ],
            "outputs": [{"name": "z", "datatype": "FP32", "shape": [-1, 4]}],
        }


async def test_unknown_model_is_404_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/models/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "no model 'nope'"}


async def test_model_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/models/add/ready")).status_code == 200
    assert (await client.get("/v2/models/add/versions/1/ready")).status_code == 200
    unknown_version = await client.get("/v2/models/add/versions/9/ready")
    assert unknown_version.status_code == 404 and "error" in unknown_version.json()
    assert (await client.get("/v2/models/nope/ready")).status_code == 404


@pytest.mark.parametrize("nested", [True, False])
async def test_infer_json(client: httpx.AsyncClient, nested: bool) -> None:
    def data(a: np.ndarray[Any, Any]) -> list[Any]:
        return list(a.tolist() if nested else a.ravel().tolist())

    body = {
        "id": "r-1",
        "inputs": [
            {"name": "x", "shape": [2, 4], "datatype": "FP32", "data": data(X)},
            {"name": "y", "shape": [2, 4], "datatype": "FP32", "data": data(Y)},
        ],
    }
    response = await client.post("/v2/models/add/infer", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in response.headers
    result = response.json()
    assert_matches("InferenceResponse", result)
    assert result["id"] == "r-1"
    assert result["model_name"] == "add" and result["model_version"] == "1"
    (output,) = result["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("z", "FP32", [2, 4])
    assert output["data"] == (X + Y).ravel().tolist()


async def test_infer_binary_in_and_out(client: httpx.AsyncClient, engine: StubEngine) -> None:
    content, headers = _binary_body(
        [("x", X, "FP32"), ("y", Y, "FP32")], parameters={"binary_data_output": True}
    )
    response = await client.post(
        "/v2/models/add/versions/1/infer",
        content=content,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    head, data = _split(response)
    assert_matches("InferenceResponse", head)
    (output,) = head["outputs"]
    assert output["parameters"] == {"binary_data_size": 32}
    assert "data" not in output
    np.testing.assert_array_equal(np.frombuffer(data, np.float32).reshape(2, 4), X + Y)
    request = engine.requests[-1]
    assert request.model_version == "1"
    assert "binary_data_output" not in request.parameters
    assert all("binary_data_size" not in t.parameters for t in request.inputs)


async def test_binary_body_without_content_type(client: httpx.AsyncClient) -> None:
    """tritonclient sends binary bodies with no Content-Type at all."""
    content, headers = _binary_body([("x", X, "FP32"), ("y", Y, "FP32")])
    request = client.build_request("POST", "/v2/models/add/infer", content=content, headers=headers)
    assert "content-type" not in request.headers
    response = await client.send(request)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == (X + Y).ravel().tolist()


async def test_output_binary_flag_overrides_default(client: httpx.AsyncClient) -> None:
    content, headers = _binary_body(
        [("in", np.array([1.5, 2.5], dtype=np.float32), "FP32")],
        parameters={"binary_data_output": True},
        outputs=[{"name": "out", "parameters": {"binary_data": False}}],
    )
    response = await client.post("/v2/models/echo/infer", content=content, headers=headers)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["outputs"][0]["data"] == [1.5, 2.5]


async def test_json_input_binary_output(client: httpx.AsyncClient) -> None:
    body = {
        "inputs": [{"name": "in", "shape": [3], "datatype": "INT64", "data": [1, -2, 2**40]}],
        "outputs": [{"name": "out", "parameters": {"binary_data": True}}],
    }
    response = await client.post("/v2/models/echo/infer", json=body)
    head, data = _split(response)
    assert head["outputs"][0]["parameters"]["binary_data_size"] == 24
    assert np.frombuffer(data, "<i8").tolist() == [1, -2, 2**40]


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("BOOL", [True, False, True]),
        ("UINT8", [0, 7, 255]),
        ("UINT16", [0, 65535, 3]),
        ("UINT32", [0, 2**32 - 1, 3]),
        ("UINT64", [0, 2**64 - 1, 3]),
        ("INT8", [-128, 0, 127]),
        ("INT16", [-32768, 0, 32767]),
        ("INT32", [-(2**31), 0, 2**31 - 1]),
        ("INT64", [-(2**63), 0, 2**63 - 1]),
        ("FP16", [0.5, -1.0, 65504.0]),
        ("FP32", [0.1, -1.5, 3.0]),
        ("FP64", [0.1, -1e300, 3.0]),
    ],
)
async def test_every_datatype_through_json_and_binary(
    client: httpx.AsyncClient, datatype: str, values: list[Any]
) -> None:
    from mlos.wire.tensors import numpy_dtype

    array = np.array(values, dtype=numpy_dtype(datatype))
    json_body = {"inputs": [{"name": "in", "shape": [3], "datatype": datatype, "data": values}]}
    as_json = (await client.post("/v2/models/echo/infer", json=json_body)).json()
    assert as_json["outputs"][0]["datatype"] == datatype
    np.testing.assert_array_equal(np.array(as_json["outputs"][0]["data"], array.dtype), array)

    content, headers = _binary_body(
        [("in", array, datatype)], parameters={"binary_data_output": True}
    )
    head, data = _split(
        await client.post("/v2/models/echo/infer", content=content, headers=headers)
    )
    assert head["outputs"][0]["parameters"]["binary_data_size"] == array.nbytes
    assert data == array.tobytes()


async def test_bytes_tensors(client: httpx.AsyncClient) -> None:
    body = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["ab", "Cé"]}]}
    response = await client.post("/v2/models/upper/infer", json=body)
    assert response.json()["outputs"][0]["data"] == ["AB", "Cé"]  # bytes.upper: ASCII only

    raw = b"".join(struct.pack("<I", len(s)) + s for s in (b"ab", "Cé".encode()))
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "upper", "parameters": {"binary_data": True}}],
        }
    )
    response = await client.post(
        "/v2/models/upper/infer",
        content=head.encode() + raw,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    _, data = _split(response)
    assert data == b"".join(struct.pack("<I", len(s)) + s for s in (b"AB", "Cé".encode()))


async def test_parameters_reach_the_engine(client: httpx.AsyncClient, engine: StubEngine) -> None:
    body = {
        "parameters": {"priority": 2, "flag": True, "note": "n", "ratio": 0.5, "big": 2**63},
        "inputs": [
            {
                "name": "in",
                "shape": [1],
                "datatype": "FP32",
                "data": [1],
                "parameters": {"layout": "NCHW"},
            }
        ],
        "outputs": [{"name": "out", "parameters": {"classification": 2}}],
    }
    assert (await client.post("/v2/models/echo/infer", json=body)).status_code == 200
    request = engine.requests[-1]
    assert request.parameters["priority"].int64_param == 2
    assert request.parameters["flag"].bool_param is True
    assert request.parameters["note"].string_param == "n"
    assert request.parameters["ratio"].double_param == 0.5
    assert request.parameters["big"].uint64_param == 2**63
    assert request.inputs[0].parameters["layout"].string_param == "NCHW"
    assert request.outputs[0].parameters["classification"].int64_param == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"inputs": [{"name": "in", "shape": [2], "datatype": "FP32", "data": [1]}]},
            "data holds 1 elements",
        ),
        (
            {"inputs": [{"name": "in", "shape": [1], "datatype": "FP32"}]},
            "neither data nor binary_data_size",
        ),
        ({"inputs": [{"name": "in", "shape": [1], "datatype": "FP33", "data": [1]}]}, "datatype"),
        ({"inputs": [{"name": "in", "shape": [-1], "datatype": "FP32", "data": [1]}]}, "shape"),
        (
            {"inputs": [{"name": "in", "shape": [1], "datatype": "FP32", "data": ["x"]}]},
            "not valid FP32",
        ),
        (
            {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [1]}]},
            "BYTES data must be strings",
        ),
        ({"inputs": "none"}, "inputs"),
        ({}, "inputs"),
    ],
)
async def test_bad_requests_are_400_errors(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    model = "upper" if "text" in json.dumps(body) else "echo"
    response = await client.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error


async def test_binary_sizes_must_match_the_body(client: httpx.AsyncClient) -> None:
    content, headers = _binary_body([("in", np.zeros(2, np.float32), "FP32")])
    short = await client.post("/v2/models/echo/infer", content=content[:-1], headers=headers)
    assert short.status_code == 400
    assert "runs past the end" in short.json()["error"]
    extra = await client.post("/v2/models/echo/infer", content=content + b"!", headers=headers)
    assert extra.status_code == 400
    assert "1 bytes of binary data" in extra.json()["error"]
    headers["Inference-Header-Content-Length"] = str(len(content) + 5)
    outside = await client.post("/v2/models/echo/infer", content=content, headers=headers)
    assert outside.status_code == 400


async def test_engine_errors_keep_their_status(client: httpx.AsyncClient) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    response = await client.post("/v2/models/add/infer", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "model 'add' takes inputs 'x' and 'y'"}
    missing = await client.post("/v2/models/nope/infer", json=body)
    assert missing.status_code == 404


async def test_model_config(client: httpx.AsyncClient) -> None:
    for path in ("/v2/models/add/config", "/v2/models/add/versions/1/config"):
        response = await client.get(path)
        assert response.status_code == 200
        assert_matches("ModelConfig", response.json())
        assert response.json()["input"][0]["data_type"] == "TYPE_FP32"


async def test_statistics(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/v2/models/stats")).json()
    assert_matches("ModelStatisticsResponse", everything)
    assert {s["name"] for s in everything["model_stats"]} == {"add", "echo", "upper"}
    one = (await client.get("/v2/models/add/stats")).json()
    assert [s["name"] for s in one["model_stats"]] == ["add"]
    assert (await client.get("/v2/models/add/versions/1/stats")).status_code == 200
    assert (await client.get("/v2/models/add/versions/3/stats")).status_code == 404


async def test_repository(client: httpx.AsyncClient, engine: StubEngine) -> None:
    from mlos_generated import smi_pb2

    engine.models["echo"].state = smi_pb2.MODEL_STATE_UNAVAILABLE
    index = (await client.post("/v2/repository/index")).json()
    assert_matches("RepositoryIndexResponse", index)
    assert {(m["name"], m["state"]) for m in index} == {
        ("add", "READY"),
        ("echo", "UNAVAILABLE"),
        ("upper", "READY"),
    }
    ready = (await client.post("/v2/repository/index", json={"ready": True})).json()
    assert {m["name"] for m in ready} == {"add", "upper"}

    assert (await client.post("/v2/repository/models/add/load")).status_code == 200
    response = await client.post(
        "/v2/repository/models/add/unload", json={"parameters": {"unload_dependents": True}}
    )
    assert response.status_code == 200
    assert engine.calls == [("load_model", ("add", "")), ("unload_model", ("add", ""))]
    missing = await client.post("/v2/repository/models/nope/load")
    assert missing.status_code == 404
    assert "error" in missing.json()
