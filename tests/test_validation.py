"""The inference request check the core and the plugin host run before a model does."""

from __future__ import annotations

import re

import pytest

from mlos.errors import InvalidArgument
from mlos.validation import check_contents_size, check_infer_request
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


def test_a_well_formed_request_passes() -> None:
    check_infer_request(_request(2, bytes(32)), METADATA)
    check_infer_request(_request(2, bytes(32), "y"), METADATA)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_request(2, bytes(31)), "input 'x' has 31 bytes of data, shape [2, 4] of FP32 needs 32"),
        (_request(2, bytes(32), "z"), "model 'm' has no output 'z' (outputs: y)"),
        (smi_pb2.InferRequest(model_name="m"), "model 'm' needs input(s) 'x'"),
    ],
)
def test_problems_are_named(request_: smi_pb2.InferRequest, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        check_infer_request(request_, METADATA)


def test_large_contents_can_be_left_to_the_reader() -> None:
    wrong = _request(1024, bytes(100))  # 16 KiB by its shape, 100 bytes given
    with pytest.raises(InvalidArgument, match="has 100 bytes of data"):
        check_infer_request(wrong, METADATA)
    check_infer_request(wrong, METADATA, large_from=16 * 1024)  # the caller measures these
    with pytest.raises(InvalidArgument, match="has 100 bytes of data, shape \\[1024, 4\\]"):
        check_contents_size(wrong.inputs[0], wrong.inputs[0].contents, 16 * 1024)
    small = _request(2, bytes(31))  # below large_from: still measured here
    with pytest.raises(InvalidArgument, match="has 31 bytes"):
        check_infer_request(small, METADATA, large_from=16 * 1024)
    # The other checks still run for large inputs.
    wrong_shape = _request(1024, b"")
    wrong_shape.inputs[0].shape[:] = [1024, 5]
    with pytest.raises(InvalidArgument, match="has shape \\[1024, 5\\]"):
        check_infer_request(wrong_shape, METADATA, large_from=16 * 1024)
