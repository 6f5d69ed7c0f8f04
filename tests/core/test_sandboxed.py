"""Plugin processes under their limits: memory, open files, processes, CPUs; how they end."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.errors import MLOSError, Unavailable
from mlos.sandbox.cgroups import CgroupTree
from mlos.sandbox.limits import Limits
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import PROBE_PLUGIN, Settings, add_plugin, model_file, probe_model

X = np.arange(8, dtype=np.float32).reshape(2, 4)


def request(model: str, x: np.ndarray = X) -> smi_pb2.InferRequest:
    return smi_pb2.InferRequest(model_name=model, inputs=[from_numpy("x", x)])


def y(response: smi_pb2.InferResponse) -> np.ndarray:
    output = response.outputs[0]
    return np.frombuffer(output.contents, dtype=np.float32).reshape(output.shape)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def probe(engine: Engine, tmp_path: Path, behavior: str, limits: Limits, name: str = "") -> str:
    """Load the probe plugin as `name` under `limits` with one model of `behavior`; its name."""
    name = name or behavior
    await add_plugin(engine, name, PROBE_PLUGIN, limits)
    await engine.register_model(
        smi_pb2.RegisterModelRequest(name=name, plugin=name, path=str(probe_model(tmp_path, behavior)))
    )
    return name


async def test_a_plugin_over_its_memory_limit_is_killed_reported_and_restarted(
    engine: Engine, tmp_path: Path
) -> None:
    await add_plugin(engine, "double")
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", plugin="double", path=str(model_file(tmp_path))))
    await probe(engine, tmp_path, "alloc", Limits(memory_bytes=384 * 2**20))
    before = await engine.get_plugin("alloc")
    assert "384 MiB" in before.sandbox

    answers: list[np.ndarray] = []
    failures: list[BaseException] = []
    stop = asyncio.Event()

    async def steady_client() -> None:
        while not stop.is_set():
            try:
                answers.append(y(await engine.infer(request("m"))))
            except MLOSError as exc:
                failures.append(exc)
            await asyncio.sleep(0.002)

    client = asyncio.ensure_future(steady_client())
    try:
        with pytest.raises(Unavailable):
            await engine.infer(request("alloc"))

        async def restarted() -> bool:
            status = await engine.get_plugin("alloc")
            ready = status.restarts == 1 and status.state == smi_pb2.PLUGIN_STATE_READY
            return ready and await engine.model_ready("alloc")

        await wait_for(restarted)
    finally:
        stop.set()
        await client
    status = await engine.get_plugin("alloc")
    assert status.last_exit.startswith("plugin process killed: memory limit 384 MiB (")
    assert status.pid not in (0, before.pid)
    assert failures == []
    assert len(answers) > 10 and all((answer == X * 2).all() for answer in answers)


async def test_open_files_are_limited(engine: Engine, tmp_path: Path) -> None:
    await probe(engine, tmp_path, "files", Limits(open_files=64))
    opened = int(y(await engine.infer(request("files")))[0, 0])
    assert 0 < opened < 64
    assert "rlimit nofile 64" in (await engine.get_plugin("files")).sandbox


def _pids_enforceable() -> bool:
    tree = CgroupTree.find("auto")
    return tree is not None and "pids" in tree.controllers


@pytest.mark.skipif(not _pids_enforceable(), reason="no pids cgroup here, and RLIMIT_NPROC needs a plugin user")
async def test_processes_are_limited(engine: Engine, tmp_path: Path) -> None:
    await probe(engine, tmp_path, "fork", Limits(processes=24))
    started = int(y(await engine.infer(request("fork")))[0, 0])
    # the host's own threads count too: fewer children than the limit, but some
    assert 0 < started < 24
    status = await engine.get_plugin("fork")
    assert "pids" in status.sandbox and "not enforced" not in status.sandbox
    assert status.state == smi_pb2.PLUGIN_STATE_READY


async def test_unenforceable_limits_are_said_so(tmp_path: Path) -> None:
    engine = Engine(Settings(tmp_path / "home", plugin_cgroup="off"))
    await engine.start()
    try:
        await probe(engine, tmp_path, "double", Limits(processes=24, cpu_weight=50))
        status = await engine.get_plugin("double")
        assert "not enforced: processes" in status.sandbox
        assert "cpu weight (needs a cgroup with the cpu controller)" in status.sandbox
        assert status.limits.processes == 24 and status.limits.cpu_weight == 50
    finally:
        await engine.stop()


async def test_cpus_are_the_plugins_affinity(engine: Engine, tmp_path: Path) -> None:
    cpu = max(os.sched_getaffinity(0))
    await probe(engine, tmp_path, "cpus", Limits(cpus=(cpu,)))
    assert int(y(await engine.infer(request("cpus")))[0, 0]) == 1
    assert (await engine.get_plugin("cpus")).limits.cpus == str(cpu)


async def test_configured_limits_apply_and_are_shown(tmp_path: Path) -> None:
    settings = Settings(
        tmp_path / "home",
        plugin_limits={"*": Limits(open_files=48), "files": Limits(memory_bytes=2**30)},
    )
    engine = Engine(settings)
    await engine.start()
    try:
        await probe(engine, tmp_path, "files", Limits(open_files=200))
        status = await engine.get_plugin("files")
        assert (status.limits.open_files, status.limits.memory_bytes) == (200, 2**30)
        assert 48 < int(y(await engine.infer(request("files")))[0, 0]) < 200
    finally:
        await engine.stop()


async def test_every_state_message_names_the_exit_code_or_signal(engine: Engine, tmp_path: Path) -> None:
    await probe(engine, tmp_path, "exit", Limits())
    with pytest.raises(Unavailable):
        await engine.infer(request("exit"))

    async def reported() -> bool:
        return bool((await engine.get_plugin("exit")).last_exit)

    await wait_for(reported)
    assert (await engine.get_plugin("exit")).last_exit == "plugin process exited with code 3"

    status = await add_plugin(engine, "double")
    os.kill(status.pid, signal.SIGSEGV)

    async def failed() -> bool:
        return "SIGSEGV" in (await engine.get_plugin("double")).message

    await wait_for(failed)
    message = (await engine.get_plugin("double")).message
    assert message.startswith("plugin process killed by signal SIGSEGV (11); restarting in ")


async def test_the_restart_back_off_starts_over_after_a_stable_period(tmp_path: Path) -> None:
    engine = Engine(Settings(tmp_path / "home", restart_backoff_initial=0.2, restart_backoff_stable=1.5))
    await engine.start()
    try:
        messages = []
        for wait_before in (0.0, 0.0, 2.0):
            await asyncio.sleep(wait_before)
            pid = (await engine.get_plugin("double")).pid if messages else (await add_plugin(engine, "double")).pid
            os.kill(pid, signal.SIGKILL)

            async def restarting() -> bool:
                return "restarting in" in (await engine.get_plugin("double")).message

            async def back(pid: int = pid) -> bool:
                status = await engine.get_plugin("double")
                return status.state == smi_pb2.PLUGIN_STATE_READY and status.pid not in (0, pid)

            await wait_for(restarting)
            messages.append((await engine.get_plugin("double")).message)
            await wait_for(back)
        waits = [message.rsplit("restarting in ", 1)[1] for message in messages]
        assert waits == ["0.2 s", "0.4 s", "0.2 s"]
        assert all(m.startswith("plugin process killed by signal SIGKILL (9)") for m in messages)
    finally:
        await engine.stop()


def _another_user_can_run_this_python() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run([sys.executable, "-c", "import mlos, numpy"], user=65534, group=65534,
                              capture_output=True, timeout=60, cwd="/")
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.mark.skipif(not _another_user_can_run_this_python(),
                    reason="needs root, and an interpreter and packages user 65534 can read")
async def test_a_plugin_user_of_its_own(tmp_path: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="mlos-user-test-"))
    try:
        shared.chmod(0o755)
        report = shared / "report.json"
        report.touch()
        report.chmod(0o666)
        models = [probe_model(shared, behavior) for behavior in ("report", "fork")]
        for path in models:
            path.chmod(0o644)
        settings = Settings(
            tmp_path / "home", plugin_cgroup="off", model_roots=(shared,),
            plugin_limits={"probe": Limits(user="65534", processes=24)},
        )
        engine = Engine(settings)
        await engine.start()
        try:
            status = await add_plugin(engine, "probe", PROBE_PLUGIN)
            assert "user 65534" in status.sandbox and "rlimit nproc 24" in status.sandbox
            await engine.register_model(smi_pb2.RegisterModelRequest(
                name="report", path=str(models[0]), config={"report": str(report)}))
            await engine.register_model(smi_pb2.RegisterModelRequest(name="fork", path=str(models[1])))
            assert int(y(await engine.infer(request("fork")))[0, 0]) < 24
        finally:
            await engine.stop()
        seen = json.loads(report.read_text())
        assert seen["uid"] == 65534 and seen["no_new_privs"] == "1"
        assert seen["env"]["HOME"] == seen["cwd"] and Path(seen["cwd"]).name.startswith("mlos-plugin-probe-")
        assert not Path(seen["cwd"]).exists()  # removed when the process ended
    finally:
        shutil.rmtree(shared, ignore_errors=True)
