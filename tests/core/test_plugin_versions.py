"""Several versions of one plugin name side by side, on a real engine: each version in its own
process, models pinned to one version or following the default, management calls addressing one
version, the default moving, and all of it kept across a restart of the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.errors import (
    AlreadyExists,
    FailedPrecondition,
    IncompatibleVersion,
    InvalidArgument,
    NotFound,
)
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import DOUBLE_PLUGIN, Settings, model_file

V2 = "tests.sdk.swap_plugins:DoubleV2"


def register(name: str, version: str, module: str, default: bool = False) -> smi_pb2.RegisterPluginRequest:
    return smi_pb2.RegisterPluginRequest(
        name=name, version=version, source=smi_pb2.PluginSource(module=module), default=default
    )


async def doubled(engine: Engine, model: str) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    response = await engine.infer(smi_pb2.InferRequest(model_name=model, inputs=[from_numpy("x", x)]))
    np.testing.assert_array_equal(to_numpy(response.outputs[0]), 2 * x)


async def two_versions(engine: Engine, tmp_path: Path) -> tuple[int, int]:
    """`double` 0.0.1 (the default) serving `a`, 0.0.2 beside it serving `b`; their pids."""
    await engine.register_plugin(register("double", "0.0.1", DOUBLE_PLUGIN))
    await engine.register_plugin(register("double", "0.0.2", V2))
    first = await engine.load_plugin("double")
    second = await engine.load_plugin("double@0.0.2")
    path = str(model_file(tmp_path))
    await engine.register_model(smi_pb2.RegisterModelRequest(name="a", path=path, plugin="double"))
    await engine.register_model(
        smi_pb2.RegisterModelRequest(name="b", path=path, plugin="double@0.0.2")
    )
    return first.pid, second.pid


async def test_two_versions_serve_two_models_each_in_its_own_process(
    engine: Engine, tmp_path: Path
) -> None:
    first, second = await two_versions(engine, tmp_path)
    assert first and second and first != second
    listed = (await engine.list_plugins()).plugins
    assert [(p.name, p.registered_version, p.default, p.label, list(p.models)) for p in listed] == [
        ("double", "0.0.1", True, "double", ["a/1"]),
        ("double", "0.0.2", False, "double@0.0.2", ["b/1"]),
    ]
    assert [p.version for p in listed] == ["0.0.1", "0.0.2"]  # what each process reports
    for model in ("a", "b"):
        await doubled(engine, model)
    assert (await engine.get_model("b")).versions[0].plugin == "double@0.0.2"

    with pytest.raises(AlreadyExists, match=r"version '0\.0\.2'"):
        await engine.register_plugin(register("double", "0.0.2", V2))
    with pytest.raises(InvalidArgument, match="needs a version"):
        await engine.register_plugin(register("double", "", V2))
    with pytest.raises(NotFound, match=r"no version '9\.9'"):
        await engine.register_model(smi_pb2.RegisterModelRequest(
            name="c", path=str(model_file(tmp_path)), plugin="double@9.9"))  # fmt: skip
    with pytest.raises(FailedPrecondition, match="b/1"):
        await engine.remove_plugin("double@0.0.2")

    # Unloading the version beside stops its model only; the default keeps serving.
    await engine.unload_plugin("double@0.0.2")
    with pytest.raises(FailedPrecondition, match=r"'double@0\.0\.2' is not running"):
        await doubled(engine, "b")
    await doubled(engine, "a")
    assert (await engine.get_plugin("double")).pid == first
    await engine.load_plugin("double@0.0.2")
    await doubled(engine, "b")


async def test_the_default_moves_with_the_models_that_follow_it(
    engine: Engine, tmp_path: Path
) -> None:
    _, second = await two_versions(engine, tmp_path)
    moved = await engine.set_default_plugin("double", "0.0.2")
    assert moved.default and sorted(moved.models) == ["a/1", "b/1"]
    assert not (await engine.get_plugin("double@0.0.1")).default
    assert (await engine.get_plugin("double")).pid == second
    for model in ("a", "b"):
        await doubled(engine, model)
    # 0.0.1 serves nothing now and is removed; the default is not while another version is.
    await engine.register_plugin(register("double", "0.0.3", V2))
    await engine.remove_plugin("double@0.0.1")
    await engine.remove_model("a")
    await engine.remove_model("b")
    with pytest.raises(FailedPrecondition, match="is the default of 1 other version"):
        await engine.remove_plugin("double")
    await engine.remove_plugin("double@0.0.3")
    await engine.remove_plugin("double")
    assert (await engine.list_plugins()).plugins == []


async def test_a_new_default_at_registration_takes_the_following_models(
    engine: Engine, tmp_path: Path
) -> None:
    await two_versions(engine, tmp_path)
    status = await engine.register_plugin(register("double", "0.0.9", V2, default=True))
    assert status.default and status.state == smi_pb2.PLUGIN_STATE_REGISTERED
    # `a` follows the default, which does not run yet; it loads when the default does.
    with pytest.raises(FailedPrecondition):
        await doubled(engine, "a")
    await doubled(engine, "b")
    with pytest.raises(IncompatibleVersion, match=r"reports version 0\.0\.2"):
        await engine.load_plugin("double")


async def test_versions_and_pins_survive_a_restart(tmp_path: Path) -> None:
    engine = Engine(Settings(tmp_path / "home"))
    await engine.start()
    try:
        await two_versions(engine, tmp_path)
    finally:
        await engine.stop()
    again = Engine(Settings(tmp_path / "home"))
    await again.start()
    try:
        listed = (await again.list_plugins()).plugins
        assert [(p.registered_version, p.default, p.state, list(p.models)) for p in listed] == [
            ("0.0.1", True, smi_pb2.PLUGIN_STATE_READY, ["a/1"]),
            ("0.0.2", False, smi_pb2.PLUGIN_STATE_READY, ["b/1"]),
        ]
        assert listed[0].pid != listed[1].pid
        for model in ("a", "b"):
            await doubled(again, model)
    finally:
        await again.stop()
