"""The torch plugin in-process: loading every format, metadata, inference, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import TensorSpec
from mlos_plugins.torch import TorchPlugin
from tests.plugins.torch import nets
from tests.plugins.torch.conftest import X_SIGNATURE, Loader

X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)


def expected(x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        result: np.ndarray = nets.SmallNet()(torch.from_numpy(x)).numpy()
        return result


def test_describes_itself(plugin: TorchPlugin) -> None:
    capabilities = plugin.capabilities()
    assert plugin.name == "torch"
    assert set(capabilities.formats) == {"torchscript", "torch_export"}
    assert ".pt" in capabilities.file_extensions and ".pt2" in capabilities.file_extensions
    assert "BYTES" not in capabilities.datatypes and "BF16" in capabilities.datatypes


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_with_declared_signature(
    kind: str, files: dict[str, Path], load: Loader
) -> None:
    model = load(files[kind], inputs=X_SIGNATURE)
    assert model.platform == "pytorch_libtorch"
    assert model.inputs == (TensorSpec("x", "FP32", (-1, 4)),)
    # Outputs were not declared: found by running on zeros, batch dimension dynamic.
    assert model.outputs == (TensorSpec("output__0", "FP32", (-1, 3)),)
    assert model.max_batch_size > 0
    np.testing.assert_allclose(model.infer({"x": X}, [])["output__0"], expected(X), rtol=1e-6)
    assert model.properties()["grad_mode"] == "inference_mode"


def test_export_program_describes_itself(files: dict[str, Path], load: Loader) -> None:
    model = load(files["export"])
    assert model.platform == "pytorch_export"
    assert model.inputs == (TensorSpec("x", "FP32", (-1, 4)),)
    assert model.outputs == (TensorSpec("output__0", "FP32", (-1, 3)),)
    assert model.properties()["format"] == "torch_export"
    np.testing.assert_allclose(model.infer({"x": X}, [])["output__0"], expected(X), rtol=1e-6)
    single = model.infer({"x": X[:1]}, [])["output__0"]
    np.testing.assert_allclose(single, expected(X[:1]), rtol=1e-6)


def test_export_program_may_update_its_buffers(tmp_path: Path, load: Loader) -> None:
    path = nets.save_export(nets.Counter(), tmp_path / "counter.pt2")
    model = load(path)
    zeros = np.zeros((2, 4), dtype=np.float32)
    assert model.infer({"x": zeros}, [])["output__0"].tolist() == [[1.0] * 4] * 2
    assert model.infer({"x": zeros}, [])["output__0"].tolist() == [[2.0] * 4] * 2


def test_declaration_renames_export_outputs(files: dict[str, Path], load: Loader) -> None:
    outputs = json.dumps([{"name": "probabilities"}])
    model = load(files["export"], outputs=outputs)
    assert [spec.name for spec in model.outputs] == ["probabilities"]
    assert set(model.infer({"x": X}, [])) == {"probabilities"}


def test_declaration_that_contradicts_the_program_is_refused(
    files: dict[str, Path], load: Loader
) -> None:
    wrong = json.dumps([{"name": "x", "datatype": "INT32", "shape": [-1, 4]}])
    with pytest.raises(InvalidArgument, match="FP32 in the model"):
        load(files["export"], inputs=wrong)
    narrow = json.dumps([{"name": "x", "datatype": "FP32", "shape": [-1, 5]}])
    with pytest.raises(InvalidArgument, match="does not fit"):
        load(files["export"], inputs=narrow)


def test_several_inputs_and_tuple_outputs(files: dict[str, Path], load: Loader) -> None:
    inputs = json.dumps([
        {"datatype": "FP32", "shape": [-1, 3]},
        {"datatype": "INT64", "shape": [-1]},
    ])
    model = load(files["pair"], inputs=inputs)
    assert [s.name for s in model.inputs] == ["input__0", "input__1"]
    assert model.outputs == (
        TensorSpec("output__0", "FP32", (-1,)),
        TensorSpec("output__1", "INT64", (-1,)),
    )
    x = np.ones((2, 3), dtype=np.float32)
    n = np.array([1, 5], dtype=np.int64)
    result = model.infer({"input__0": x, "input__1": n}, ["output__1"])
    assert list(result) == ["output__1"]
    np.testing.assert_array_equal(result["output__1"], [2, 10])


def test_export_with_two_inputs(files: dict[str, Path], load: Loader) -> None:
    model = load(files["pair_export"])
    assert [(s.name, s.datatype) for s in model.inputs] == [("x", "FP32"), ("n", "INT64")]
    result = model.infer({"x": X, "n": np.arange(5, dtype=np.int64)}, [])
    np.testing.assert_allclose(result["output__0"], X.sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(result["output__1"], np.arange(5) * 2)


def test_dict_outputs_are_named_by_their_keys(files: dict[str, Path], load: Loader) -> None:
    model = load(files["dict"], inputs=json.dumps([{"name": "x", "datatype": "FP64",
                                                     "shape": [2]}]))
    assert model.outputs == (
        TensorSpec("double", "FP64", (2,)),
        TensorSpec("negated", "FP64", (2,)),
    )
    result = model.infer({"x": np.array([1.5, -2.0])}, [])
    np.testing.assert_array_equal(result["double"], [3.0, -4.0])
    np.testing.assert_array_equal(result["negated"], [-1.5, 2.0])


def test_bf16_travels_as_raw_bits(tmp_path: Path, load: Loader) -> None:
    path = nets.save_script(nets.DictNet(), tmp_path / "bf16.pt")
    model = load(path, inputs=json.dumps([{"name": "x", "datatype": "BF16", "shape": [-1]}]))
    values = torch.tensor([1.0, -3.5], dtype=torch.bfloat16)
    bits = values.view(torch.uint16).numpy()
    result = model.infer({"x": bits}, ["double"])["double"]
    assert result.dtype == np.uint16
    doubled = torch.from_numpy(result.copy()).view(torch.bfloat16).float().tolist()
    assert doubled == [2.0, -7.0]


def test_signature_from_a_sidecar_file(files: dict[str, Path], tmp_path: Path,
                                       load: Loader) -> None:
    path = tmp_path / "net.pt"
    path.write_bytes(files["script"].read_bytes())
    (tmp_path / "net.json").write_text(json.dumps({
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 3]}],
    }))
    model = load(tmp_path)  # the directory: its one model file is found
    assert [s.name for s in model.inputs] == ["features"]
    assert [s.name for s in model.outputs] == ["probs"]
    np.testing.assert_allclose(model.infer({"features": X}, [])["probs"], expected(X), rtol=1e-6)


def test_torchscript_without_a_signature_says_how_to_declare_one(
    files: dict[str, Path], load: Loader
) -> None:
    with pytest.raises(InvalidArgument, match="declare the inputs") as caught:
        load(files["script"])
    assert "forward takes x" in caught.value.message


def test_wrong_input_count_is_refused(files: dict[str, Path], load: Loader) -> None:
    two = json.dumps([{"datatype": "FP32", "shape": [4]}, {"datatype": "FP32", "shape": [4]}])
    with pytest.raises(InvalidArgument, match="declares 2 input"):
        load(files["script"], inputs=two)


def test_bytes_inputs_are_refused(files: dict[str, Path], load: Loader) -> None:
    text = json.dumps([{"name": "x", "datatype": "BYTES", "shape": [-1]}])
    with pytest.raises(InvalidArgument, match="no tensor type for BYTES"):
        load(files["script"], inputs=text)


def test_input_the_model_cannot_take_is_invalid_argument(
    files: dict[str, Path], load: Loader
) -> None:
    # Declared wider than the network's first layer: the run fails inside PyTorch.
    wide = json.dumps([{"name": "x", "datatype": "FP32", "shape": [-1, -1]}])
    model = load(files["script"], inputs=wide, outputs=json.dumps(
        [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}]))
    with pytest.raises(InvalidArgument, match="model 'm'"):
        model.infer({"x": np.ones((1, 7), dtype=np.float32)}, [])


def test_unknown_option_and_missing_cuda(files: dict[str, Path], load: Loader) -> None:
    with pytest.raises(InvalidArgument, match="unknown config option 'colour'"):
        load(files["export"], colour="blue")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="no usable CUDA"):
            load(files["export"], device="cuda")


def test_threads_apply_per_model(files: dict[str, Path], load: Loader) -> None:
    model = load(files["export"], intra_op_threads="1")
    assert model.properties()["intra_op_threads"] == "1"
    model.infer({"x": X}, [])
    assert torch.get_num_threads() == 1


def test_axon_keys_are_accepted(files: dict[str, Path], load: Loader, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "inputs:\n  - {name: x, datatype: FP32, shape: [-1, 4]}\n"
        "outputs:\n  - {name: scores, datatype: FP32, shape: [-1, 3]}\n"
    )
    model = load(files["script"], **{"axon.manifest": str(manifest), "axon.ref": "a/b@1"})
    assert [s.name for s in model.outputs] == ["scores"]


def test_unloaded_model_is_not_found(files: dict[str, Path], load: Loader) -> None:
    model = load(files["export"])
    model.unload()
    with pytest.raises(NotFound):
        model.infer({"x": X}, [])
