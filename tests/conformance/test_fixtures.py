"""The fixture format: what a fixtures.yaml may say, and how each mistake is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlos_conformance import FixtureError, Tolerance, load_fixtures


def write(directory: Path, text: str) -> Path:
    (directory / "m.double").write_text("double")
    path = directory / "fixtures.yaml"
    path.write_text(text)
    return path


def test_a_full_file(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.int64).reshape(2, 3))
    np.save(tmp_path / "bits.npy", np.array([0x3F80, 0x4000], dtype=np.uint16))
    write(
        tmp_path,
        """
format: 1
rtol: 1e-3            # YAML reads this as a string; it is still a number
fixtures:
  - model: m.double
    config: {threads: 2, mode: fast}
    atol: 0.5
    cases:
      - inputs:
          x: x.npy
          s: {datatype: BYTES, data: ["a", "bc"]}
        outputs:
          y: {datatype: FP32, shape: [2, 2], data: [1, 2, 3, 4]}
          b: {datatype: BF16, file: bits.npy}
      - name: strict
        atol: 0
        outputs:
          z: {datatype: BOOL, data: [[true, false]]}
""",
    )

    (fixture,) = load_fixtures(tmp_path)

    assert fixture.name == "m.double" and fixture.model == (tmp_path / "m.double").resolve()
    assert fixture.config == {"threads": "2", "mode": "fast"}
    first, second = fixture.cases
    assert first.name == "case-0" and second.name == "strict"
    assert first.tolerance == Tolerance(rtol=1e-3, atol=0.5)
    assert second.tolerance == Tolerance(rtol=1e-3, atol=0.0)
    assert first.inputs["x"].datatype == "INT64" and first.inputs["x"].shape == (2, 3)
    assert first.inputs["s"].array().tolist() == [b"a", b"bc"]
    assert first.outputs["y"].array().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert first.outputs["b"].datatype == "BF16" and first.outputs["b"].array().tolist() == [0x3F80, 0x4000]
    assert second.inputs == {} and second.outputs["z"].shape == (1, 2)
    proto = first.outputs["y"].to_proto("y")
    assert proto.name == "y" and list(proto.shape) == [2, 2] and len(proto.contents) == 16


def test_defaults(tmp_path: Path) -> None:
    write(tmp_path, "fixtures: [{model: m.double, cases: [{outputs: {y: {datatype: INT8, data: 3}}}]}]")

    (fixture,) = load_fixtures(tmp_path / "fixtures.yaml")

    assert fixture.cases[0].tolerance == Tolerance()
    assert fixture.cases[0].outputs["y"].shape == () and fixture.config == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("fixtures: [", "not valid YAML"),
        ("- a\n- b", "the file: expected a mapping"),
        ("fixtures: []", "fixtures: expected a list of at least one fixture"),
        ("format: 2\nfixtures: []", "format 2 is unknown"),
        ("fixture: []", "unknown key(s) ['fixture']"),
        ("fixtures: [{cases: []}]", "fixtures[0]: `model` is missing"),
        ("fixtures: [{model: nope.bin, cases: []}]", "fixtures[0].model: "),
        ("fixtures: [{model: m.double, cases: []}]", "fixtures[0].cases: expected a list of at least one case"),
        ("fixtures: [{model: m.double, cases: [{outputs: {y: y.npy}}]}]", "fixtures[0].cases[0].outputs.y: "),
        ("fixtures: [{model: m.double, rtol: -1, cases: [{outputs: {}}]}]", "fixtures[0].rtol: must be a finite number >= 0"),
        ("fixtures: [{model: m.double, atol: abc, cases: [{outputs: {}}]}]", "fixtures[0].atol: expected a number"),
        ("fixtures: [{model: m.double, cases: [{outputs: {y: {datatype: FP99, data: [1]}}}]}]", "datatype 'FP99' is not"),
        ("fixtures: [{model: m.double, cases: [{outputs: {y: {datatype: FP32}}}]}]", "exactly one of `data` and `file`"),
        ("fixtures: [{model: m.double, cases: [{outputs: {y: {datatype: FP32, data: [1, 2], shape: [3]}}}]}]", "data holds 2 elements"),
        ("fixtures: [{model: m.double, cases: [{outputs: {y: {datatype: INT8, data: [[1], [2, 3]]}}}]}]", "outputs.y: "),
        ("fixtures: [{model: m.double, cases: [{outputs: {y: {datatype: FP32, data: [1], shape: [-1]}}}]}]", "list of dimensions >= 0"),
        ("fixtures: [{model: m.double, config: {a: [1]}, cases: [{outputs: {y: {datatype: INT8, data: 1}}}]}]", "fixtures[0].config.a: config values"),
        ("fixtures: [{model: m.double, cases: [{name: '', outputs: {}}]}]", "cases[0].name: expected a non-empty string"),
    ],
)
def test_mistakes_name_the_file_and_the_place(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(FixtureError) as raised:
        load_fixtures(path)

    assert str(raised.value).startswith(f"{path}: ")
    assert words in str(raised.value)


def test_npy_files_that_do_not_fit(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.ones(2, dtype=np.float32))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npy").write_bytes(b"not npy")
    cases = {
        "{y: {datatype: INT32, file: f.npy}}": "the array is not INT32",
        "{y: {datatype: BF16, file: f.npy}}": "raw bits as uint16",
        "{y: {datatype: FP32, file: f.npy, shape: [3]}}": "shape [3] does not fit (2,)",
        "{y: obj.npy}": "cannot read",
        "{y: junk.npy}": "cannot read",
    }
    for outputs, words in cases.items():
        path = write(tmp_path, f"fixtures: [{{model: m.double, cases: [{{outputs: {outputs}}}]}}]")
        with pytest.raises(FixtureError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
            load_fixtures(path)


def test_a_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="no such file"):
        load_fixtures(tmp_path)
