"""OnnxPlugin: discovery, capabilities, model paths, bad files, all-or-nothing loads."""

from __future__ import annotations

import gc
import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import pytest
from onnx import helper

import mlos
from mlos.errors import InvalidArgument
from mlos.sdk.base import ModelSpec
from mlos.wire.tensors import DATATYPES
from mlos_plugins.onnx import OnnxModel, OnnxPlugin
from tests.models import identity_model, mlp_model, save, sequence_input_model


def test_found_through_its_entry_point() -> None:
    (entry,) = importlib.metadata.entry_points(group="mlos.plugins", name="onnx")
    assert entry.load() is OnnxPlugin


def test_describes_itself(plugin: OnnxPlugin) -> None:
    assert plugin.name == "onnx"
    assert plugin.version == mlos.__version__
    caps = plugin.capabilities()
    assert list(caps.formats) == ["onnx"]
    assert list(caps.file_extensions) == [".onnx"]
    assert list(caps.datatypes) == list(DATATYPES)  # every Open Inference Protocol datatype
    assert caps.max_concurrency >= 2
    assert caps.max_batch_size > 0
    assert caps.gpu == ("CUDAExecutionProvider" in ort.get_available_providers())


def spec(path: Path, **config: str) -> ModelSpec:
    return ModelSpec(name="m", version="1", path=path, config=config)


def test_loads_a_directory_with_one_model(plugin: OnnxPlugin, tmp_path: Path) -> None:
    save(mlp_model(), tmp_path / "any-name.onnx")
    (tmp_path / "README.txt").write_text("weights beside the model are fine")
    model = plugin.load(spec(tmp_path))
    assert model.file == tmp_path / "any-name.onnx"
    model.unload()


def test_prefers_model_onnx_in_a_directory(plugin: OnnxPlugin, tmp_path: Path) -> None:
    save(mlp_model(), tmp_path / "model.onnx")
    save(identity_model("INT8"), tmp_path / "other.onnx")
    model = plugin.load(spec(tmp_path))
    assert model.inputs[0].name == "input"
    model.unload()


def test_refuses_an_ambiguous_directory(plugin: OnnxPlugin, tmp_path: Path) -> None:
    save(mlp_model(), tmp_path / "a.onnx")
    save(mlp_model(), tmp_path / "b.onnx")
    with pytest.raises(InvalidArgument, match=r"several \.onnx files \(a\.onnx, b\.onnx\)"):
        plugin.load(spec(tmp_path))


def test_refuses_an_empty_directory(plugin: OnnxPlugin, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"without an \.onnx file"):
        plugin.load(spec(tmp_path))


def test_refuses_a_missing_path(plugin: OnnxPlugin, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such file"):
        plugin.load(spec(tmp_path / "missing.onnx"))


def write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / name
        path.write_bytes(data)
        return path

    return make


def truncated(directory: Path) -> Path:
    data = mlp_model().SerializeToString()
    return write("truncated.onnx", data[: len(data) // 2])(directory)


def unknown_op(directory: Path) -> Path:
    model = identity_model("FP32")
    model.graph.node[0].CopyFrom(helper.make_node("NoSuchOperator", ["x"], ["y"]))
    return save(model, directory / "unknown-op.onnx")


@pytest.mark.parametrize(
    "make",
    [
        write("empty.onnx", b""),
        write("text.onnx", b"not a model\n"),
        write("noise.onnx", bytes(range(256)) * 8),
        truncated,
        unknown_op,
    ],
    ids=["empty", "text", "noise", "truncated", "unknown-operator"],
)
def test_bad_files_are_invalid_argument(
    plugin: OnnxPlugin, tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path)
    with pytest.raises(InvalidArgument, match="not an ONNX model onnxruntime") as caught:
        plugin.load(spec(path))
    assert str(path) in caught.value.message
    assert "[ONNXRuntimeError]" not in caught.value.message


def live_sessions() -> int:
    gc.collect()
    return sum(isinstance(o, ort.InferenceSession) for o in gc.get_objects())


def test_a_failed_load_keeps_no_session(plugin: OnnxPlugin, tmp_path: Path) -> None:
    before = live_sessions()
    path = save(sequence_input_model(), tmp_path / "seq.onnx")
    with pytest.raises(InvalidArgument) as caught:
        plugin.load(spec(path))
    # The exception (and its traceback) is still alive here; the session must not be.
    assert caught.value is not None
    assert live_sessions() == before


def test_bad_config_is_refused_before_loading(plugin: OnnxPlugin, tmp_path: Path) -> None:
    path = save(mlp_model(), tmp_path / "mlp.onnx")
    with pytest.raises(InvalidArgument, match="unknown config option 'threads'"):
        plugin.load(spec(path, threads="2"))
    with pytest.raises(InvalidArgument, match="intra_op_threads"):
        plugin.load(spec(path, intra_op_threads="many"))


def test_config_reaches_the_session(plugin: OnnxPlugin, tmp_path: Path) -> None:
    path = save(mlp_model(), tmp_path / "mlp.onnx")
    model = plugin.load(
        spec(
            path,
            intra_op_threads="2",
            inter_op_threads="2",
            graph_optimization_level="basic",
            execution_mode="parallel",
        )
    )
    assert isinstance(model, OnnxModel)
    options = model.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 2
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert model.properties()["intra_op_threads"] == "2"
    model.unload()


def test_cuda_asked_for_without_cuda_runs_on_cpu(plugin: OnnxPlugin, tmp_path: Path) -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    model = plugin.load(spec(save(mlp_model(), tmp_path / "mlp.onnx"), device="cuda"))
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    model.unload()


@pytest.mark.parametrize(
    ("instances", "cpus", "config", "threads"),
    [
        (0, 4.0, {}, "1"),  # no instance count: the plugin's default, as before
        (1, 4.0, {}, "4"),  # one instance: every granted core
        (2, 4.0, {}, "2"),  # the cores split among the instances
        (3, 2.0, {}, "1"),  # at least one thread each
        (2, 4.0, {"intra_op_threads": "3"}, "3"),  # a configured count wins
    ],
)
def test_an_instance_s_session_gets_its_share_of_the_cores(
    plugin: OnnxPlugin,
    tmp_path: Path,
    instances: int,
    cpus: float,
    config: dict[str, str],
    threads: str,
) -> None:
    path = save(mlp_model(), tmp_path / "m.onnx")
    spec = ModelSpec("m", "1", path, config, instance_count=instances, instance=0, cpus=cpus)
    model = plugin.load(spec)
    try:
        assert model.properties()["intra_op_threads"] == threads
    finally:
        model.unload()


def test_an_instance_without_declared_cores_splits_the_process_cpus() -> None:
    spec = ModelSpec("m", "1", Path("m.onnx"), instance_count=2)
    assert spec.instance_threads(1) == max(1, len(os.sched_getaffinity(0)) // 2)
    assert OnnxPlugin.instance_kind == "copies"  # one session per instance
