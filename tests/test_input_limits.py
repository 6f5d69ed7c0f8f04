"""The server's input limits: on inference requests (with the model check) and on the strings of
management requests."""

from __future__ import annotations

import re

import pytest
from google.protobuf.message import Message

from mlos.errors import InvalidArgument
from mlos.input_limits import InputLimits, check_strings
from mlos.validation import check_infer_request
from mlos_generated import smi_pb2

METADATA = smi_pb2.ModelMetadata(
    name="m",
    inputs=[smi_pb2.TensorMetadata(name="x", datatype="FP32", shape=[-1, 4])],
    outputs=[smi_pb2.TensorMetadata(name="y", datatype="FP32", shape=[-1, 4])],
)


def _request(rows: int, contents: bytes, output: str = "") -> smi_pb2.InferRequest:
    request = smi_pb2.InferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 4], contents=contents)
    if output:
        request.outputs.add(name=output)
    return request


LIMITS = InputLimits(
    max_inputs=2, max_tensor_elements=64, max_tensor_bytes=128, max_batch_size=8,
    max_string_bytes=32,
)
BATCHING = smi_pb2.ModelMetadata(
    name="b",
    max_batch_size=1000,
    inputs=[smi_pb2.TensorMetadata(name="x", datatype="FP32", shape=[-1, 2])],
    outputs=[smi_pb2.TensorMetadata(name="y", datatype="FP32", shape=[-1, 2])],
)


def _batch(rows: int) -> smi_pb2.InferRequest:
    request = smi_pb2.InferRequest(model_name="b")
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 2], contents=bytes(rows * 8))
    return request


def test_requests_within_the_limits_pass() -> None:
    check_infer_request(_request(2, bytes(32)), METADATA, limits=LIMITS)
    check_infer_request(_batch(8), BATCHING, limits=LIMITS)
    with_id = _request(2, bytes(32))
    with_id.id = "r" * 32
    with_id.parameters["note"].string_param = "n" * 32
    check_infer_request(with_id, METADATA, limits=LIMITS)


def _too_many_outputs() -> smi_pb2.InferRequest:
    request = _request(2, bytes(32))
    for name in ("y", "y", "y"):
        request.outputs.add(name=name)
    return request


def _with(**fields: str) -> smi_pb2.InferRequest:
    request = _request(2, bytes(32))
    for key, value in fields.items():
        if key == "id":
            request.id = value
        else:
            request.parameters[key].string_param = value
    return request


@pytest.mark.parametrize(
    ("request_", "metadata", "message"),
    [
        (_request(17, bytes(17 * 16)), METADATA, "shape [17, 4] holds 68 elements; the limit is 64 (max_tensor_elements)"),
        (_batch(9), BATCHING, "batch of 9 exceeds the server's limit of 8 (max_batch_size)"),
        (_too_many_outputs(), METADATA, "the request has 3 outputs; the limit is 2 (max_inputs)"),
        (_with(id="r" * 33), METADATA, "id: a string of more than 32 bytes (max_string_bytes)"),
        (_with(id="a\x00b"), METADATA, "id: a string may not hold a NUL character"),
        (_with(note="n" * 33), METADATA, "parameters: 'note': a string of more than 32 bytes"),
        (_with(**{"a\nb": "v"}), METADATA, "parameters: a name: 'a\\nb' holds the control character"),
    ],
)
def test_limits_are_named(
    request_: smi_pb2.InferRequest, metadata: smi_pb2.ModelMetadata, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        check_infer_request(request_, metadata, limits=LIMITS)
    if metadata is BATCHING and "batch" in message:
        check_infer_request(request_, metadata)  # the model allows it; only the server limit binds


def test_tensor_bytes_are_limited_by_the_shape_before_the_data_is_read() -> None:
    limits = InputLimits(max_tensor_bytes=64)
    large = _request(8, b"")  # 128 bytes by its shape, none given: never measured
    with pytest.raises(InvalidArgument, match=r"128 bytes of data; the limit is 64 \(max_tensor_bytes\)"):
        check_infer_request(large, METADATA, large_from=16, limits=limits)


def test_too_many_inputs_are_refused_before_they_are_looked_at() -> None:
    request = _request(2, bytes(32))
    for index in range(3):
        request.inputs.add(name=f"extra{index}", datatype="FP32", shape=[1])
    with pytest.raises(InvalidArgument, match=r"4 inputs; the limit is 2 \(max_inputs\)"):
        check_infer_request(request, METADATA, limits=LIMITS)


def test_limits_come_from_the_settings_of_the_same_names() -> None:
    class Settings:
        max_inputs = 3
        max_string_bytes = 10

    limits = InputLimits.of(Settings())
    assert (limits.max_inputs, limits.max_string_bytes) == (3, 10)
    assert limits.max_tensor_bytes == InputLimits().max_tensor_bytes


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (smi_pb2.RegisterModelRequest(name="m", path="/a\x00b"), "path: '/a\\x00b' holds the control character '\\x00'"),
        (smi_pb2.RegisterModelRequest(name="m", path="/a\tb"), "path: '/a\\tb' holds the control character"),
        (smi_pb2.RegisterModelRequest(name="m", path="/" + "p" * 40), "path: a string of more than 32 bytes"),
        (smi_pb2.RegisterModelRequest(name="m", path="/m", config={"k": "a\x00"}), "config.k: a string may not hold a NUL"),
        (smi_pb2.RegisterModelRequest(name="m", path="/m", config={"k\n": "v"}), "config: a key: 'k\\n' holds"),
        (smi_pb2.RegisterPluginRequest(name="p", source=smi_pb2.PluginSource(executable="/x\x00")), "source.executable: '/x\\x00' holds"),
        (smi_pb2.CreateTokenRequest(name="ci", models=["ok", "a\x01"]), "models: 'a\\x01' holds"),
    ],
)
def test_strings_of_management_requests_are_checked(message: Message, error: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(error)):
        check_strings(message, LIMITS)


def test_ordinary_strings_pass_the_text_check() -> None:
    check_strings(
        smi_pb2.RegisterModelRequest(
            name="resnet", path="/srv/models/ré snet.onnx", config={"note": "two\nlines"}
        ),
        LIMITS,
    )
