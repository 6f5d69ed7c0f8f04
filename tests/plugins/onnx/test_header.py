"""read_header: the top-level facts of an ONNX file, read without parsing the graph."""

from __future__ import annotations

from pathlib import Path

from onnx import helper

from mlos_plugins.onnx.header import ModelHeader, read_header
from tests.models import make_model, mlp_model, save, tensor


def test_reads_the_demo_model(tmp_path: Path) -> None:
    header = read_header(save(mlp_model(), tmp_path / "mlp.onnx"))
    assert header == ModelHeader(
        ir_version=8,
        producer_name="mlos.demo",
        producer_version="1",
        domain="",
        model_version=0,
        opsets={"": 17},
    )


def test_reads_every_opset_and_the_fields_after_the_graph(tmp_path: Path) -> None:
    node = helper.make_node("Identity", ["x"], ["y"])
    model = make_model(
        [node],
        [tensor("x", "FP32", [1])],
        [tensor("y", "FP32", [1])],
        opsets={"": 13, "ai.onnx.ml": 3},
    )
    model.domain = "com.example"
    model.model_version = 7
    model.producer_version = "2.1"
    header = read_header(save(model, tmp_path / "m.onnx"))
    assert header.opsets == {"": 13, "ai.onnx.ml": 3}
    assert (header.domain, header.model_version, header.producer_version) == (
        "com.example",
        7,
        "2.1",
    )


def test_anything_else_reads_as_empty(tmp_path: Path) -> None:
    assert read_header(tmp_path / "missing.onnx") == ModelHeader()
    (tmp_path / "cut.onnx").write_bytes(b"\x08\xff")  # ir_version varint cut short
    assert read_header(tmp_path / "cut.onnx") == ModelHeader()
