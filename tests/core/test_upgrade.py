"""Hot swap of a plugin in a real engine (real plugin processes): the switch, the drain, and
the rollback when the new version cannot start, load or warm up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import psutil
import pytest

from mlos.core.engine import Engine
from mlos.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import add_double_plugin, model_file

V2 = "tests.sdk.swap_plugins:DoubleV2"
V1 = "tests.sdk.echo_plugin:EchoPlugin"


def upgrade(module: str = "", version: str = "", drain: float = 0.0) -> smi_pb2.UpgradePluginRequest:
    request = smi_pb2.UpgradePluginRequest(name="double", version=version, drain_timeout_seconds=drain)
    if module:
        request.source.module = module
    return request


async def infer(engine: Engine, value: float) -> np.ndarray:
    x = np.full((2, 4), value, dtype=np.float32)
    response = await engine.infer(smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("x", x)]))
    return to_numpy(response.outputs[0])


async def setup(engine: Engine, tmp_path: Path) -> int:
    await add_double_plugin(engine)
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    return (await engine.get_plugin("double")).pid


async def test_upgrade_switches_to_a_new_process_and_stops_the_old(engine: Engine, tmp_path: Path) -> None:
    old_pid = await setup(engine, tmp_path)
    status = await engine.upgrade_plugin(upgrade(V2, "0.0.2"))
    assert status.version == "0.0.2" and status.state == smi_pb2.PLUGIN_STATE_READY
    assert status.pid != old_pid and status.source.module == V2
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
    np.testing.assert_array_equal(await infer(engine, 1.5), np.full((2, 4), 3.0, np.float32))
    # The registration now names the new source: it survives a restart of the core.
    assert engine.store.plugins()[0].source == V2
    assert engine.store.plugins()[0].version == "0.0.2"
    # And back (a rollback is an upgrade to the old version).
    back = await engine.upgrade_plugin(upgrade(V1))
    assert back.version == "0.0.1" and back.pid not in (old_pid, status.pid)
    np.testing.assert_array_equal(await infer(engine, 2.0), np.full((2, 4), 4.0, np.float32))


@pytest.mark.parametrize(
    ("module", "version", "says"),
    [
        ("tests.sdk.swap_plugins:LoadFails", "", "cannot load model 'm' version '1'"),
        ("tests.sdk.swap_plugins:WarmupFails", "", "cannot warm up model 'm' version '1'"),
        ("tests.sdk.swap_plugins:Missing", "", "cannot start"),
        (V2, "9.9", "reports version 0.0.2"),
    ],
)
async def test_a_failed_upgrade_switches_nothing(
    engine: Engine, tmp_path: Path, module: str, version: str, says: str
) -> None:
    old_pid = await setup(engine, tmp_path)
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(FailedPrecondition, match="upgrade of plugin 'double' failed") as failed:
        await engine.upgrade_plugin(upgrade(module, version))
    assert says in failed.value.message
    assert "version 0.0.1 keeps serving" in failed.value.message
    status = await engine.get_plugin("double")
    assert status.pid == old_pid and status.version == "0.0.1" and status.source.module == V1
    np.testing.assert_array_equal(await infer(engine, 1.0), np.full((2, 4), 2.0, np.float32))
    # The new version's process is gone.
    assert {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()} <= children


async def test_upgrade_refuses_what_the_api_may_not_start(engine: Engine, tmp_path: Path) -> None:
    await setup(engine, tmp_path)
    with pytest.raises(PermissionDenied):
        await engine.upgrade_plugin(upgrade("elsewhere.mod:Plugin"))
    with pytest.raises(NotFound):
        await engine.upgrade_plugin(smi_pb2.UpgradePluginRequest(name="nope"))
    await engine.unload_plugin("double")
    with pytest.raises(FailedPrecondition, match="not loaded"):
        await engine.upgrade_plugin(upgrade(V2))


async def test_calls_in_flight_finish_on_the_old_process(engine: Engine, tmp_path: Path) -> None:
    await setup(engine, tmp_path)
    stop = asyncio.Event()
    answers: list[bool] = []
    failures: list[BaseException] = []

    async def client(value: float) -> None:
        while not stop.is_set():
            try:
                y = await infer(engine, value)
                answers.append(bool(np.all(y == 2 * value)))
            except Exception as exc:
                failures.append(exc)

    tasks = [asyncio.create_task(client(float(i))) for i in range(8)]
    for i in range(6):
        await engine.upgrade_plugin(upgrade(V2 if i % 2 == 0 else V1))
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*tasks)
    assert failures == []
    assert len(answers) > 50 and all(answers)
    process = engine.plugins.get("double").process
    assert process is not None and process.in_flight.count == 0
    assert engine.plugins.get("double").retiring is None


async def test_registering_a_version_again_with_another_file_swaps_it_under_load(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.register_plugin(
        smi_pb2.RegisterPluginRequest(
            name="double", source=smi_pb2.PluginSource(module="tests.sdk.swap_plugins:ScalePlugin")
        )
    )
    await engine.load_plugin("double")
    (tmp_path / "two.double").write_text("2")
    (tmp_path / "three.double").write_text("3")
    (tmp_path / "bad.double").write_text("many")
    register = smi_pb2.RegisterModelRequest(name="m", version="1", path=str(tmp_path / "two.double"))
    await engine.register_model(register)
    stop = asyncio.Event()
    seen: list[list[float]] = [[] for _ in range(6)]
    failures: list[BaseException] = []

    async def client(index: int) -> None:
        while not stop.is_set():
            try:
                y = await infer(engine, 1.0)
                seen[index].append(float(y[0, 0]))
            except Exception as exc:  # every failure is what this test counts
                failures.append(exc)

    tasks = [asyncio.create_task(client(i)) for i in range(6)]
    await asyncio.sleep(0.1)
    # A file the plugin cannot load: nothing switches, the old file keeps serving.
    register.path = str(tmp_path / "bad.double")
    with pytest.raises(FailedPrecondition, match="holds no number"):
        await engine.register_model(register)
    register.path = str(tmp_path / "three.double")
    status = await engine.register_model(register)
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks)
    assert failures == []
    assert status.path == str(tmp_path / "three.double")
    assert engine.store.models()[0].path == str(tmp_path / "three.double")
    for answers in seen:
        # Every answer is from one file or the other, and never the old one after the new.
        assert set(answers) <= {2.0, 3.0} and answers[0] == 2.0 and answers[-1] == 3.0
        assert answers == sorted(answers)
    # The same registration again is still a conflict, not a swap.
    with pytest.raises(AlreadyExists):
        await engine.register_model(register)


async def test_one_upgrade_of_a_plugin_at_a_time(engine: Engine, tmp_path: Path) -> None:
    await setup(engine, tmp_path)
    first = asyncio.create_task(engine.upgrade_plugin(upgrade(V2)))
    await asyncio.sleep(0)  # the first holds the plugin's upgrade lock now
    with pytest.raises(FailedPrecondition, match="being upgraded already"):
        await engine.upgrade_plugin(upgrade(V1))
    assert (await first).version == "0.0.2"


async def test_a_bad_drain_timeout_is_refused(engine: Engine, tmp_path: Path) -> None:
    pid = await setup(engine, tmp_path)
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(InvalidArgument, match="drain_timeout_seconds"):
            await engine.upgrade_plugin(upgrade(V2, drain=bad))
    assert (await engine.get_plugin("double")).pid == pid
