"""The inference request check the core and the plugin host run before a model does."""

from __future__ import annotations

import re

import pytest

from mlos.errors import InternalError, InvalidArgument
from mlos.validation import check_contents_size, check_infer_request, check_infer_response
from mlos.wire.tensors import encode_bytes
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


# ----- responses -----------------------------------------------------------------------------

BATCHED = smi_pb2.ModelMetadata(
    name="b",
    version="1",
    max_batch_size=8,
    inputs=[smi_pb2.TensorMetadata(name="x", datatype="FP32", shape=[-1, 4])],
    outputs=[
        smi_pb2.TensorMetadata(name="y", datatype="FP32", shape=[-1, 2]),
        smi_pb2.TensorMetadata(name="s", datatype="BYTES", shape=[-1]),
    ],
)


def _answer(*tensors: smi_pb2.Tensor) -> smi_pb2.InferResponse:
    return smi_pb2.InferResponse(model_name="b", outputs=list(tensors))


def _y(rows: int, cols: int = 2, size: int | None = None, datatype: str = "FP32") -> smi_pb2.Tensor:
    nbytes = rows * cols * 4 if size is None else size
    return smi_pb2.Tensor(name="y", datatype=datatype, shape=[rows, cols], contents=bytes(nbytes))


def _s(rows: int, count: int | None = None) -> smi_pb2.Tensor:
    elements = [b"a"] * (rows if count is None else count)
    return smi_pb2.Tensor(name="s", datatype="BYTES", shape=[rows], contents=encode_bytes(elements))


def _check(response: smi_pb2.InferResponse, *outputs: str, batch: int = 2, metadata: smi_pb2.ModelMetadata = BATCHED) -> None:
    request = smi_pb2.InferRequest(model_name="b", outputs=[smi_pb2.RequestedOutput(name=o) for o in outputs])
    check_infer_response(response, request, metadata, batch=batch, plugin="p")


def test_a_right_answer_passes() -> None:
    _check(_answer(_y(2), _s(2)))
    _check(_answer(_s(2), _y(2)))
    _check(_answer(_y(2)), "y")
    shm = _y(2, size=0)
    shm.shared_memory.byte_size = 16
    _check(_answer(shm), "y")


@pytest.mark.parametrize(
    ("response", "outputs", "problem"),
    [
        (_answer(_y(2)), (), "no output 's'"),
        (_answer(_y(2), _s(2)), ("y",), "output 's', which the request did not ask for"),
        (_answer(_y(2), _y(2)), ("y",), "output 'y' twice"),
        (_answer(_y(2, 3), _s(2)), (), "output 'y' of shape [2, 3]; the model declares [-1, 2]"),
        (_answer(_y(1), _s(2)), (), "output 'y' of shape [1, 2], a batch of 1 for a request of 2"),
        (_answer(_y(2, datatype="INT32"), _s(2)), (), "output 'y' of datatype 'INT32'; the model declares FP32"),
        (_answer(_y(2, size=12), _s(2)), (), "output 'y' of 12 bytes; shape [2, 2] of FP32 needs 16"),
        (_answer(_y(2), _s(2, count=3)), (), "output 's' whose BYTES contents do not fit shape [2]"),
        (_answer(_y(2), _s(2), smi_pb2.Tensor(name="z")), (), "an output 'z' the model does not declare (outputs: s, y)"),
    ],
)
def test_a_wrong_answer_names_the_plugin_and_the_problem(
    response: smi_pb2.InferResponse, outputs: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(InternalError) as caught:
        _check(response, *outputs)
    assert caught.value.message.startswith(f"plugin 'p' answered model 'b' version '1' with {problem}")


def test_shared_memory_sizes_are_checked_too() -> None:
    shm = _y(2, size=0)
    shm.shared_memory.byte_size = 12
    with pytest.raises(InternalError, match="12 bytes in shared memory; shape \\[2, 2\\] needs 16"):
        _check(_answer(shm), "y")


def test_without_batching_a_dynamic_dimension_matches_any_size() -> None:
    free = smi_pb2.ModelMetadata()
    free.CopyFrom(BATCHED)
    free.max_batch_size = 0
    _check(_answer(_y(5), _s(3)), batch=2, metadata=free)


def test_duplicate_requested_outputs_are_refused_up_front() -> None:
    with pytest.raises(InvalidArgument, match="output 'y' is asked for twice"):
        check_infer_request(_twice(), METADATA)


def _twice() -> smi_pb2.InferRequest:
    request = _request(2, bytes(32), "y")
    request.outputs.add(name="y")
    return request
