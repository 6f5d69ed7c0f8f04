"""``axon validate``: located schema errors (all at once) and deep checks."""

from __future__ import annotations

import json
import pathlib

import pytest

from axon.validation import validate_file, validate_text
from tests.axon.conftest import Cli, make_package_dir

GOOD = """\
manifest_version: 1
namespace: test
name: matmul
version: 1.0.0
framework:
  name: onnx
  format: onnx
files:
- path: model.onnx
  size: 10
  sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
inputs:
- name: x
  datatype: FP32
  shape: [-1, 4]
outputs:
- name: y
  datatype: FP32
  shape: [-1, 2]
plugin:
  name: onnx
"""


def diags(text: str) -> list[tuple[int, int, str, str]]:
    report = validate_text(text, "m.yaml", None)
    return [(d.line, d.column, d.path, d.message) for d in report.diagnostics]


def test_good_manifest_is_valid_without_deep_checks() -> None:
    report = validate_text(GOOD, "m.yaml", None)
    assert report.status == "valid" and report.exit_code == 0


def test_wrong_type_points_at_the_value() -> None:
    text = GOOD.replace("version: 1.0.0", "version: 1.0")
    assert diags(text) == [(4, 10, "$.version", "expected string, got number 1.0")]


def test_bad_semver_says_what_is_expected() -> None:
    [(line, col, path, message)] = diags(GOOD.replace("version: 1.0.0", "version: v1"))
    assert (line, col, path) == (4, 10, "$.version")
    assert message == "'v1' is not valid: expected semantic version 2.0.0."


def test_missing_field_points_at_the_parent_object() -> None:
    text = GOOD.replace("  datatype: FP32\n  shape: [-1, 4]\n", "  shape: [-1, 4]\n", 1)
    assert diags(text) == [(13, 3, "$.inputs[0]", "missing required field 'datatype'")]


def test_missing_top_level_field_points_at_document_start() -> None:
    text = GOOD.replace("plugin:\n  name: onnx\n", "")
    assert diags(text) == [(1, 1, "$", "missing required field 'plugin'")]


def test_enum_error_lists_the_choices() -> None:
    [(line, col, path, message)] = diags(GOOD.replace("datatype: FP32", "datatype: FP33", 1))
    assert (line, col, path) == (14, 13, "$.inputs[0].datatype")
    assert message.startswith("expected one of BOOL, UINT8,") and message.endswith("got 'FP33'")


def test_unknown_field_points_at_the_key() -> None:
    text = GOOD.replace("  format: onnx\n", "  format: onnx\n  flavour: vanilla\n")
    assert diags(text) == [(8, 3, "$.framework.flavour", "unknown field 'flavour'")]


def test_every_error_is_reported_in_file_order() -> None:
    text = (GOOD.replace("manifest_version: 1", "manifest_version: 2")
            .replace("name: matmul", "name: Mat Mul")
            .replace("size: 10", "size: -1")
            .replace("shape: [-1, 2]", "shape: [-1, x]"))
    found = diags(text)
    assert [(line, path) for line, _, path, _ in found] == [
        (1, "$.manifest_version"), (3, "$.name"), (10, "$.files[0].size"),
        (19, "$.outputs[0].shape[1]")]
    assert found[0][3] == "expected 1, got 2"
    assert found[2][3] == "-1 is less than the minimum of 0"


def test_yaml_syntax_error_is_located() -> None:
    report = validate_text("name: [unclosed\nversion: 1\n", "m.yaml", None)
    [d] = report.diagnostics
    assert (d.line, d.column) == (2, 8) and d.message.startswith("invalid YAML")
    assert report.exit_code == 1


def test_path_traversal_in_files_is_a_schema_error() -> None:
    [(line, _, path, message)] = diags(GOOD.replace("path: model.onnx", "path: ../model.onnx"))
    assert (line, path) == (9, "$.files[0].path")
    assert "not absolute, no `..`" in message


@pytest.fixture
def pkg(tmp_path: pathlib.Path) -> pathlib.Path:
    return make_package_dir(tmp_path / "pkg")


