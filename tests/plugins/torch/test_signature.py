"""Declared signatures: from config, signature files, Axon manifests, files beside the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlos.errors import InvalidArgument
from mlos_plugins.torch.options import TorchConfig, available_cpus
from mlos_plugins.torch.signature import Declared, find_signature

TENSORS = [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]


def test_config_wins(tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    (tmp_path / "m.json").write_text(json.dumps({"inputs": [{"name": "other"}]}))
    signature = find_signature(model, {"inputs": json.dumps(TENSORS)})
    assert signature.inputs == (Declared("x", "FP32", (-1, 4)),)
    assert signature.source == "config"


def test_files_are_found_in_order(tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    assert find_signature(model, {}).inputs == ()
    (tmp_path / "manifest.yaml").write_text("inputs: [{name: fromyaml, datatype: INT8}]\n")
    assert find_signature(model, {}).inputs[0].name == "fromyaml"
    (tmp_path / "m.json").write_text(json.dumps({"inputs": [{"name": "fromjson"}]}))
    assert find_signature(model, {}).inputs[0].name == "fromjson"
    named = tmp_path / "sig.yaml"
    named.write_text("outputs: [{name: y}]\n")
    signature = find_signature(model, {"signature_file": str(named)})
    assert signature.outputs == (Declared("y"),) and signature.inputs == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"name": "x"}', "must be a list"),
        ('[{"name": "x", "datatype": "FLOAT"}]', "datatype 'FLOAT'"),
        ('[{"name": "x", "shape": [-2]}]', "integers >= -1"),
        ('[{"name": "x", "colour": 1}]', "unknown tensor field"),
        ('[{"name": "x"}, {"name": "x"}]', "names repeat"),
    ],
)
def test_bad_declarations(value: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=message):
        find_signature(tmp_path / "m.pt", {"inputs": value})


def test_missing_signature_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="is not a file"):
        find_signature(tmp_path / "m.pt", {"signature_file": str(tmp_path / "nope.json")})


def test_options() -> None:
    config = TorchConfig.parse({"intra_op_threads": "3", "device": "CUDA:1"})
    assert (config.intra_op_threads, config.device) == (3, "cuda:1")
    assert TorchConfig.parse({}).intra_op_threads == available_cpus()
    with pytest.raises(InvalidArgument, match="whole number"):
        TorchConfig.parse({"intra_op_threads": "many"})
    with pytest.raises(InvalidArgument, match="expected cpu, cuda"):
        TorchConfig.parse({"device": "tpu"})
