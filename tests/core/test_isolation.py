"""What the API may start and read, end to end through a real engine and plugin processes."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.errors import InvalidArgument, PermissionDenied, Unavailable
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import (
    DOUBLE_PLUGIN,
    PROBE_PLUGIN,
    REPO,
    Settings,
    add_plugin,
    model_file,
    probe_model,
)

POISON = "import pathlib\npathlib.Path({marker!r}).write_text('imported')\nraise SystemExit('poisoned')\n"


@pytest.fixture
async def strict_engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine whose configuration allows no module or executable plugin."""
    engine = Engine(Settings(tmp_path / "home", plugin_modules=()))
    await engine.start()
    yield engine
    await engine.stop()


def _marker_script(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    script = tmp_path / "plugin.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 5\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, marker


async def test_module_and_executable_sources_need_the_configuration(
    strict_engine: Engine, tmp_path: Path
) -> None:
    script, marker = _marker_script(tmp_path)
    for source in (
        smi_pb2.PluginSource(module=DOUBLE_PLUGIN),
        smi_pb2.PluginSource(module="os:system"),
        smi_pb2.PluginSource(executable=str(script)),
        smi_pb2.PluginSource(executable="sh"),
    ):
        with pytest.raises(PermissionDenied, match="not allowed"):
            await strict_engine.register_plugin(smi_pb2.RegisterPluginRequest(name="p", source=source))
    assert not (await strict_engine.list_plugins()).plugins
    assert strict_engine.store.plugins() == []
    assert not marker.exists()


async def test_bad_text_in_a_registration_is_an_invalid_argument(strict_engine: Engine) -> None:
    for request in (
        smi_pb2.RegisterPluginRequest(name="p", source=smi_pb2.PluginSource(entry_point="onnx\x00")),
        smi_pb2.RegisterPluginRequest(name="p", source=smi_pb2.PluginSource(executable="/bin/sh\x00x")),
        smi_pb2.RegisterPluginRequest(name="p\x00"),
        smi_pb2.RegisterPluginRequest(name="onnx", version="1\x00"),
    ):
        with pytest.raises(InvalidArgument):
            await strict_engine.register_plugin(request)


async def test_stored_plugins_are_checked_again_at_start(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "home")
    first = Engine(settings)
    await first.start()
    await add_plugin(first, "double")
    await first.stop()

    second = Engine(dataclasses.replace(settings, plugin_modules=()))
    await second.start()
    try:
        status = await second.get_plugin("double")
        assert status.state == smi_pb2.PLUGIN_STATE_FAILED
        assert "is not allowed" in status.message and status.pid == 0
    finally:
        await second.stop()


async def test_an_allowed_executable_runs_confined(tmp_path: Path) -> None:
    script = tmp_path / "probe-plugin"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.sdk.probe_plugin "$@"\n')
    script.chmod(0o755)
    engine = Engine(Settings(tmp_path / "home", plugin_executables=(script,)))
    await engine.start()
    try:
        await engine.register_plugin(
            smi_pb2.RegisterPluginRequest(name="probe", source=smi_pb2.PluginSource(executable=str(script)))
        )
        status = await engine.load_plugin("probe")
        assert status.state == smi_pb2.PLUGIN_STATE_READY
        assert "no_new_privs" in status.sandbox
        await engine.register_model(
            smi_pb2.RegisterModelRequest(name="m", path=str(probe_model(tmp_path, "double")))
        )
        x = np.ones((1, 4), dtype=np.float32)
        answer = await engine.infer(smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("x", x)]))
        assert np.frombuffer(answer.outputs[0].contents, dtype=np.float32).tolist() == [2.0] * 4
    finally:
        await engine.stop()


