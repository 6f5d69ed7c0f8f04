"""Tables, fields and JSON printing."""

from __future__ import annotations

import io
import json

from mlos.cli.output import Output, shape_text, source_text
from mlos_generated import smi_pb2


def test_table_aligns_columns() -> None:
    out = io.StringIO()
    Output(out=out).table(["NAME", "N"], [("a", 1), ("longer", 22)])
    assert out.getvalue().splitlines() == [
        "NAME    N", "------  --", "a       1", "longer  22",
    ]


def test_fields_align_values() -> None:
    out = io.StringIO()
    Output(out=out).fields([("a", 1), ("long key", "x")])
    assert out.getvalue().splitlines() == ["a:        1", "long key: x"]


def test_json_mode_prints_only_the_document() -> None:
    out = io.StringIO()
    output = Output(json=True, out=out)
    output.line("hidden")
    output.table(["A"], [(1,)])
    output.fields([("a", 1)])
    output.message(smi_pb2.PluginStatus(name="onnx", state=smi_pb2.PLUGIN_STATE_READY))
    document = json.loads(out.getvalue())
    assert document["name"] == "onnx" and document["state"] == "ready"


def test_human_mode_prints_no_json() -> None:
    out = io.StringIO()
    Output(out=out).document({"a": 1})
    assert out.getvalue() == ""


def test_helpers() -> None:
    assert shape_text([-1, 64]) == "[-1, 64]"
    assert source_text(smi_pb2.PluginSource(entry_point="onnx")) == "entry point onnx"
    assert source_text(smi_pb2.PluginSource()) == "-"
