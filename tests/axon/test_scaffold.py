"""``axon init``: what is guessed from a model file (issue 16 item 8)."""

from __future__ import annotations

import pathlib

import onnx

from axon.scaffold import init_manifest
from axon.signature import guess_format
from tests.axon.conftest import make_onnx


def test_onnx_library_version_is_not_recorded_as_the_framework_version(
        tmp_path: pathlib.Path) -> None:
    """The installed onnx library did not export the model; only the file's opset is known."""
    result = init_manifest(make_onnx(tmp_path / "model.onnx"), "t")
    framework = result.data["framework"]
    assert framework.get("version") != onnx.__version__
    assert "version" not in framework and framework["opset"] == 17


def test_jit_files_are_torchscript(tmp_path: pathlib.Path) -> None:
    for suffix in (".jit", ".pt", ".torchscript"):
        assert guess_format(tmp_path / f"model{suffix}") == ("pytorch", "torchscript"), suffix
    model = tmp_path / "traced.jit"
    model.write_bytes(b"PK\x03\x04 not a real archive")
    result = init_manifest(model, "t")
    assert result.data["framework"] == {"name": "pytorch", "format": "torchscript"}
    assert result.data["plugin"]["name"] == "torch"
    assert result.data["files"][0]["role"] == "model"
