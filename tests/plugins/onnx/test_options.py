"""SessionConfig: parsing the `config` strings of a model."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from mlos.errors import InvalidArgument
from mlos_plugins.onnx.options import CPU_PROVIDER, CUDA_PROVIDER, OPTIONS, SessionConfig


def test_defaults() -> None:
    config = SessionConfig.parse({})
    assert config == SessionConfig()
    assert config.intra_op_threads == 1
    assert config.max_batch_size is None
    options = config.session_options(ort)
    assert options.intra_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


def test_every_option_parses() -> None:
    config = SessionConfig.parse(
        {
            "intra_op_threads": " 4 ",
            "inter_op_threads": "2",
            "graph_optimization_level": "Extended",
            "execution_mode": "parallel",
            "device": "cuda:1",
            "max_batch_size": "64",
            "spinning": "off",
        }
    )
    assert set(OPTIONS) == {
        "intra_op_threads",
        "inter_op_threads",
        "graph_optimization_level",
        "execution_mode",
        "device",
        "max_batch_size",
        "spinning",
    }
    assert config == SessionConfig(
        4, 2, "ORT_ENABLE_EXTENDED", "ORT_PARALLEL", "cuda", 1, 64, spinning=False
    )
    options = config.session_options(ort)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert SessionConfig.parse({}).spinning


def test_onnxruntime_names_are_accepted() -> None:
    config = SessionConfig.parse({"graph_optimization_level": "ORT_DISABLE_ALL"})
    assert config.graph_optimization_level == "ORT_DISABLE_ALL"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"intra_op_thread": "1"}, "unknown config option 'intra_op_thread'"),
        ({"intra_op_threads": "-1"}, "must not be negative"),
        ({"inter_op_threads": "two"}, "whole number"),
        ({"graph_optimization_level": "max"}, "disable, basic, extended, layout, all"),
        ({"execution_mode": "async"}, "sequential, parallel"),
        ({"device": "tpu"}, "cpu, cuda or cuda:N"),
        ({"device": "cuda:x"}, "cpu, cuda or cuda:N"),
        ({"max_batch_size": "1.5"}, "whole number"),
        ({"spinning": "maybe"}, "on, off"),
    ],
)
def test_bad_values_name_the_option(config: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        SessionConfig.parse(config)


def test_cuda_only_when_asked_for_and_present() -> None:
    cpu = SessionConfig.parse({})
    cuda = SessionConfig.parse({"device": "cuda:1"})
    assert cpu.providers([CUDA_PROVIDER, CPU_PROVIDER]) == [CPU_PROVIDER]
    assert cuda.providers([CPU_PROVIDER]) == [CPU_PROVIDER]
    assert cuda.providers([CUDA_PROVIDER, CPU_PROVIDER]) == [
        (CUDA_PROVIDER, {"device_id": "1"}),
        CPU_PROVIDER,
    ]
