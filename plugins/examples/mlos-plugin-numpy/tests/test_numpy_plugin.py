"""The numpy plugin: model files, inference, errors, and the plugin in its own host process."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlos_numpy_plugin import NumpyPlugin

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import ModelSpec, TensorSpec
from mlos.wire.channel import Channel
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_generated import smi_ipc, smi_pb2

WEIGHTS = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, 2.0]], dtype=np.float32)


def write_classifier(directory: Path) -> Path:
    """A linear classifier: scores = softmax(x @ w + b), label = argmax(scores)."""
    np.save(directory / "w.npy", WEIGHTS)
    model = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
        "constants": {"w": {"file": "w.npy"}, "b": [0.0, 0.1, -0.1]},
        "outputs": [
            {"name": "scores", "datatype": "FP32", "shape": [-1, 3],
             "expr": "softmax(x @ w + b, axis=-1)"},
            {"name": "label", "datatype": "INT64", "shape": [-1],
             "expr": "argmax(scores, axis=-1)"},
        ],
    }
    path = directory / "classifier.npexpr"
    path.write_text(json.dumps(model))
    return path


def reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = x @ WEIGHTS + np.array([0.0, 0.1, -0.1], dtype=np.float32)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    scores = exp / exp.sum(axis=-1, keepdims=True)
    return scores, scores.argmax(axis=-1)


def test_loads_and_infers(tmp_path: Path) -> None:
    model = NumpyPlugin().load(ModelSpec("clf", "1", write_classifier(tmp_path)))
    assert model.inputs == (TensorSpec("x", "FP32", (-1, 2)),)
    assert [s.name for s in model.outputs] == ["scores", "label"]
    assert model.max_batch_size > 0
    x = np.array([[1.0, 2.0], [-3.0, 0.5]], dtype=np.float32)
    result = model.infer({"x": x}, [])
    scores, label = reference(x)
    np.testing.assert_allclose(result["scores"], scores, rtol=1e-6)
    np.testing.assert_array_equal(result["label"], label)
    assert result["label"].dtype == np.int64
    assert list(model.infer({"x": x}, ["label"])) == ["label"]
    model.unload()
    with pytest.raises(NotFound):
        model.infer({"x": x}, [])


def test_directory_with_one_model(tmp_path: Path) -> None:
    write_classifier(tmp_path)
    assert NumpyPlugin().load(ModelSpec("clf", "1", tmp_path)).outputs[1].name == "label"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"outputs": []}, "needs inputs and outputs"),
        ({"constants": {"w": {"file": "../w.npy"}}}, "outside the model's directory"),
        ({"constants": {"w": {"file": "missing.npy"}}}, "cannot read"),
        ({"constants": {"w": "text"}}, "must be numbers"),
        ({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [-1]}]}, "datatype 'BYTES'"),
    ],
)
def test_bad_model_files(edit: dict[str, Any], message: str, tmp_path: Path) -> None:
    path = write_classifier(tmp_path)
    document = json.loads(path.read_text())
    document.update(edit)
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidArgument, match=message):
        NumpyPlugin().load(ModelSpec("clf", "1", path))


def test_pickled_constants_are_refused(tmp_path: Path) -> None:
    path = write_classifier(tmp_path)
    np.save(tmp_path / "w.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidArgument, match="cannot read"):
        NumpyPlugin().load(ModelSpec("clf", "1", path))


def test_output_shape_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "m.npexpr"
    path.write_text(json.dumps({
        "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
        "outputs": [{"name": "total", "datatype": "FP64", "shape": [-1], "expr": "sum(x)"}],
    }))
    model = NumpyPlugin().load(ModelSpec("m", "1", path))
    with pytest.raises(InvalidArgument, match="came out with shape"):
        model.infer({"x": np.ones(3)}, [])


def test_runs_in_its_own_process_through_its_entry_point(tmp_path: Path) -> None:
    """The installed entry point `numpy`, hosted by `mlos.sdk.host`, driven over SMI only."""
    asyncio.run(_drive_host(tmp_path))


async def _drive_host(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlos.sdk.host", "--entry-point", "numpy", "--fd",
         str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    channel = await Channel.from_socket(ours, name="numpy plugin")
    try:
        client = smi_ipc.PluginClient(channel)
        info = await client.describe(smi_pb2.DescribeRequest(), timeout=30)
        assert info.name == "numpy"
        assert smi_ipc.SMI_VERSION in info.smi_versions
        assert list(info.capabilities.file_extensions) == [".npexpr"]
        path = write_classifier(tmp_path)
        await client.load_model(
            smi_pb2.LoadModelRequest(name="clf", version="1", path=str(path)), timeout=30
        )
        x = np.array([[0.5, 0.5]], dtype=np.float32)
        response = await client.infer(
            smi_pb2.InferRequest(model_name="clf", model_version="1", inputs=[from_numpy("x", x)]),
            timeout=30,
        )
        outputs = {tensor.name: to_numpy(tensor) for tensor in response.outputs}
        np.testing.assert_array_equal(outputs["label"], reference(x)[1])
        with pytest.raises(InvalidArgument, match="unknown function"):
            bad = tmp_path / "bad.npexpr"
            document = json.loads(path.read_text())
            document["outputs"][0]["expr"] = "eval(x)"
            bad.write_text(json.dumps(document))
            await client.load_model(
                smi_pb2.LoadModelRequest(name="bad", version="1", path=str(bad)), timeout=30
            )
    finally:
        channel.close()
        for _ in range(500):
            if process.poll() is not None:
                break
            await asyncio.sleep(0.02)
        else:
            process.kill()
            process.wait()
            pytest.fail("the plugin host did not exit when its connection closed")
