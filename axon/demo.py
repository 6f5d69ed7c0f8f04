"""The demo registry: tiny ONNX models generated here (no downloads), packed and published
into a ``file://`` registry, so ``axon install demo/mlp`` works offline on a fresh machine.

Models are built with ``onnx.helper`` from a seeded generator, so the registry is the same bytes
on every machine with the same ``onnx`` version.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axon.errors import UsageError
from axon.manifest import MANIFEST_NAME, dump_yaml
from axon.package import fill_files, pack
from axon.registry_store import RegistryStore
from axon.signature import read_signature

__all__ = ["DEMO_MODELS", "DemoModel", "build_demo_registry"]


@dataclass(frozen=True)
class DemoModel:
    """One demo model: identity, description, and a builder writing the ONNX file."""

    name: str
    version: str
    description: str
    tags: tuple[str, ...]
    build: Callable[[pathlib.Path], None]


def _save(graph: Any, path: pathlib.Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="axon-demo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _identity(path: pathlib.Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    _save(graph, path)


def _mlp(hidden: int) -> Callable[[pathlib.Path], None]:
    def build(path: pathlib.Path) -> None:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(7)
        w1 = numpy_helper.from_array((rng.standard_normal((64, hidden)) * 0.1)
                                     .astype(np.float32), "w1")
        b1 = numpy_helper.from_array(np.zeros(hidden, np.float32), "b1")
        w2 = numpy_helper.from_array((rng.standard_normal((hidden, 10)) * 0.1)
                                     .astype(np.float32), "w2")
        b2 = numpy_helper.from_array(np.zeros(10, np.float32), "b2")
        graph = helper.make_graph(
            [helper.make_node("Gemm", ["input", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"])],
            "mlp",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
            [w1, b1, w2, b2])
        _save(graph, path)
    return build


def _add(path: pathlib.Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])], "add",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3])])
    _save(graph, path)


DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel("identity", "1.0.0", "Returns its FP32 input unchanged.", ("test",), _identity),
    DemoModel("add", "1.0.0", "Adds two FP32 tensors element-wise.", ("test", "math"), _add),
    DemoModel("mlp", "1.0.0", "A 64-128-10 multilayer perceptron with fixed random weights.",
              ("classification", "test"), _mlp(128)),
    DemoModel("mlp", "1.1.0", "A 64-256-10 multilayer perceptron with fixed random weights.",
              ("classification", "test"), _mlp(256)),
)


def _manifest(model: DemoModel, path: pathlib.Path) -> dict[str, Any]:
    sig = read_signature(path, "onnx")
    return {
        "manifest_version": 1, "namespace": "demo", "name": model.name,
        "version": model.version, "description": model.description,
        "license": "Apache-2.0", "authors": [{"name": "MLOS project"}],
        "tags": list(model.tags),
        "framework": {"name": "onnx", "format": "onnx", "opset": sig.opset},
        "entrypoint": path.name,
        "files": [{"path": path.name, "role": "model"}],
        "inputs": [t.to_dict() for t in sig.inputs],
        "outputs": [t.to_dict() for t in sig.outputs],
        "plugin": {"name": "onnx", "version": ">=0.1.0"},
        "resources": {"cpu": 1, "memory_bytes": 64 * 2**20},
        "serving": {"max_batch_size": 64},
    }


def build_demo_registry(root: pathlib.Path) -> list[str]:
    """Build (or refresh) the demo registry at ``root``; return the references published."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise UsageError("building the demo registry needs onnx "
                         "(pip install 'mlos[onnx]')") from exc
    store = RegistryStore(root)
    published = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in DEMO_MODELS:
            work = pathlib.Path(tmp) / f"{model.name}-{model.version}"
            work.mkdir()
            model_file = work / "model.onnx"
            model.build(model_file)
            data = fill_files(_manifest(model, model_file), work)
            (work / MANIFEST_NAME).write_text(dump_yaml(data), encoding="utf-8")
            result = pack(work, pathlib.Path(tmp) / "out.axon")
            store.publish_package(result.path, result.sha256)
            published.append(f"demo/{model.name}@{model.version}")
    return published