def edit(path: pathlib.Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_deep_checks_pass_for_a_fresh_init(pkg: pathlib.Path) -> None:
    report = validate_file(pkg / "manifest.yaml")
    assert report.deep and report.status == "valid", report.diagnostics


def test_wrong_digest_and_size_are_located(pkg: pathlib.Path) -> None:
    manifest = pkg / "manifest.yaml"
    text = manifest.read_text()
    digest = text.split("sha256: ")[1].split()[0]
    edit(manifest, digest, "f" * 64)
    edit(manifest, "size: ", "size: 1")
    report = validate_file(manifest)
    found = [(d.line, d.path, d.message) for d in report.diagnostics]
    lines = text.splitlines()
    size_line = next(i for i, ln in enumerate(lines, 1) if ln.strip().startswith("size:"))
    real_size = (pkg / "model.onnx").stat().st_size
    assert found == [
        (size_line, "$.files[0].size",
         f"size is 1{real_size} but model.onnx has {real_size} bytes"),
        (size_line + 1, "$.files[0].sha256",
         f"sha256 does not match model.onnx (file has {digest})"),
    ]
    assert report.exit_code == 1


def test_missing_file_is_reported(pkg: pathlib.Path) -> None:
    (pkg / "model.onnx").rename(pkg / "other.onnx")
    report = validate_file(pkg / "manifest.yaml")
    assert [d.message for d in report.diagnostics] == ["file not found: model.onnx"]


def test_signature_mismatch_is_located(pkg: pathlib.Path) -> None:
    manifest = pkg / "manifest.yaml"
    edit(manifest, "- name: x", "- name: input")
    edit(manifest, "shape: [-1, 2]", "shape: [-1, 3]")
    edit(manifest, "datatype: FP32\n  shape: [-1, 3]", "datatype: INT64\n  shape: [-1, 3]")
    report = validate_file(manifest)
    messages = {d.path: d.message for d in report.diagnostics}
    assert messages == {
        "$.inputs[0].name": "the model has no input 'input' (it has: x)",
        "$.inputs": "the model's input 'x' is not declared",
        "$.outputs[0].datatype": "declared INT64 but the model's output 'y' is FP32",
        "$.outputs[0].shape": "declared [-1, 3] but the model's output 'y' has shape [-1, 2]",
    }


def test_unreadable_framework_is_unchecked_exit_2(pkg: pathlib.Path, cli: Cli) -> None:
    manifest = pkg / "manifest.yaml"
    edit(manifest, "name: onnx\n  format: onnx", "name: tensorflow\n  format: saved_model")
    code, out, _ = cli("validate", str(manifest))
    assert code == 2
    assert "warning: $.framework.format:" in out and "tensorflow" in out


def test_cli_json_and_exit_codes(pkg: pathlib.Path, cli: Cli) -> None:
    code, out, _ = cli("validate", str(pkg), "--json")
    assert code == 0 and json.loads(out)["status"] == "valid"
    edit(pkg / "manifest.yaml", "version: 1.0.0", "version: one")
    code, out, _ = cli("validate", str(pkg / "manifest.yaml"))
    assert code == 1
    assert f"{pkg / 'manifest.yaml'}:4:10: error: $.version:" in out
    code, _, err = cli("validate", str(pkg / "missing.yaml"))
    assert code == 2 and err.startswith("axon: error: cannot read")


def _laughs(levels: int) -> str:
    """A small manifest whose `description` expands to 10**levels strings through aliases."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    anchors = "".join(f"  {line}\n" for line in lines)
    return f"x-anchors:\n{anchors}" + GOOD.replace(
        "name: matmul", f"name: matmul\ndescription: *a{levels}")


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    """Issue 16 item 3: nested aliases (a "billion laughs") are refused at the first alias."""
    text = _laughs(6)
    assert len(text) < 2048
    report = validate_text(text, "m.yaml", None)
    assert report.status == "invalid"
    [diagnostic] = report.diagnostics
    assert "aliases" in diagnostic.message and diagnostic.path == "$"
    assert diagnostic.line > 1


def test_long_values_are_cut_in_messages() -> None:
    """Issue 16 item 3: a huge wrong value is quoted in part, never whole."""
    huge = "x" * 500_000
    text = GOOD.replace("version: 1.0.0", f"version: {huge}").replace(
        "datatype: FP32", f"datatype: {huge}", 1)
    report = validate_text(text, "m.yaml", None)
    assert report.status == "invalid" and len(report.diagnostics) == 2
    for diagnostic in report.diagnostics:
        assert len(str(diagnostic)) < 400, str(diagnostic)[:400]
        assert "500000 characters" in diagnostic.message
