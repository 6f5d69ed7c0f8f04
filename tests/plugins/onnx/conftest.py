"""Fixtures for the ONNX plugin tests: the plugin, and a loader that unloads what it loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from onnx import ModelProto

from mlos.sdk.base import ModelSpec
from mlos_plugins.onnx import OnnxModel, OnnxPlugin
from tests.models import save

Loader = Callable[..., OnnxModel]


@pytest.fixture
def plugin() -> OnnxPlugin:
    return OnnxPlugin()


@pytest.fixture
def load(plugin: OnnxPlugin, tmp_path: Path) -> Iterator[Loader]:
    """load(model_or_path, name="m", **config) → a loaded OnnxModel, unloaded after the test."""
    loaded: list[OnnxModel] = []

    def _load(model: ModelProto | Path, name: str = "m", **config: str) -> OnnxModel:
        path = model if isinstance(model, Path) else save(model, tmp_path / f"{name}.onnx")
        options: Mapping[str, str] = config
        result = plugin.load(ModelSpec(name=name, version="1", path=path, config=options))
        loaded.append(result)
        return result

    yield _load
    for model in loaded:
        model.unload()
