"""Fixtures for the tensorflow plugin tests: models built once per session, the plugin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorflow")

from mlos.sdk.base import ModelSpec
from mlos_plugins.tensorflow import TensorFlowModel, TensorFlowPlugin
from tests.plugins.tensorflow import nets

Loader = Callable[..., TensorFlowModel]


@pytest.fixture(scope="session")
def keras_formats(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Path]]:
    """The Keras network and its SavedModel, .keras and .tflite files."""
    return nets.save_keras_formats(tmp_path_factory.mktemp("tf-keras"))


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SavedModels: TF2 strings, TF1 with ':' names, TF1 that only the TF1 loader reads."""
    root = tmp_path_factory.mktemp("tf-saved")
    return {
        "strings": nets.save_strings_v2(root / "strings"),
        "colons": nets.save_tf1(root / "colons", nets.colon_names),
        "shared": nets.save_tf1(root / "shared", nets.shared_feed),
    }


@pytest.fixture(scope="session")
def plugin() -> TensorFlowPlugin:
    return TensorFlowPlugin()


@pytest.fixture
def load(plugin: TensorFlowPlugin) -> Iterator[Loader]:
    """load(path, name="m", **config) → a loaded TensorFlowModel, unloaded after the test."""
    loaded: list[TensorFlowModel] = []

    def _load(path: Path, name: str = "m", **config: str) -> TensorFlowModel:
        model = plugin.load(ModelSpec(name=name, version="1", path=path, config=config))
        loaded.append(model)
        return model

    yield _load
    for model in loaded:
        model.unload()
