"""The tensorflow plugin in-process: SavedModel (TF2, TF1), Keras, TFLite; names; errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import TensorSpec
from mlos_plugins.tensorflow import TensorFlowPlugin
from mlos_plugins.tensorflow.plugin import model_path
from tests.plugins.tensorflow.conftest import Loader

X = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)


def test_describes_itself(plugin: TensorFlowPlugin) -> None:
    capabilities = plugin.capabilities()
    assert set(capabilities.formats) == {"savedmodel", "keras", "tflite"}
    assert {".keras", ".tflite", ".pb"} <= set(capabilities.file_extensions)
    assert "BYTES" in capabilities.datatypes


@pytest.mark.parametrize(
    ("fmt", "platform", "output"),
    [
        ("savedmodel", "tensorflow_savedmodel", "output_0"),
        ("keras", "tensorflow_keras", "probs"),
        ("tflite", "tensorflow_tflite", "output_0"),
    ],
)
def test_every_format_matches_tensorflow(
    fmt: str, platform: str, output: str, keras_formats: tuple[Any, dict[str, Path]],
    load: Loader,
) -> None:
    network, paths = keras_formats
    model = load(paths[fmt])
    assert model.platform == platform
    assert model.inputs == (TensorSpec("x", "FP32", (-1, 4)),)
    assert model.outputs == (TensorSpec(output, "FP32", (-1, 3)),)
    assert model.max_batch_size > 0
    expected = network(X).numpy()
    for batch in (X, X[:1]):
        result = model.infer({"x": batch}, [])[output]
        np.testing.assert_allclose(result, expected[: len(batch)], rtol=1e-5, atol=1e-6)


def test_saved_model_pb_names_its_directory(keras_formats: tuple[Any, dict[str, Path]]) -> None:
    directory = keras_formats[1]["savedmodel"]
    assert model_path(directory / "saved_model.pb") == directory


def test_strings_are_bytes(saved_models: dict[str, Path], load: Loader) -> None:
    model = load(saved_models["strings"])
    assert model.inputs == (TensorSpec("text", "BYTES", (-1,)),)
    assert set(model.outputs) == {
        TensorSpec("upper", "BYTES", (-1,)), TensorSpec("length", "INT32", (-1,))
    }
    text = np.array([b"abc", "é".encode()], dtype=object)
    result = model.infer({"text": text}, [])
    assert result["upper"].tolist() == [b"ABC", "é".encode()]
    assert result["length"].tolist() == [3, 2]


@pytest.mark.parametrize("loader", ["auto", "v1"])
def test_tf1_names_with_colons(loader: str, saved_models: dict[str, Path], load: Loader) -> None:
    model = load(saved_models["colons"], loader=loader)
    assert model.properties()["loader"] == ("v2" if loader == "auto" else "v1")
    assert {s.name: s for s in model.inputs} == {
        "a:0": TensorSpec("a:0", "FP32", (-1, 2)), "text": TensorSpec("text", "BYTES", (-1,)),
    }
    assert {s.name for s in model.outputs} == {"y:0", "upper"}
    result = model.infer(
        {"a:0": np.array([[1.0, 1.0]], dtype=np.float32), "text": np.array([b"hi"], object)},
        ["y:0", "upper"],
    )
    np.testing.assert_array_equal(result["y:0"], [[3.0]])
    assert result["upper"].tolist() == [b"HI"]


def test_tf1_loader_takes_over_when_tf2_cannot(
    saved_models: dict[str, Path], load: Loader
) -> None:
    model = load(saved_models["shared"])
    properties = model.properties()
    assert properties["loader"] == "v1"
    assert "appears more than once" in properties["loader_fallback_reason"]
    ones = np.ones((1, 2), dtype=np.float32)
    np.testing.assert_array_equal(model.infer({"x": ones, "x_again": ones}, [])["y"], [[2, 2]])
    with pytest.raises(Exception, match="more than once"):
        load(saved_models["shared"], loader="v2")


def test_signature_and_tags_are_checked(
    keras_formats: tuple[Any, dict[str, Path]], load: Loader
) -> None:
    paths = keras_formats[1]
    with pytest.raises(InvalidArgument, match="no signature 'predict'"):
        load(paths["savedmodel"], signature="predict")
    with pytest.raises(InvalidArgument, match="no MetaGraph tagged train"):
        load(paths["savedmodel"], tags="train")
    with pytest.raises(InvalidArgument, match="no signature 'other'"):
        load(paths["tflite"], signature="other")
    model = load(paths["savedmodel"], signature="serve")  # Model.export writes both
    assert model.properties()["signature"] == "serve"


def test_bad_inputs_are_invalid_argument(
    keras_formats: tuple[Any, dict[str, Path]], load: Loader
) -> None:
    model = load(keras_formats[1]["savedmodel"])
    with pytest.raises(InvalidArgument, match="model 'm'"):
        model.infer({"x": np.ones((2, 5), dtype=np.float32)}, [])


def test_files_that_are_not_models(tmp_path: Path, load: Loader) -> None:
    with pytest.raises(InvalidArgument, match="without a TensorFlow model"):
        load(tmp_path)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InvalidArgument, match="cannot load it"):
        load(broken)
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"\0" * 64)
    with pytest.raises(InvalidArgument):
        load(fake)
    with pytest.raises(InvalidArgument, match="unknown config option 'colour'"):
        load(tmp_path, colour="red")


def test_unloaded_model_is_not_found(
    keras_formats: tuple[Any, dict[str, Path]], load: Loader
) -> None:
    model = load(keras_formats[1]["tflite"])
    model.unload()
    with pytest.raises(NotFound):
        model.infer({"x": X}, [])
