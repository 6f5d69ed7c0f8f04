"""The static contract: Describe answers, metadata and inference responses, judged in-process."""

from __future__ import annotations

import numpy as np

from mlos.wire.tensors import from_numpy
from mlos_conformance.contract import (
    capability_problems,
    identity_problems,
    metadata_problems,
    output_problems,
    version_problems,
)
from mlos_conformance.samples import batch_obstacle, build_inputs
from mlos_generated import smi_pb2


def info(major: int = 1, minor: int = 0, **capabilities: object) -> smi_pb2.PluginInfo:
    caps = {"formats": ["onnx"], "datatypes": ["FP32"], "max_concurrency": 2, **capabilities}
    return smi_pb2.PluginInfo(
        name="p",
        version="1",
        smi_versions=[smi_pb2.SmiVersion(major=major, minor=minor)],
        capabilities=smi_pb2.PluginCapabilities(**caps),  # type: ignore[arg-type]
    )


def metadata(first: int = -1, max_batch_size: int = 0) -> smi_pb2.ModelMetadata:
    return smi_pb2.ModelMetadata(
        name="m",
        inputs=[smi_pb2.TensorMetadata(name="x", datatype="FP32", shape=[first, 4])],
        outputs=[smi_pb2.TensorMetadata(name="y", datatype="INT64", shape=[first, 2])],
        max_batch_size=max_batch_size,
    )


def test_identity_needs_name_and_version() -> None:
    assert identity_problems(info()) == []
    assert len(identity_problems(smi_pb2.PluginInfo())) == 2


def test_versions_need_the_same_major_and_at_least_the_minor() -> None:
    assert version_problems(info(1, 0)) == []
    assert version_problems(info(1, 7)) == []
    assert "incompatible" in version_problems(info(2, 0))[0]


def test_capabilities() -> None:
    assert capability_problems(info().capabilities) == []
    bad = info(formats=[], datatypes=["FLOAT"], max_concurrency=0, file_extensions=["onnx"])
    problems = " | ".join(capability_problems(bad.capabilities))
    for words in ("formats", "'FLOAT'", "max_concurrency is 0", "start with '.'"):
        assert words in problems


def test_metadata() -> None:
    assert metadata_problems(metadata(), "m") == []
    broken = metadata(first=4, max_batch_size=8)
    broken.inputs[0].datatype = "float32"
    broken.outputs[0].shape[1] = -2
    problems = " | ".join(metadata_problems(broken, "other"))
    for words in ("loaded as 'other'", "'float32'", "dimensions must be >= -1", "max_batch_size"):
        assert words in problems


def test_generated_inputs_follow_the_metadata() -> None:
    (tensor,) = build_inputs(metadata(), {}, batch=2)
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("x", "FP32", [2, 4])
    assert len(tensor.contents) == 2 * 4 * 4


def test_given_inputs_are_batched_by_repeating_the_first_item() -> None:
    (tensor,) = build_inputs(metadata(), {"x": np.arange(12, dtype=np.float32).reshape(3, 4)}, 2)
    assert list(tensor.shape) == [2, 4]
    assert np.frombuffer(tensor.contents, np.float32).tolist() == [0, 1, 2, 3] * 2


def test_batch_obstacles() -> None:
    assert batch_obstacle(metadata(), 2) is None
    assert "no dynamic first dimension" in (batch_obstacle(metadata(first=1), 2) or "")
    assert "max_batch_size is 1" in (batch_obstacle(metadata(max_batch_size=1), 2) or "")


def answer(*tensors: smi_pb2.Tensor) -> smi_pb2.InferResponse:
    return smi_pb2.InferResponse(model_name="m", id="r", outputs=tensors)


def test_outputs_that_match_the_metadata() -> None:
    request = smi_pb2.InferRequest(model_name="m", id="r")
    good = from_numpy("y", np.zeros((2, 2), np.int64))
    assert output_problems(request, answer(good), metadata(), batch=2) == []


def test_outputs_that_do_not() -> None:
    request = smi_pb2.InferRequest(model_name="m", id="r")
    cases = {
        "outputs missing": answer(),
        "not asked for": answer(from_numpy("y", np.zeros((1, 2), np.int64)), from_numpy("z", np.zeros(1))),
        "is FP32, declared INT64": answer(from_numpy("y", np.zeros((1, 2), np.float32))),
        "declared [-1, 2]": answer(from_numpy("y", np.zeros((2, 3), np.int64))),
        "has batch 1, the request had 2": answer(from_numpy("y", np.zeros((1, 2), np.int64))),
        "needs 32": answer(smi_pb2.Tensor(name="y", datatype="INT64", shape=[2, 2], contents=b"12")),
    }
    for words, response in cases.items():
        problems = " | ".join(output_problems(request, response, metadata(), batch=2))
        assert words in problems, (words, problems)
