"""Inference bodies on the client side, in-process: what is sent and how answers are read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlos.errors import InternalError, InvalidArgument
from mlos.wire import tensors
from mlos.wire.oip_http import HEADER_LENGTH, decode_request, decode_response, encode_request
from mlos.wire.tensors import to_array


def split(body: bytes, headers: dict[str, str]) -> tuple[dict[str, object], bytes]:
    length = int(headers[HEADER_LENGTH])
    return json.loads(body[:length]), body[length:]


def test_binary_request_layout() -> None:
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    body, headers = encode_request({"x": x, "s": np.array([b"ab", b"c"])}, ["y"])
    assert headers["Content-Type"] == "application/octet-stream"
    document, binary = split(body, headers)
    assert document == {
        "inputs": [
            {"name": "x", "datatype": "INT32", "shape": [2, 3],
             "parameters": {"binary_data_size": 24}},
            {"name": "s", "datatype": "BYTES", "shape": [2],
             "parameters": {"binary_data_size": 11}},
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        "parameters": {"binary_data_output": True},
    }
    assert binary == x.tobytes() + tensors.encode_bytes([b"ab", b"c"])


def test_json_request() -> None:
    body, headers = encode_request({"x": np.array([[1.5, 2.0]], np.float32)}, binary=False)
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body) == {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.0]}]
    }


def test_bf16_floats_are_rounded_and_bit_patterns_kept() -> None:
    body, headers = encode_request({"x": np.array([1.0, -2.0], np.float32)}, datatypes={"x": "BF16"})
    assert split(body, headers)[1] == np.array([0x3F80, 0xC000], "<u2").tobytes()
    bits = np.array([0x3F80], np.uint16)
    body, headers = encode_request({"x": bits}, datatypes={"x": "BF16"})
    assert split(body, headers)[1] == bits.tobytes()


def test_decode_mixed_response() -> None:
    head = json.dumps({
        "model_name": "m",
        "outputs": [
            {"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}},
            {"name": "b", "datatype": "INT64", "shape": [1, 2], "data": [7, 8]},
            {"name": "c", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}},
        ],
    }).encode()
    body = head + np.array([1, 2], np.float32).tobytes() + tensors.encode_bytes([b"hi"])
    outputs = decode_response(body, str(len(head)))
    np.testing.assert_array_equal(outputs["a"], [1.0, 2.0])
    assert outputs["b"].dtype == np.int64 and outputs["b"].tolist() == [[7, 8]]
    assert outputs["c"].tolist() == [b"hi"]
    assert not outputs["a"].flags.writeable  # shares the response's memory


_TRUNCATED = (
    b'{"outputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}'
)


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (b"not json", None, "malformed inference response"),
        (b'{"outputs": [{"name": "a"}]}', None, "malformed inference response"),
        (b"{}", "99", "outside the body"),
        (_TRUNCATED + b"\0\0\0\0", str(len(_TRUNCATED)), "runs past the end"),
        (b'{"outputs":[{"name":"a","datatype":"FP32","shape":[3],"data":[1]}]}', None,
         "data holds 1 elements"),
    ],
)
def test_malformed_responses_are_internal_errors(
    body: bytes, header: str | None, message: str
) -> None:
    with pytest.raises(InternalError, match=message):
        decode_response(body, header)


def test_to_array_checks_sizes() -> None:
    with pytest.raises(InvalidArgument, match="do not hold shape"):
        to_array("FP32", [3], b"\0" * 8)
    assert to_array("BOOL", [2], b"\x01\x00").tolist() == [True, False]


def test_unsupported_dtype_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        encode_request({"x": np.array([1 + 2j])})


def test_shape_dimensions_written_as_floats_are_whole_numbers() -> None:
    document = {"inputs": [{"name": "x", "shape": [2.0], "datatype": "FP32", "data": [1, 2]}]}
    request, _, _ = decode_request(document, memoryview(b""), "m")
    assert list(request.inputs[0].shape) == [2]


@pytest.mark.parametrize(
    "shape", [[2**63], [6063974458588786589696], [1.5], [-1], [True]], ids=str
)
def test_shape_dimensions_out_of_range_are_invalid_argument(shape: list[object]) -> None:
    document = {"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "data": []}]}
    with pytest.raises(InvalidArgument, match=r"input 'x': shape: .* is not a whole number"):
        decode_request(document, memoryview(b""), "m")


def test_binary_data_size_written_as_a_float_is_a_whole_number() -> None:
    document = {
        "inputs": [
            {"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4.0}}
        ]
    }
    request, _, _ = decode_request(document, memoryview(bytes(4)), "m")
    assert request.inputs[0].contents == bytes(4)
