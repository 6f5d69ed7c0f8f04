"""The core checks every answer against the model's declared outputs: a plugin that answers
with a wrong name, datatype, shape, batch or size fails the call, named; nothing is passed on."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.errors import InternalError, InvalidArgument
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import Settings, probe_model

X = np.ones((2, 4), dtype=np.float32)


@pytest.fixture
async def probed(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with the probe plugin as an executable whose host mangles some answers."""
    script = tmp_path / "probe-plugin"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.sdk.probe_plugin "$@"\n')
    script.chmod(0o755)
    engine = Engine(Settings(tmp_path / "home", plugin_executables=(script,)))
    await engine.start()
    await engine.register_plugin(
        smi_pb2.RegisterPluginRequest(name="probe", source=smi_pb2.PluginSource(executable=str(script)))
    )
    await engine.load_plugin("probe")
    for behavior in ("double", "wrong_shape", "wrong_batch", "wrong_datatype", "wrong_name",
                     "extra_output", "short_contents"):
        await engine.register_model(
            smi_pb2.RegisterModelRequest(name=behavior, path=str(probe_model(tmp_path, behavior)))
        )
    yield engine
    await engine.stop()


def request(model: str, *outputs: str) -> smi_pb2.InferRequest:
    return smi_pb2.InferRequest(
        model_name=model,
        inputs=[from_numpy("x", X)],
        outputs=[smi_pb2.RequestedOutput(name=name) for name in outputs],
    )


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("wrong_shape", "with output 'y' of shape [2, 3]; the model declares [-1, 4]"),
        ("wrong_batch", "with output 'y' of shape [3, 4], a batch of 3 for a request of 2"),
        ("wrong_datatype", "with output 'y' of datatype 'FP64'; the model declares FP32"),
        ("wrong_name", "with an output 'z' the model does not declare (outputs: y)"),
        ("extra_output", "with an output 'z' the model does not declare (outputs: y)"),
        ("short_contents", "with output 'y' of 28 bytes; shape [2, 4] of FP32 needs 32"),
    ],
)
async def test_a_wrong_answer_is_an_internal_error_naming_the_plugin(
    probed: Engine, model: str, problem: str
) -> None:
    with pytest.raises(InternalError) as caught:
        await probed.infer(request(model))
    assert caught.value.message == f"plugin 'probe' answered model {model!r} version '1' {problem}"
    stats = (await probed.model_statistics(model)).model_stats[0].inference_stats
    assert stats.fail.count == 1 and stats.success.count == 0
    # the plugin itself stays up and keeps answering the models it answers right
    answer = await probed.infer(request("double"))
    assert np.frombuffer(answer.outputs[0].contents, dtype=np.float32).tolist() == [2.0] * 8


async def test_right_answers_pass_whatever_outputs_are_asked_for(probed: Engine) -> None:
    for outputs in ((), ("y",)):
        answer = await probed.infer(request("double", *outputs))
        assert [o.name for o in answer.outputs] == ["y"]
    with pytest.raises(InvalidArgument, match="asked for twice"):
        await probed.infer(request("double", "y", "y"))
