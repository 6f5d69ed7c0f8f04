"""Open Inference Protocol ↔ SMI conversion (mlos.grpc.oip), in-process."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlos.errors import InvalidArgument
from mlos.grpc import oip
from mlos.wire import tensors
from mlos_generated import inference_pb2, smi_pb2

Input = inference_pb2.ModelInferRequest.InferInputTensor


def _request(*inputs: Input, raw: list[bytes] | None = None) -> inference_pb2.ModelInferRequest:
    return inference_pb2.ModelInferRequest(
        model_name="m", model_version="2", id="r1", inputs=inputs, raw_input_contents=raw or []
    )


def test_raw_contents_pass_through_unchanged() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = tensors.encode_bytes([b"a", b"bc"])
    request = _request(
        Input(name="x", datatype="FP32", shape=[2, 3]),
        Input(name="w", datatype="BYTES", shape=[2]),
        raw=[x.tobytes(), words],
    )
    request.parameters["priority"].int64_param = 3
    request.inputs[0].parameters["tag"].string_param = "t"
    request.outputs.add(name="y").parameters["classification"].int64_param = 2

    converted = oip.infer_request(request)

    assert (converted.model_name, converted.model_version, converted.id) == ("m", "2", "r1")
    assert converted.parameters["priority"].int64_param == 3
    first, second = converted.inputs
    assert (first.name, first.datatype, list(first.shape)) == ("x", "FP32", [2, 3])
    assert first.contents == x.tobytes()
    assert first.parameters["tag"].string_param == "t"
    assert second.contents == words
    assert converted.outputs[0].name == "y"
    assert converted.outputs[0].parameters["classification"].int64_param == 2


@pytest.mark.parametrize(
    ("datatype", "field", "values"),
    [
        ("BOOL", "bool_contents", [True, False, True]),
        ("INT8", "int_contents", [-128, 0, 127]),
        ("INT16", "int_contents", [-32768, 5, 32767]),
        ("INT32", "int_contents", [-(2**31), 0, 2**31 - 1]),
        ("INT64", "int64_contents", [-(2**63), 0, 2**63 - 1]),
        ("UINT8", "uint_contents", [0, 1, 255]),
        ("UINT16", "uint_contents", [0, 1, 65535]),
        ("UINT32", "uint_contents", [0, 1, 2**32 - 1]),
        ("UINT64", "uint64_contents", [0, 1, 2**64 - 1]),
        ("FP32", "fp32_contents", [0.5, -1.25, 3e38]),
        ("FP64", "fp64_contents", [0.1, -1e300, 2.0]),
    ],
)
def test_typed_contents_become_little_endian_raw(
    datatype: str, field: str, values: list[Any]
) -> None:
    tensor = Input(name="x", datatype=datatype, shape=[3])
    getattr(tensor.contents, field).extend(values)
    (converted,) = oip.infer_request(_request(tensor)).inputs
    expected = np.array(values, dtype=tensors.numpy_dtype(datatype))
    assert converted.contents == expected.tobytes()
    np.testing.assert_array_equal(tensors.to_numpy(converted), expected)


def test_typed_bytes_contents() -> None:
    tensor = Input(name="w", datatype="BYTES", shape=[3])
    tensor.contents.bytes_contents.extend([b"", b"\x00\xff", "é".encode()])
    (converted,) = oip.infer_request(_request(tensor)).inputs
    assert tensors.decode_bytes(converted.contents) == [b"", b"\x00\xff", "é".encode()]


@pytest.mark.parametrize(
    ("datatype", "field", "values", "message"),
    [
        ("INT8", "int_contents", [128], "does not fit INT8"),
        ("UINT16", "uint_contents", [70000], "does not fit UINT16"),
        ("FP32", "int_contents", [1], "contents.fp32_contents, not int_contents"),
        ("FP16", "fp32_contents", [1.0], "only in raw_input_contents"),
        ("BF16", "fp32_contents", [1.0], "only in raw_input_contents"),
        ("FLOAT", "fp32_contents", [1.0], "unknown datatype"),
    ],
)
def test_bad_typed_contents_are_invalid(
    datatype: str, field: str, values: list[Any], message: str
) -> None:
    tensor = Input(name="x", datatype=datatype, shape=[1])
    getattr(tensor.contents, field).extend(values)
    with pytest.raises(InvalidArgument, match=message):
        oip.infer_request(_request(tensor))


def test_typed_and_raw_contents_do_not_mix() -> None:
    typed = Input(name="a", datatype="FP32", shape=[1])
    typed.contents.fp32_contents.append(1.0)
    with pytest.raises(InvalidArgument, match="use one or the other"):
        oip.infer_request(
            _request(typed, Input(name="b", datatype="FP32", shape=[1]), raw=[b"\0\0\0\0"])
        )


@pytest.mark.parametrize("entries", [1, 3])
def test_raw_entries_must_match_the_inputs(entries: int) -> None:
    inputs = [Input(name=n, datatype="UINT8", shape=[1]) for n in ("a", "b")]
    with pytest.raises(InvalidArgument, match=f"{entries} entries for 2 inputs"):
        oip.infer_request(_request(*inputs, raw=[b"\x01"] * entries))


def test_shared_memory_inputs_take_no_raw_entry() -> None:
    in_shm = Input(name="a", datatype="FP32", shape=[4])
    in_shm.parameters["shared_memory_region"].string_param = "input0"
    in_shm.parameters["shared_memory_byte_size"].int64_param = 16
    raw = np.ones(4, dtype=np.float32).tobytes()
    a, b = oip.infer_request(
        _request(in_shm, Input(name="b", datatype="FP32", shape=[4]), raw=[raw])
    ).inputs
    assert a.contents == b""
    assert a.parameters["shared_memory_region"].string_param == "input0"
    assert a.parameters["shared_memory_byte_size"].int64_param == 16
    assert b.contents == raw


def test_input_without_data_is_left_empty_for_the_core_to_reject() -> None:
    (converted,) = oip.infer_request(_request(Input(name="x", datatype="FP32", shape=[0]))).inputs
    assert converted.contents == b""


def test_response_answers_in_raw_output_contents() -> None:
    y = np.arange(4, dtype=np.int64)
    response = smi_pb2.InferResponse(model_name="m", model_version="1", id="r1")
    response.parameters["sequence_end"].bool_param = True
    response.outputs.append(tensors.from_numpy("y", y))
    shm = response.outputs.add(name="z", datatype="FP32", shape=[2])
    shm.parameters["shared_memory_region"].string_param = "out"

    converted = oip.infer_response(response)

    assert (converted.model_name, converted.model_version, converted.id) == ("m", "1", "r1")
    assert converted.parameters["sequence_end"].bool_param is True
    assert [o.name for o in converted.outputs] == ["y", "z"]
    assert (converted.outputs[0].datatype, list(converted.outputs[0].shape)) == ("INT64", [4])
    assert list(converted.raw_output_contents) == [y.tobytes(), b""]
    assert converted.outputs[1].parameters["shared_memory_region"].string_param == "out"
