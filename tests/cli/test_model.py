"""`mlos model ...` in-process against the fake client."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlos_generated import smi_pb2
from tests.cli.conftest import Run
from tests.cli.fake_client import FakeClient


def test_register_makes_the_path_absolute_and_parses_config(
    run: Run, fake: FakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("model", "register", "m", "m.onnx", "--plugin", "onnx", "--version", "3",
                 "--config", "threads=1", "mode=a=b")
    assert result.code == 0
    name, args = fake.calls[-1]
    assert name == "register_model"
    assert args == ("m", os.path.join(tmp_path, "m.onnx"), "onnx", "3",
                    {"threads": "1", "mode": "a=b"})
    lines = result.out.splitlines()
    assert lines[0] == "registered model m version 3 with plugin onnx: ready"
    assert lines[3].split() == ["input", "input", "FP32", "[-1,", "4]"]


def test_register_bad_config_is_usage_error(run: Run, fake: FakeClient) -> None:
    result = run("model", "register", "m", "/m.onnx", "--config", "novalue")
    assert result.code == 2
    assert result.err == "mlos: error: --config 'novalue': expected KEY=VALUE\n"
    assert not any(name == "register_model" for name, _ in fake.calls)


def test_register_with_resources_reserves_them(run: Run, fake: FakeClient) -> None:
    result = run("model", "register", "m", "/m.onnx", "--memory", "600MiB", "--cpus", "0.5",
                 "--gpus", "1")
    assert result.code == 0
    name, args = fake.calls[-1]
    assert name == "register_model"
    assert args[-1] == smi_pb2.ModelResources(memory_bytes=600 * 2**20, cpus=0.5, gpus=1)


@pytest.mark.parametrize(
    ("flags", "error"),
    [(["--memory", "lots"], "--memory: 'lots' is not a size in bytes"),
     (["--cpus", "-1"], "--cpus: -1 is not a number of cores"),
     (["--gpus", "2000"], "--gpus: 2000 is not from 0 to 1024")],
)
def test_register_with_bad_resources_is_a_usage_error(
    run: Run, fake: FakeClient, flags: list[str], error: str
) -> None:
    result = run("model", "register", "m", "/m.onnx", *flags)
    assert result.code == 2 and error in result.err
    assert not any(name == "register_model" for name, _ in fake.calls)


def test_register_with_scheduling_flags(run: Run, fake: FakeClient) -> None:
    result = run("model", "register", "m", "/m.onnx", "--instance-count", "2",
                 "--max-batch-size", "16", "--max-queue-delay-us", "500",
                 "--preferred-batch-size", "4", "8", "--priority-levels", "2",
                 "--default-priority-level", "1", "--max-queue-size", "64")
    assert result.code == 0, result.err
    name, args = fake.calls[-1]
    assert name == "register_model"
    assert args[4] == {"max_batch_size": "16"}
    assert args[-1] == {
        "dynamic_batching": {"preferred_batch_size": [4, 8], "max_queue_delay_us": 500,
                             "priority_levels": 2, "default_priority_level": 1,
                             "max_queue_size": 64},
        "instance_count": 2,
    }  # fmt: skip
    out = run("model", "show", "m").out
    assert "instances:      2" in out
    assert "on: max queue delay 500 us, preferred sizes 4,8, 2 priority levels" in out


def test_register_dynamic_batching_alone_switches_it_on(run: Run, fake: FakeClient) -> None:
    assert run("model", "register", "m", "/m.onnx", "--dynamic-batching").code == 0
    assert fake.calls[-1][1][-1] == {"dynamic_batching": {}, "instance_count": 0}
    assert run("model", "register", "p", "/p.onnx", "--instances", "3").code == 0
    assert fake.calls[-1][1][-1] == {"dynamic_batching": None, "instance_count": 3}
    assert "batching:       off" in run("model", "show", "p").out


@pytest.mark.parametrize(
    ("flags", "error"),
    [(["--instance-count", "0"], "--instance-count: 0 is not from 1 to 64"),
     (["--instance-count", "65"], "--instance-count: 65 is not from 1 to 64"),
     (["--max-queue-delay-us", "-1"], "--max-queue-delay-us: must not be negative"),
     (["--max-batch-size", "-2"], "--max-batch-size: must not be negative")],
)
def test_register_with_bad_scheduling_is_a_usage_error(
    run: Run, fake: FakeClient, flags: list[str], error: str
) -> None:
    result = run("model", "register", "m", "/m.onnx", *flags)
    assert result.code == 2 and error in result.err
    assert not any(name == "register_model" for name, _ in fake.calls)


def test_list(run: Run, fake: FakeClient) -> None:
    lines = run("model", "list").out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "PLUGIN", "STATE", "PATH"]
    assert lines[2].split() == ["demo", "1", "onnx", "ready", "/models/demo.onnx"]
    assert json.loads(run("model", "list", "--json").out)["models"][0]["state"] == "ready"
    fake.models.clear()
    assert "no models registered" in run("model", "list").out


def test_show_and_version(run: Run, fake: FakeClient) -> None:
    out = run("model", "show", "demo").out
    assert "platform:       onnxruntime_onnx" in out
    assert "output  output  FP32      [-1, 2]" in out
    run("model", "show", "demo", "--version", "1")
    assert fake.calls[-1] == ("get_model", ("demo", "1"))
    document = json.loads(run("model", "show", "demo", "--json").out)
    assert document["versions"][0]["metadata"]["inputs"][0]["shape"] == [-1, 4]


def test_remove(run: Run, fake: FakeClient) -> None:
    result = run("model", "remove", "demo", "--json")
    assert json.loads(result.out)["removed"][0]["name"] == "demo"
    assert fake.models == {}
    assert run("model", "remove", "demo").code == 1
