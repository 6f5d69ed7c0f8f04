"""The manifest model generator: deterministic, in sync, and the model round-trips."""

from __future__ import annotations

import importlib.util
import pathlib

from tests.axon.conftest import REPO


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_manifest", REPO / "tools" /
                                                  "gen_manifest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_is_deterministic_and_committed_output_is_current(
        tmp_path: pathlib.Path) -> None:
    gen = load_generator()
    gen.generate(tmp_path / "a")
    gen.generate(tmp_path / "b")
    first = (tmp_path / "a" / "manifest_model.py").read_text()
    assert first == (tmp_path / "b" / "manifest_model.py").read_text()
    assert first.startswith("# DO NOT EDIT — generated from spec/manifest.schema.json")
    committed = REPO / "generated" / "mlos_generated" / "manifest_model.py"
    assert committed.read_text() == first, "run `make generate`"


def test_cli_entry_writes_the_file(tmp_path: pathlib.Path) -> None:
    gen = load_generator()
    assert gen.main([str(tmp_path)]) == 0
    assert (tmp_path / "manifest_model.py").is_file()
    assert gen.main([]) == 2


def test_manifest_round_trips(tmp_path: pathlib.Path) -> None:
    import json

    from mlos_generated.manifest_model import SCHEMA, Manifest

    data = {
        "manifest_version": 1, "namespace": "a", "name": "b", "version": "1.0.0",
        "framework": {"name": "onnx", "format": "onnx", "opset": 17},
        "files": [{"path": "m.onnx", "size": 1, "sha256": "a" * 64, "role": "model"}],
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
        "plugin": {"name": "onnx", "version": "^0.1.0"},
        "resources": {"cpu": 0.5, "gpu": {"count": 1, "required": False}},
        "metadata": {"metrics": {"top1": 0.76}, "datasets": ["imagenet"]},
    }
    manifest = Manifest.from_dict(data)
    assert manifest.inputs[0].shape == (-1, 3) and manifest.resources is not None
    assert manifest.to_dict() == data
    assert json.loads((REPO / "spec" / "manifest.schema.json").read_text()) == SCHEMA
