"""The demo registry: tiny ONNX models generated here (no downloads), packed and published
into a ``file://`` registry, so ``axon install demo/mlp`` works offline on a fresh machine.

Models are built by `mlos.demo` (the MLP is the quickstart's network at other sizes) from a
seeded generator, so the registry is the same bytes on every machine with the same ``onnx``
version.
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
from mlos.demo import demo_model_proto, float_tensor, onnx_model, save_model

__all__ = ["DEMO_MODELS", "DemoModel", "build_demo_registry"]

PRODUCER = "axon-demo"


@dataclass(frozen=True)
class DemoModel:
    """One demo model: identity, description, and a builder writing the ONNX file."""

    name: str
    version: str
    description: str
    tags: tuple[str, ...]
    build: Callable[[pathlib.Path], None]


def _save(model: Any, path: pathlib.Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    save_model(model, path)


def _identity(path: pathlib.Path) -> None:
    from onnx import helper

    node = helper.make_node("Identity", ["x"], ["y"])
    _save(onnx_model([node], [float_tensor("x", ["batch", 4])], [float_tensor("y", ["batch", 4])],
                     name="identity", producer=PRODUCER), path)


def _mlp(hidden: int) -> Callable[[pathlib.Path], None]:
    def build(path: pathlib.Path) -> None:
        _save(demo_model_proto(hidden=(hidden,), seed=7, output="logits", producer=PRODUCER),
              path)
    return build


def _add(path: pathlib.Path) -> None:
    from onnx import helper

    node = helper.make_node("Add", ["a", "b"], ["sum"])
    inputs = [float_tensor("a", ["batch", 3]), float_tensor("b", ["batch", 3])]
    _save(onnx_model([node], inputs, [float_tensor("sum", ["batch", 3])], name="add",
                     producer=PRODUCER), path)


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
