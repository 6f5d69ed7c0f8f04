"""`mlos infer`: input parsing, datatypes, output printing and saving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlos.cli.infer import json_data
from tests.cli.conftest import Run
from tests.cli.fake_client import FakeClient


def sent(fake: FakeClient) -> tuple[dict[str, np.ndarray], dict[str, str], bool]:
    name, args = fake.calls[-1]
    assert name == "infer"
    return args[1], args[5], args[4]


def test_json_literal_takes_the_model_datatype(run: Run, fake: FakeClient) -> None:
    result = run("infer", "demo", "-i", "input=[[1, 2, 3, 4]]")
    assert result.code == 0, result.err
    inputs, datatypes, binary = sent(fake)
    assert inputs["input"].dtype == np.float32 and inputs["input"].shape == (1, 4)
    assert datatypes == {"input": "FP32"} and binary is True
    assert ("model_metadata", ("demo", None)) in fake.calls
    assert result.out.splitlines()[0] == "output  FP32  [1, 1]"
    assert result.out.splitlines()[1] == "[[10.]]"


def test_explicit_datatype_wins_and_skips_metadata(run: Run, fake: FakeClient) -> None:
    run("infer", "demo", "-i", "input=[1, 2]", "-d", "input=INT32", "--no-binary")
    inputs, datatypes, binary = sent(fake)
    assert inputs["input"].dtype == np.int32 and datatypes == {"input": "INT32"}
    assert binary is False
    assert not any(name == "model_metadata" for name, _ in fake.calls)
    run("infer", "demo", "-i", "input=[1, 2]", "-d", "fp64")
    assert sent(fake)[0]["input"].dtype == np.float64


def test_unknown_model_metadata_falls_back_to_the_literal(run: Run, fake: FakeClient) -> None:
    fake.models[("other", "1")] = fake.models[("demo", "1")]
    fake.models[("other", "1")].metadata.ClearField("inputs")
    run("infer", "other", "-i", "x=[1, 2]", "-i", 'y=["a", "b"]', "-i", "z=true")
    inputs, datatypes, _ = sent(fake)
    assert inputs["x"].dtype == np.int64 and inputs["y"].dtype == object
    assert inputs["z"].shape == () and datatypes == {}


def test_npy_and_json_files(run: Run, fake: FakeClient, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float64))
    (tmp_path / "x.json").write_text("[[1, 2, 3, 4]]")
    run("infer", "demo", "-i", f"input=@{tmp_path / 'x.npy'}")
    inputs, datatypes, _ = sent(fake)
    assert inputs["input"].dtype == np.float64 and datatypes == {}  # a .npy keeps its dtype
    assert not any(name == "model_metadata" for name, _ in fake.calls)
    run("infer", "demo", "-i", f"input=@{tmp_path / 'x.json'}")
    assert sent(fake)[0]["input"].dtype == np.float32


def test_json_output_and_selected_outputs(run: Run, fake: FakeClient) -> None:
    result = run("infer", "demo", "--version", "1", "-i", "input=[[1, 1, 1, 1]]", "-o", "output",
                 "--json")
    document = json.loads(result.out)
    assert document == {"model_name": "demo", "outputs": [
        {"name": "output", "datatype": "FP32", "shape": [1, 1], "data": [[4.0]]}
    ]}
    _, args = fake.calls[-1]
    assert (args[2], args[3]) == (["output"], "1")


def test_bytes_outputs_print_as_text(run: Run) -> None:
    result = run("infer", "demo", "-i", 'input=["héllo"]', "-d", "BYTES", "--json")
    assert json.loads(result.out)["outputs"][0] == {
        "name": "echo", "datatype": "BYTES", "shape": [1], "data": ["héllo"]
    }


def test_save_dir(run: Run, tmp_path: Path) -> None:
    result = run("infer", "demo", "-i", "input=[[1, 2, 3, 4]]", "--save-dir", str(tmp_path / "o"))
    saved = np.load(tmp_path / "o" / "output.npy")
    assert saved.tolist() == [[10.0]]
    assert f"saved output to {tmp_path / 'o' / 'output.npy'}" in result.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-i", "input=[[1, 2"], "is not a JSON literal"),
        (["-i", "input=@/no/such.npy"], "cannot read /no/such.npy"),
        (["-i", "input=@/no/such.json"], "cannot read /no/such.json"),
        (["-i", "input=[[1], [2, 3]]"], "not a rectangular array"),
        (["-i", 'input={"a": 1}'], "expected numbers, booleans or strings"),
        (["-i", "input=[1]", "-d", "FP8"], "unknown datatype"),
        (["-i", "input=[1]", "-d", "other=FP32"], "no --input named 'other'"),
        (["-i", "input=[1]", "-i", "input=[2]"], "each --input name may appear once"),
        (["-i", "input=[1.5]", "-d", "BOOL"], ""),  # numpy casts; the server judges
    ],
)
def test_input_mistakes_are_usage_errors(run: Run, argv: list[str], message: str) -> None:
    result = run("infer", "demo", *argv)
    if not message:
        assert result.code == 0
        return
    assert result.code == 2, result.err
    assert result.err.startswith("mlos: error: ") and message in result.err


def test_npy_with_pickles_is_refused(run: Run, tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = run("infer", "demo", "-i", f"input=@{tmp_path / 'o.npy'}")
    assert result.code == 2 and "is not a .npy array" in result.err


def test_json_data_prints_short_floats_that_read_back_exactly() -> None:
    array = np.array([[0.1, -0.235394999, 3e-8]], np.float32)
    data = json_data(array)
    assert data == [[0.1, -0.235395, 3e-08]]
    assert np.array(data, np.float32).tobytes() == array.tobytes()
    assert json_data(np.array([b"\xff"], dtype=object)) == ["\\xff"]
