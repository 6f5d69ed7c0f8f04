"""OnnxModel: metadata, inference equal to onnxruntime's own, errors, unload."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import psutil
import pytest

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import TensorSpec
from mlos.sdk.options import DEFAULT_MAX_BATCH_SIZE
from tests.models import (
    DATATYPES,
    arithmetic_model,
    bf16_model,
    fixed_shape_model,
    identity_model,
    mlp_model,
    multi_output_model,
    sample,
    save,
    sequence_input_model,
    sequence_output_model,
    string_model,
)
from tests.plugins.onnx.conftest import Loader


def reference(path: Path, feed: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
    """What onnxruntime itself returns for `feed`, with its default session settings."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip(outputs, session.run(outputs, feed), strict=True))


def readonly(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The array as the host hands it over: a read-only view of a received buffer."""
    if array.dtype == object:
        return array
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


# -- metadata ---------------------------------------------------------------------------------


def test_mlp_metadata(load: Loader) -> None:
    model = load(mlp_model())
    assert model.platform == "onnxruntime_onnx"
    assert list(model.inputs) == [TensorSpec("input", "FP32", (-1, 64))]
    assert list(model.outputs) == [TensorSpec("output", "FP32", (-1, 10))]
    assert model.max_batch_size == DEFAULT_MAX_BATCH_SIZE
    properties = model.properties()
    assert properties["producer_name"] == "mlos.demo"
    assert properties["opset"] == "17"
    assert properties["ir_version"] == "8"
    assert properties["graph_name"] == "mlos_demo_mlp"
    assert properties["execution_providers"] == "CPUExecutionProvider"
    assert properties["onnxruntime_version"] == ort.__version__


@pytest.mark.parametrize("datatype", DATATYPES)
def test_every_datatype_is_described(load: Loader, datatype: str) -> None:
    model = load(identity_model(datatype))
    assert list(model.inputs) == [TensorSpec("x", datatype, (-1, 4))]
    assert list(model.outputs) == [TensorSpec("y", datatype, (-1, 4))]


def test_fixed_shapes_do_not_batch(load: Loader) -> None:
    model = load(fixed_shape_model())
    assert model.inputs[0].shape == (2, 3)
    assert model.max_batch_size == 0


def test_unknown_dimensions_are_dynamic(load: Loader) -> None:
    model = load(identity_model("FP32", [None, "width", 3]))
    assert model.inputs[0].shape == (-1, -1, 3)


def test_config_max_batch_size(load: Loader) -> None:
    assert load(mlp_model(), max_batch_size="32").max_batch_size == 32
    assert load(mlp_model(), name="n", max_batch_size="0").max_batch_size == 0
    with pytest.raises(InvalidArgument, match="cannot batch"):
        load(fixed_shape_model(), name="f", max_batch_size="8")


def test_model_metadata_props_become_properties(load: Loader, tmp_path: Path) -> None:
    proto = mlp_model()
    proto.metadata_props.add(key="license", value="Apache-2.0")
    assert load(proto).properties()["metadata.license"] == "Apache-2.0"


def test_unsupported_outputs_are_left_out(load: Loader) -> None:
    model = load(sequence_output_model())
    assert [spec.name for spec in model.outputs] == ["y"]
    assert "items:seq(tensor(float))" in model.properties()["unsupported_outputs"]
    x = np.arange(3, dtype=np.float32)
    assert list(model.infer({"x": x}, [])) == ["y"]
    with pytest.raises(InvalidArgument, match="no output 'items'"):
        model.infer({"x": x}, ["items"])


def test_unsupported_input_is_refused(load: Loader) -> None:
    with pytest.raises(InvalidArgument, match="input 'items' is seq"):
        load(sequence_input_model())


# -- inference --------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_mlp_dynamic_batch_matches_onnxruntime(load: Loader, tmp_path: Path, batch: int) -> None:
    path = save(mlp_model(), tmp_path / "mlp.onnx")
    model = load(path)
    x = readonly(sample("FP32", (batch, 64), seed=batch))
    result = model.infer({"input": x}, ["output"])
    expected = reference(path, {"input": x}, ["output"])
    assert result["output"].shape == (batch, 10)
    assert result["output"].dtype == np.float32
    np.testing.assert_allclose(result["output"], expected["output"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d not in ("BF16", "BYTES")])
@pytest.mark.parametrize("batch", [1, 5])
def test_datatypes_match_onnxruntime(
    load: Loader, tmp_path: Path, datatype: str, batch: int
) -> None:
    path = save(arithmetic_model(datatype), tmp_path / "arith.onnx")
    model = load(path)
    a = readonly(sample(datatype, (batch, 4), seed=1))
    b = readonly(sample(datatype, (batch, 4), seed=2))
    names = [spec.name for spec in model.outputs]
    assert set(names) == {"same", "combined", "as_float"}
    result = model.infer({"a": a, "b": b}, names)
    expected = reference(path, {"a": a, "b": b}, names)
    for name in names:
        assert result[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(result[name], expected[name], err_msg=name)
    np.testing.assert_array_equal(result["same"], a)


def test_strings_decode_utf8_and_match_onnxruntime(load: Loader, tmp_path: Path) -> None:
    path = save(string_model(), tmp_path / "strings.onnx")
    model = load(path)
    assert [s.datatype for s in (*model.inputs, *model.outputs)] == ["BYTES"] * 3
    text = np.empty(3, dtype=object)
    text[:] = ["straße", "ok", ""]
    as_bytes = np.empty(3, dtype=object)
    as_bytes[:] = [t.encode() for t in text]
    result = model.infer({"text": as_bytes}, ["upper", "same"])
    expected = reference(path, {"text": text}, ["upper", "same"])
    assert list(result["same"]) == ["straße", "ok", ""]
    np.testing.assert_array_equal(result["upper"], expected["upper"])
    np.testing.assert_array_equal(result["same"], expected["same"])


def test_string_identity_keeps_shape(load: Loader) -> None:
    model = load(identity_model("BYTES", ["batch", 2]))
    x = sample("BYTES", (3, 2))
    y = model.infer({"x": x}, ["y"])["y"]
    assert y.shape == (3, 2)
    assert [e.encode() for e in y.reshape(-1)] == list(x.reshape(-1))


def test_strings_must_be_utf8(load: Loader) -> None:
    model = load(string_model())
    bad = np.empty(1, dtype=object)
    bad[:] = [b"\xff\xfe"]
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        model.infer({"text": bad}, ["same"])


def test_bf16_in_and_out(load: Loader) -> None:
    model = load(bf16_model())
    assert {s.name: s.datatype for s in model.outputs} == {
        "to_bf16": "BF16",
        "from_bf16": "FP32",
        "same_bf16": "BF16",
    }
    b = readonly(sample("BF16", (3, 4)))
    floats = (b.astype("<u4") << 16).view("<f4")
    x = floats.copy()
    result = model.infer({"x": x, "b": b}, ["to_bf16", "from_bf16", "same_bf16"])
    np.testing.assert_array_equal(result["from_bf16"], floats)
    np.testing.assert_array_equal(result["same_bf16"], b)
    np.testing.assert_array_equal(result["to_bf16"], b)
    assert result["to_bf16"].dtype == np.dtype("<u2")
    # Only FP32 outputs asked for: the same answer.
    only = model.infer({"x": x, "b": b}, ["from_bf16"])
    assert list(only) == ["from_bf16"]


def test_bf16_input_only(load: Loader) -> None:
    model = load(arithmetic_model("BF16"))
    a = sample("BF16", (2, 4))
    result = model.infer({"a": a, "b": a}, ["as_float"])
    np.testing.assert_array_equal(result["as_float"], (a.astype("<u4") << 16).view("<f4"))


def test_output_selection(load: Loader, tmp_path: Path) -> None:
    path = save(multi_output_model(), tmp_path / "multi.onnx")
    model = load(path)
    assert [s.name for s in model.outputs] == ["doubled", "negated", "total", "argmax"]
    assert model.outputs[2] == TensorSpec("total", "FP32", (-1,))
    assert model.outputs[3] == TensorSpec("argmax", "INT64", (-1,))
    x = sample("FP32", (6, 4))
    picked = model.infer({"x": x}, ["argmax", "negated"])
    assert list(picked) == ["argmax", "negated"]
    expected = reference(path, {"x": x}, ["argmax", "negated"])
    np.testing.assert_array_equal(picked["argmax"], expected["argmax"])
    np.testing.assert_array_equal(picked["negated"], -x)
    everything = model.infer({"x": x}, [])
    assert list(everything) == ["doubled", "negated", "total", "argmax"]
    np.testing.assert_allclose(everything["total"], x.sum(axis=1), rtol=1e-6)


def test_unknown_output_is_invalid(load: Loader) -> None:
    model = load(multi_output_model())
    with pytest.raises(InvalidArgument, match="no output 'nope'"):
        model.infer({"x": sample("FP32", (1, 4))}, ["doubled", "nope"])


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"input": np.zeros((2, 63), np.float32)}, "invalid dimensions"),
        ({"input": np.zeros((2, 64), np.float64)}, "data type"),
        ({"input": np.zeros(64, np.float32)}, "rank"),
        ({"other": np.zeros((1, 64), np.float32)}, "input"),
        ({}, "missing"),
    ],
)
def test_bad_inputs_are_invalid_argument(load: Loader, feed: dict[str, Any], message: str) -> None:
    model = load(mlp_model())
    with pytest.raises(InvalidArgument, match=message) as caught:
        model.infer(feed, ["output"])
    assert "[ONNXRuntimeError]" not in caught.value.message
    assert "'m'" in caught.value.message


# -- unload -----------------------------------------------------------------------------------


def test_unload_drops_the_session(load: Loader) -> None:
    model = load(mlp_model())
    session = weakref.ref(model.session)
    model.infer({"input": sample("FP32", (2, 64))}, ["output"])
    model.unload()
    assert model.session is None
    assert session() is None  # freed at once, no garbage collection needed
    with pytest.raises(NotFound):
        model.infer({"input": sample("FP32", (2, 64))}, ["output"])
    model.unload()  # a second unload is harmless


def live_sessions() -> int:
    gc.collect()
    return sum(isinstance(o, ort.InferenceSession) for o in gc.get_objects())


def test_no_session_survives_load_unload_cycles(load: Loader, tmp_path: Path) -> None:
    path = save(mlp_model(), tmp_path / "mlp.onnx")
    before = live_sessions()
    for _ in range(5):
        model = load(path)
        model.infer({"input": sample("FP32", (1, 64))}, [])
        model.unload()
    assert live_sessions() == before


def test_load_unload_cycles_return_memory_threads_and_files(load: Loader, tmp_path: Path) -> None:
    path = save(mlp_model(hidden=(2048, 2048)), tmp_path / "big.onnx")
    size = path.stat().st_size  # about 17 MB of weights
    process = psutil.Process()
    x = sample("FP32", (4, 64))

    def cycle() -> None:
        model = load(path)
        model.infer({"input": x}, [])
        model.unload()

    for _ in range(3):
        cycle()
    rss, threads, fds = process.memory_info().rss, process.num_threads(), process.num_fds()
    for _ in range(15):
        cycle()
    assert process.num_threads() == threads
    assert process.num_fds() == fds
    # A leaked session per cycle would add 15 model sizes; allocator noise stays far below.
    assert process.memory_info().rss - rss < 3 * size
