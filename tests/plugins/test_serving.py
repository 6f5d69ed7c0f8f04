"""End to end: the torch, tensorflow, onnx and third-party numpy plugins in one real server.

One `mlos serve` (its own process, loopback, random port) runs every plugin in a process of
its own; models are registered and queried over REST exactly as a user would. Shows that:

* one network exported from PyTorch as TorchScript, as a torch.export program and as ONNX
  gives the same outputs through `/v2`, served by the torch and onnx plugins side by side;
* one Keras network as SavedModel, `.keras` and `.tflite` matches TensorFlow's own output;
* a full-pickle `.pt` is refused with a 4xx and a clear message, and nothing in it runs;
* the third-party package, installed with pip, serves a model with no change to the core;
* loading and unloading a model 50 times keeps each plugin process's memory bounded.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("onnxruntime")

import torch

from tests.plugins.served import RestError, Served, served
from tests.plugins.tensorflow import nets as tf_nets
from tests.plugins.torch import nets as torch_nets

pytestmark = pytest.mark.timeout(600)

PLUGINS = ("onnx", "torch", "tensorflow", "numpy")
X = np.random.default_rng(7).standard_normal((6, 4)).astype(np.float32)
X_SIGNATURE = json.dumps([{"name": "x", "datatype": "FP32", "shape": [-1, 4]}])
CYCLES = 50
RSS_BOUND = 64 * 2**20


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server with every plugin loaded."""
    # models come from other fixtures and tests, each in its own folder under the base temp one
    with served(tmp_path_factory.mktemp("serving"), tmp_path_factory.getbasetemp()) as running:
        for name in PLUGINS:
            assert running.load_plugin(name)["state"] == "ready"
        yield running


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("torch")
    net = torch_nets.SmallNet(seed=3)
    return {
        "script": torch_nets.save_script(net, root / "net.pt"),
        "trace": torch_nets.save_trace(net, root / "traced.jit"),
        "export": torch_nets.save_export(net, root / "net.pt2"),
        "onnx": torch_nets.save_onnx(net, root / "net.onnx"),
    }


@pytest.fixture(scope="module")
def keras_formats(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Path]]:
    return tf_nets.save_keras_formats(tmp_path_factory.mktemp("keras"))


def test_every_plugin_runs_in_a_process_of_its_own(node: Served) -> None:
    server = node.server.process
    assert server is not None
    pids = {name: node.plugin_pid(name) for name in PLUGINS}
    assert len(set(pids.values())) == len(PLUGINS)
    for pid in pids.values():
        assert psutil.Process(pid).ppid() == server.pid


def test_torch_and_onnx_agree_through_v2(node: Served, torch_files: dict[str, Path]) -> None:
    node.register_model("net-script", torch_files["script"], plugin="torch", inputs=X_SIGNATURE)
    node.register_model("net-trace", torch_files["trace"], plugin="torch", inputs=X_SIGNATURE)
    chosen = {
        "net-export": node.register_model("net-export", torch_files["export"]),  # by extension
        "net-onnx": node.register_model("net-onnx", torch_files["onnx"]),
    }
    assert chosen["net-export"]["plugin"] == "torch"
    assert chosen["net-onnx"]["plugin"] == "onnx"
    with torch.no_grad():
        expected = torch_nets.SmallNet(seed=3)(torch.from_numpy(X)).numpy()
    for model in ("net-script", "net-trace", "net-export", "net-onnx"):
        metadata = node.metadata(model)
        assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
        outputs = node.infer(model, {"x": X})
        assert list(outputs) == ["output__0"], model
        np.testing.assert_allclose(outputs["output__0"], expected, rtol=1e-5, atol=1e-6,
                                   err_msg=model)


def test_keras_formats_match_tensorflow(
    node: Served, keras_formats: tuple[Any, dict[str, Path]]
) -> None:
    network, paths = keras_formats
    expected = network(X).numpy()
    outputs = {"savedmodel": "output_0", "keras": "probs", "tflite": "output_0"}
    for fmt, output in outputs.items():
        status = node.register_model(f"keras-{fmt}", paths[fmt])  # plugin chosen from the file
        assert status["plugin"] == "tensorflow"
        result = node.infer(f"keras-{fmt}", {"x": X})
        np.testing.assert_allclose(result[output], expected, rtol=1e-5, atol=1e-6, err_msg=fmt)


