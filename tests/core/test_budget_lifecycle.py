"""Grants follow the plugin's lifecycle in a real engine: a plugin that dies gives its models'
grants back, and they are admitted again as its restart loads them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from mlos.core.engine import Engine
from mlos_generated import smi_pb2
from tests.core.conftest import add_double_plugin, model_file

MiB = 2**20


async def _models(engine: Engine) -> dict[str, smi_pb2.ModelResourceUse]:
    return {m.name: m for m in (await engine.resources()).models}


async def test_a_dead_plugin_gives_its_grants_back_and_its_restart_takes_them_again(
    engine: Engine, tmp_path: Path
) -> None:
    status = await add_double_plugin(engine)
    await engine.register_model(
        smi_pb2.RegisterModelRequest(
            name="m", path=str(model_file(tmp_path)), plugin="double",
            resources=smi_pb2.ModelResources(memory_bytes=64 * MiB, cpus=0.5),
        )
    )  # fmt: skip
    before = await _models(engine)
    assert before["m"].memory_granted_bytes == 64 * MiB and before["m"].basis == "declared"
    budget = (await engine.resources()).budget
    assert budget.cpus_granted == 0.5 and budget.memory_granted_bytes >= 64 * MiB

    os.kill(status.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while engine.plugins.get("double").ready:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert "m" not in await _models(engine)  # gone with its process
    assert (await engine.resources()).budget.cpus_granted == 0.0

    while not await engine.model_ready("m"):
        assert time.monotonic() < deadline, "the model did not come back"
        await asyncio.sleep(0.02)
    again = await _models(engine)
    assert again["m"].memory_granted_bytes == 64 * MiB and again["m"].cpus_granted == 0.5
    plugin = (await engine.resources()).plugins[0]
    assert plugin.pid != status.pid and plugin.baseline_bytes > 0

    await engine.unload_model("m")
    assert "m" not in await _models(engine)