async def test_plugins_import_nothing_from_the_working_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder named `mlos` where the server runs, or where the plugin runs, is never imported."""
    markers = []
    home = tmp_path / "home"
    for directory in (tmp_path / "server-cwd", home / "plugins" / "probe"):
        (directory / "mlos").mkdir(parents=True)
        markers.append(directory / "imported")
        (directory / "mlos" / "__init__.py").write_text(POISON.format(marker=str(markers[-1])))
    monkeypatch.chdir(tmp_path / "server-cwd")
    engine = Engine(Settings(home))
    await engine.start()
    try:
        status = await add_plugin(engine, "probe", PROBE_PLUGIN)
        assert status.state == smi_pb2.PLUGIN_STATE_READY
        report = tmp_path / "report.json"
        await engine.register_model(
            smi_pb2.RegisterModelRequest(
                name="report", path=str(probe_model(tmp_path, "report")), config={"report": str(report)}
            )
        )
    finally:
        await engine.stop()
    assert not any(marker.exists() for marker in markers)
    seen = json.loads(report.read_text())
    assert seen["mlos"] == str(REPO / "mlos" / "__init__.py")
    assert seen["safe_path"] is True
    assert seen["cwd"] == str(home / "plugins" / "probe")
    assert str(tmp_path / "server-cwd") not in seen["sys_path"] and "" not in seen["sys_path"]
    assert seen["env"]["TMPDIR"] == str(home / "plugins" / "probe" / "tmp")
    assert seen["no_new_privs"] == "1"


async def test_plugins_get_a_scrubbed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOS_TOKEN", "secret-token")
    monkeypatch.setenv("SOME_SECRET", "secret")
    monkeypatch.setenv("PYTHONSTARTUP", str(tmp_path / "evil.py"))
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    engine = Engine(Settings(tmp_path / "home", plugin_env=("OMP_NUM_THREADS", "EXTRA=yes")))
    await engine.start()
    try:
        await add_plugin(engine, "probe", PROBE_PLUGIN)
        report = tmp_path / "report.json"
        await engine.register_model(
            smi_pb2.RegisterModelRequest(
                name="report", path=str(probe_model(tmp_path, "report")), config={"report": str(report)}
            )
        )
    finally:
        await engine.stop()
    env = json.loads(report.read_text())["env"]
    assert set(env) <= {
        "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "MLOS_SMI_FD", "MLOS_CHANNEL_FD",
        "MLOS_LOG_LEVEL", "MLOS_LOG_FORMAT", "MLOS_TRACE_ENDPOINT", "MLOS_PLUGIN_BUSY_POLL_US", "OMP_NUM_THREADS", "EXTRA", "LC_CTYPE",
    }
    assert (env["OMP_NUM_THREADS"], env["EXTRA"], env["LC_ALL"]) == ("7", "yes", "C.UTF-8")
    # The suite's plugin_python_path (tests/core/conftest.py): this tree, its generated code
    # and its plugins, in that order, and nothing of the server's own environment.
    expected = (REPO, REPO / "generated", REPO / "plugins")
    assert env["PYTHONPATH"] == os.pathsep.join(str(path) for path in expected)


async def test_model_paths_must_lie_under_the_model_roots(tmp_path: Path) -> None:
    roots = tmp_path / "models"
    roots.mkdir()
    inside = model_file(roots)
    outside = model_file(tmp_path, "outside.double")
    (roots / "link.double").symlink_to(outside)
    engine = Engine(Settings(tmp_path / "home", model_roots=(roots,)))
    await engine.start()
    try:
        await add_plugin(engine, "double")
        for path in (str(outside), f"{roots}/../outside.double", str(roots / "link.double"), "/etc/passwd"):
            with pytest.raises(PermissionDenied, match="outside the server's model roots"):
                await engine.register_model(smi_pb2.RegisterModelRequest(name="m", plugin="double", path=path))
        for path in (f"{roots}/m\x00.double", f"{roots}/\x7f"):
            with pytest.raises(InvalidArgument):
                await engine.register_model(smi_pb2.RegisterModelRequest(name="m", plugin="double", path=path))
        assert not (await engine.list_models()).models
        status = await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(inside)))
        assert status.state == smi_pb2.MODEL_STATE_READY and status.path == str(inside)
    finally:
        await engine.stop()


async def test_stored_models_are_checked_against_the_roots_again(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "home")
    first = Engine(settings)
    await first.start()
    await add_plugin(first, "double")
    await first.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    await first.stop()

    second = Engine(dataclasses.replace(settings, model_roots=(tmp_path / "home" / "models",)))
    await second.start()
    try:
        (status,) = (await second.get_model("m")).versions
        assert status.state == smi_pb2.MODEL_STATE_FAILED
        assert "outside the server's model roots" in status.message
        with pytest.raises(Unavailable):
            await second.model_metadata("m")
    finally:
        await second.stop()
