"""Fixtures for the torch plugin tests: model files built once, the plugin, a loader."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")

from mlos.sdk.base import ModelSpec
from mlos_plugins.torch import TorchModel, TorchPlugin
from tests.plugins.torch import nets

Loader = Callable[..., TorchModel]

X_SIGNATURE = json.dumps([{"name": "x", "datatype": "FP32", "shape": [-1, 4]}])


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SmallNet as TorchScript (scripted, traced), torch.export and ONNX, and other models."""
    root = tmp_path_factory.mktemp("torch-models")
    net = nets.SmallNet()
    return {
        "script": nets.save_script(net, root / "script.pt"),
        "trace": nets.save_trace(net, root / "trace.pt"),
        "export": nets.save_export(net, root / "export.pt2"),
        "onnx": nets.save_onnx(net, root / "net.onnx"),
        "pair": nets.save_script(nets.PairNet(), root / "pair.pt"),
        "dict": nets.save_script(nets.DictNet(), root / "dict.pt"),
        "pair_export": nets.save_export(
            nets.PairNet(), root / "pair.pt2", (nets.EXAMPLE, nets.EXAMPLE[:, 0].long())
        ),
    }


@pytest.fixture(scope="session")
def plugin() -> TorchPlugin:
    return TorchPlugin()


@pytest.fixture
def load(plugin: TorchPlugin) -> Iterator[Loader]:
    """load(path, name="m", **config) → a loaded TorchModel, unloaded after the test."""
    loaded: list[TorchModel] = []

    def _load(path: Path, name: str = "m", **config: str) -> TorchModel:
        model = plugin.load(ModelSpec(name=name, version="1", path=path, config=config))
        loaded.append(model)
        return model

    yield _load
    for model in loaded:
        model.unload()