def test_every_framework_serves_two_instances(
    node: Served, torch_files: dict[str, Path], keras_formats: tuple[Any, dict[str, Path]]
) -> None:
    """instance_count 2: onnx loads two sessions, torch and tensorflow share one model; calls
    side by side all answer what the framework computes."""
    network, paths = keras_formats
    with torch.no_grad():
        torch_expected = torch_nets.SmallNet(seed=3)(torch.from_numpy(X)).numpy()
    keras_expected = network(X).numpy()
    cases = [
        ("x2-onnx", torch_files["onnx"], "onnx", "output__0", torch_expected),
        ("x2-torch", torch_files["export"], "torch", "output__0", torch_expected),
        ("x2-savedmodel", paths["savedmodel"], "tensorflow", "output_0", keras_expected),
        ("x2-tflite", paths["tflite"], "tensorflow", "output_0", keras_expected),
    ]
    for name, path, plugin, output, expected in cases:
        body = {"name": name, "path": str(path), "plugin": plugin, "instance_count": 2}
        assert node.request("POST", "/v1/models", body)["instance_count"] == 2
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _, m=name: node.infer(m, {"x": X}), range(4)))
        for answer in answers:
            np.testing.assert_allclose(answer[output], expected, rtol=1e-5, atol=1e-6,
                                       err_msg=name)
        node.remove_model(name)


def test_strings_and_colon_names_through_rest(node: Served, tmp_path: Path) -> None:
    path = tf_nets.save_tf1(tmp_path / "colons", tf_nets.colon_names)
    node.register_model("colons", path, plugin="tensorflow")
    inputs = {i["name"]: i for i in node.metadata("colons")["inputs"]}
    assert inputs["a:0"]["datatype"] == "FP32" and inputs["text"]["datatype"] == "BYTES"
    result = node.infer("colons", {
        "a:0": np.array([[1.0, 2.0]], dtype=np.float32),
        "text": np.array([b"mlos"], dtype=object),
    })
    np.testing.assert_array_equal(result["y:0"], [[5.0]])
    assert result["upper"].tolist() == ["MLOS"]


@pytest.mark.parametrize("plugin", ["torch", None])
def test_full_pickle_is_refused_and_never_runs(
    plugin: str | None, node: Served, tmp_path: Path
) -> None:
    marker = tmp_path / "pickle-ran"
    path = torch_nets.write_malicious_pickle(tmp_path / "model.pt", marker)
    with pytest.raises(RestError) as caught:
        node.register_model("evil", path, plugin=plugin)
    assert 400 <= caught.value.status < 500
    detail = json.dumps(caught.value.body)
    assert "torch.save pickle" in detail and "arbitrary code" in detail
    assert "torch.jit.save" in detail and "torch.export.save" in detail
    assert not marker.exists()
    with pytest.raises(RestError) as missing:
        node.request("GET", "/v1/models/evil")
    assert missing.value.status == 404


def test_third_party_package_serves_through_rest(node: Served, tmp_path: Path) -> None:
    entry = next(iter(importlib.metadata.entry_points(group="mlos.plugins", name="numpy")))
    assert entry.dist is not None and entry.dist.name == "mlos-plugin-numpy"
    model = tmp_path / "affine.npexpr"
    model.write_text(json.dumps({
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "constants": {"scale": [1.0, 2.0, 3.0, 4.0]},
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4], "expr": "x * scale - 1"}],
    }))
    status = node.register_model("affine", model)  # chosen by its .npexpr extension
    assert status["plugin"] == "numpy"
    result = node.infer("affine", {"x": X})
    np.testing.assert_allclose(result["y"], X * np.array([1, 2, 3, 4], np.float32) - 1,
                               rtol=1e-6)


def _cycle(node: Served, plugin: str, path: Path, **config: str) -> tuple[int, int]:
    """RSS of the plugin process before and after CYCLES registrations and removals."""
    process = psutil.Process(node.plugin_pid(plugin))
    node.register_model("cycled", path, plugin=plugin, **config)  # warm the plugin up
    node.remove_model("cycled")
    before = process.memory_info().rss
    for _ in range(CYCLES):
        node.register_model("cycled", path, plugin=plugin, **config)
        node.remove_model("cycled")
    after = process.memory_info().rss
    print(f"\n{plugin}: RSS {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after "
          f"{CYCLES} load/unload cycles of {path.name}")
    return before, after


def test_load_unload_cycles_keep_memory_bounded(
    node: Served, torch_files: dict[str, Path], keras_formats: tuple[Any, dict[str, Path]],
    tmp_path: Path,
) -> None:
    numpy_model = tmp_path / "m.npexpr"
    numpy_model.write_text(json.dumps({
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1], "expr": "x + 1"}],
    }))
    cases = [
        ("torch", torch_files["export"], {}),
        ("torch", torch_files["script"], {"inputs": X_SIGNATURE}),
        ("tensorflow", keras_formats[1]["savedmodel"], {}),
        ("onnx", torch_files["onnx"], {}),
        ("numpy", numpy_model, {}),
    ]
    for plugin, path, config in cases:
        before, after = _cycle(node, plugin, path, **config)
        assert after - before < RSS_BOUND, f"{plugin} grew {(after - before) / 2**20:.1f} MiB"
