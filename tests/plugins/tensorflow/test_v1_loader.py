"""SavedModels served through TensorFlow's v1 loader (a `tf.compat.v1.Session`).

Two exports built here: a pure TF1 graph written by the TF1 builder (which the TF2 loader
also reads) and a TF2 export whose object graph holds optimizer slots (which the TF2 loader
cannot restore, so ``loader=auto`` falls back). Outputs are checked against numpy.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import TensorSpec
from mlos_plugins.tensorflow.session import SharedSession
from tests.plugins.tensorflow import nets
from tests.plugins.tensorflow.conftest import Loader

X = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)
INPUTS = (TensorSpec("x", "FP32", (-1, 4)),)
OUTPUTS = {TensorSpec("logits", "FP32", (-1, 3)), TensorSpec("label", "INT64", (-1,))}


@pytest.fixture(scope="module")
def tf1_dense(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nets.Dense]:
    return nets.save_tf1_dense(tmp_path_factory.mktemp("tf1") / "dense")


@pytest.fixture(scope="module")
def slot_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nets.Dense]:
    return nets.save_slot_export(tmp_path_factory.mktemp("slots") / "trained")


def _assert_matches(model: Any, weights: nets.Dense) -> None:
    for batch in (X, X[:1]):
        result = model.infer({"x": batch}, [])
        expected = weights(batch)
        assert set(result) == {"logits", "label"}
        assert result["logits"].dtype == np.float32 and result["label"].dtype == np.int64
        np.testing.assert_allclose(result["logits"], expected["logits"], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(result["label"], expected["label"])
    only = model.infer({"x": X}, ["label"])
    assert list(only) == ["label"]


@pytest.mark.parametrize(("loader", "used"), [("v1", "v1"), ("auto", "v2")])
def test_tf1_builder_export(
    loader: str, used: str, tf1_dense: tuple[Path, nets.Dense], load: Loader
) -> None:
    path, weights = tf1_dense
    model = load(path, loader=loader)
    properties = model.properties()
    assert properties["loader"] == used  # auto: the TF2 loader reads this TF1 export itself
    assert "loader_fallback_reason" not in properties
    assert (properties["signature"], properties["tags"]) == ("serving_default", "serve")
    assert model.platform == "tensorflow_savedmodel"
    assert tuple(model.inputs) == INPUTS
    assert set(model.outputs) == OUTPUTS
    assert model.max_batch_size == 65536
    _assert_matches(model, weights)


def test_both_loaders_batch_alike(tf1_dense: tuple[Path, nets.Dense], load: Loader) -> None:
    path = tf1_dense[0]
    for max_batch_size in ("0", "8"):
        sizes = {
            load(path, name=f"m-{loader}", loader=loader, max_batch_size=max_batch_size)
            .max_batch_size for loader in ("v1", "v2")
        }
        assert sizes == {int(max_batch_size)}


@pytest.mark.parametrize("loader", ["v1", "v2"])
def test_datatypes_alike_in_both_loaders(
    loader: str, tmp_path_factory: pytest.TempPathFactory, load: Loader
) -> None:
    path = nets.save_tf1(tmp_path_factory.mktemp("types") / "types", nets.datatypes)
    model = load(path, loader=loader)
    assert model.properties()["loader"] == loader
    assert set(model.inputs) == {
        TensorSpec("h", "BF16", (-1,)), TensorSpec("b", "BOOL", (-1,)),
        TensorSpec("u", "UINT8", (-1, -1)),
    }
    assert set(model.outputs) == {
        TensorSpec("double", "BF16", (-1,)), TensorSpec("half", "FP16", (-1,)),
        TensorSpec("not", "BOOL", (-1,)), TensorSpec("sum", "INT32", (-1,)),
    }
    bf16 = tf.bfloat16.as_numpy_dtype
    result = model.infer({
        "h": np.array([1.5, -2.0], dtype=bf16).view("<u2"),  # BF16 travels as raw bits
        "b": np.array([True, False]),
        "u": np.array([[1, 2, 3], [4, 5, 250]], dtype=np.uint8),
    }, [])
    assert result["double"].dtype == np.uint16
    np.testing.assert_array_equal(result["double"].view(bf16).astype(np.float32), [3.0, -4.0])
    assert result["half"].dtype == np.float16
    np.testing.assert_array_equal(result["half"], [1.5, -2.0])
    np.testing.assert_array_equal(result["not"], [False, True])
    assert result["sum"].dtype == np.int32
    np.testing.assert_array_equal(result["sum"], [6, 259])


def test_slot_export_falls_back_to_the_v1_loader(
    slot_export: tuple[Path, nets.Dense], load: Loader
) -> None:
    path, weights = slot_export
    model = load(path)
    properties = model.properties()
    assert properties["loader"] == "v1"
    assert "'_UserObject' object has no attribute 'add_slot'" in (
        properties["loader_fallback_reason"]
    )
    assert tuple(model.inputs) == INPUTS
    assert set(model.outputs) == OUTPUTS
    assert model.max_batch_size == 65536
    _assert_matches(model, weights)


def test_slot_export_with_loader_v2_says_what_would_serve_it(
    slot_export: tuple[Path, nets.Dense], load: Loader
) -> None:
    with pytest.raises(InvalidArgument, match="add_slot") as caught:
        load(slot_export[0], loader="v2")
    assert "TF2 loader cannot restore it" in str(caught.value)
    assert "loader=auto or v1" in str(caught.value)


def test_v2_loader_stays_in_use_where_it_works(
    keras_formats: tuple[Any, dict[str, Path]], saved_models: dict[str, Path], load: Loader
) -> None:
    for path in (keras_formats[1]["savedmodel"], saved_models["strings"]):
        properties = load(path, name=path.name).properties()
        assert properties["loader"] == "v2"
        assert "loader_fallback_reason" not in properties


def test_neither_loader_reads_it(
    slot_export: tuple[Path, nets.Dense], tmp_path: Path, load: Loader
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes((slot_export[0] / "saved_model.pb").read_bytes())
    with pytest.raises(InvalidArgument, match="neither TensorFlow loader reads it") as caught:
        load(broken)
    message = str(caught.value)
    assert "TF2: " in message and "TF1: " in message


@pytest.mark.parametrize("loader", ["v1", "v2"])
@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"x": X.astype(np.float64)}, "input 'x' holds float64; the model expects FP32"),
        ({"x": np.array([b"a"], dtype=object)}, "input 'x' holds object"),
        ({}, "missing input 'x'"),
        ({"x": X, "y": X}, "unknown input 'y'"),
        ({"x": np.ones((2, 5), np.float32)}, "model 'm': .*shape"),
    ],
)
def test_bad_inputs_are_refused_alike(
    loader: str, inputs: dict[str, Any], message: str, tf1_dense: tuple[Path, nets.Dense],
    load: Loader,
) -> None:
    model = load(tf1_dense[0], loader=loader)
    with pytest.raises(InvalidArgument, match=message):
        model.infer(inputs, [])


@pytest.mark.parametrize("loader", ["v1", "v2"])
def test_run_time_errors_are_one_clean_line(
    loader: str, tf1_dense: tuple[Path, nets.Dense], load: Loader
) -> None:
    model = load(tf1_dense[0], loader=loader)
    x = X.copy()
    x[1, 2] = np.nan
    with pytest.raises(InvalidArgument, match=r"model 'm': .*x holds NaN or Inf") as caught:
        model.infer({"x": x}, [])
    message = str(caught.value)
    assert "\n" not in message
    assert "File " not in message and "most recent call last" not in message
    assert "CheckNumerics" in message  # the failing node stays named


def test_signature_inputs_feeding_one_tensor_must_agree(
    saved_models: dict[str, Path], load: Loader
) -> None:
    model = load(saved_models["shared"])
    ones = np.ones((1, 2), dtype=np.float32)
    with pytest.raises(InvalidArgument, match="feed the same tensor a:0 and must be equal"):
        model.infer({"x": ones, "x_again": ones * 3}, [])


def test_one_session_serves_concurrent_calls(
    slot_export: tuple[Path, nets.Dense], load: Loader
) -> None:
    path, weights = slot_export
    model = load(path)
    batches = [np.random.default_rng(i).standard_normal((i % 7 + 1, 4)).astype(np.float32)
               for i in range(64)]

    def call(batch: Any) -> Any:
        return model.infer({"x": batch}, [])["logits"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, batches))
    for batch, result in zip(batches, results, strict=True):
        np.testing.assert_allclose(result, weights(batch)["logits"], rtol=1e-5, atol=1e-5)


def test_unload_closes_the_session(slot_export: tuple[Path, nets.Dense], load: Loader) -> None:
    model = load(slot_export[0])
    model.unload()
    with pytest.raises(NotFound, match="not loaded"):
        model.infer({"x": X}, [])


class _BlockingSession:
    """A stand-in for `tf.compat.v1.Session` whose runs wait for a signal."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()

    def run(self, fetches: Any, feed_dict: Any) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(10)
        assert not self.closed.is_set(), "closed under a running call"
        return {"y": 1}

    def close(self) -> None:
        self.closed.set()


def test_shared_session_closes_after_the_calls_in_flight() -> None:
    session = _BlockingSession()
    shared = SharedSession(session)
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(shared.run, {"y": "y:0"}, {})
        assert session.entered.wait(10)
        closing = pool.submit(shared.close)
        assert not session.closed.wait(0.2)  # a running call holds the close back
        session.release.set()
        assert running.result(10) == {"y": 1}
        closing.result(10)
    assert session.closed.is_set()
    with pytest.raises(NotFound, match="unloaded"):
        shared.run({"y": "y:0"}, {})
    shared.close()  # idempotent
