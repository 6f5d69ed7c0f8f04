"""Two engines (two nodes) on one registry follow each other: plugins, model versions and
tokens changed through one are applied by the other, on SQLite (polling) and on PostgreSQL
(LISTEN/NOTIFY); each reports itself in the nodes table; a pass never undoes a local write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.errors import Unauthenticated
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import DOUBLE_PLUGIN, add_double_plugin, model_file
from tests.suite import REPO


@dataclass(frozen=True)
class NodeSettings:
    home: Path
    database_url: str
    node_id: str
    reconcile_interval: float = 0.2
    restart_backoff_initial: float = 0.05
    restart_backoff_max: float = 30.0
    log_level: str = "warning"
    model_roots: tuple[Path, ...] = ()
    plugin_modules: tuple[str, ...] = ("tests.*",)
    plugin_python_path: tuple[Path, ...] = (REPO,)


async def eventually(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def nodes(registry_url: str, tmp_path: Path) -> AsyncIterator[tuple[Engine, Engine]]:
    engines = [
        Engine(NodeSettings(tmp_path / name, registry_url, name, model_roots=(tmp_path,)))
        for name in ("a", "b")
    ]
    started: list[Engine] = []
    try:
        for engine in engines:
            await engine.start()
            started.append(engine)
        yield engines[0], engines[1]
    finally:
        for engine in started:
            await engine.stop()


def model_state(engine: Engine, name: str, version: str) -> int | None:
    entry = engine.models.entries.get(name, {}).get(version)
    return None if entry is None else entry.state


async def test_a_change_through_one_node_is_applied_by_the_other(
    nodes: tuple[Engine, Engine], tmp_path: Path
) -> None:
    a, b = nodes
    assert a.is_ready() and b.is_ready()
    await add_double_plugin(a)
    await eventually("b runs the plugin", lambda: b.plugins.entries.get("double") is not None
                     and b.plugins.entries["double"].ready)
    await a.register_model(
        smi_pb2.RegisterModelRequest(name="m", plugin="double", path=str(model_file(tmp_path)))
    )
    await eventually("b loads m/1", lambda: model_state(b, "m", "1") == smi_pb2.MODEL_STATE_READY)
    assert b.is_ready()

    await b.unload_model("m", "1")
    await eventually("a unloads m/1",
                     lambda: model_state(a, "m", "1") == smi_pb2.MODEL_STATE_UNLOADED)
    await a.load_model("m", "1")
    await eventually("b loads m/1 again",
                     lambda: model_state(b, "m", "1") == smi_pb2.MODEL_STATE_READY)

    await b.remove_model("m")
    await eventually("a drops m", lambda: "m" not in a.models.entries)
    await a.remove_plugin("double")
    await eventually("b stops the plugin", lambda: "double" not in b.plugins.entries)


async def test_a_token_revoked_on_one_node_is_refused_by_the_other(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    created = await a.create_token(
        smi_pb2.CreateTokenRequest(name="app", role=smi_pb2.ROLE_INFERENCE)
    )
    await eventually("b knows the token", lambda: _accepts(b, created.token))
    # Revoking through b right away works: b catches up with the registry first.
    await b.revoke_token(created.info.id)
    assert not _accepts(b, created.token)
    await eventually("a refuses the token", lambda: not _accepts(a, created.token))


def _accepts(engine: Engine, token: str) -> bool:
    try:
        engine.authenticate(token)
    except Unauthenticated:
        return False
    return True


async def test_every_node_reports_itself_and_a_stopped_node_leaves(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = nodes
    listens = a.store.dialect == "postgresql"
    deadline = time.monotonic() + 15.0
    while True:  # the heartbeats and the listening connection come up on their own schedule
        status = await a.cluster_status()
        settled = status["listening"] == listens and all(
            n["health"] == "ready" and n["converged"] for n in status["nodes"]
        )
        if settled or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert [n["id"] for n in status["nodes"]] == ["a", "b"]
    assert all(n["health"] == "ready" and n["converged"] for n in status["nodes"])
    assert status["listening"] == listens
    await b.stop()
    status = await a.cluster_status()
    assert [n["id"] for n in status["nodes"]] == ["a"]
    await b.start()  # the fixture stops it again
    await eventually("b is back", lambda: b.is_ready())


async def test_a_pass_that_read_during_a_local_write_reads_again(
    nodes: tuple[Engine, Engine], tmp_path: Path
) -> None:
    a, _ = nodes
    reconciler = a.reconciler
    assert reconciler is not None
    await add_double_plugin(a)
    path = str(model_file(tmp_path))
    passes = reconciler.passes
    # The pass reads in a thread; the registration writes meanwhile on the loop.
    reading = asyncio.create_task(reconciler.reconcile())
    await a.register_model(smi_pb2.RegisterModelRequest(name="m", plugin="double", path=path))
    await reading
    assert reconciler.passes > passes
    assert model_state(a, "m", "1") == smi_pb2.MODEL_STATE_READY  # not undone


async def test_versions_side_by_side_and_a_moved_default_follow_on_the_other_node(
    nodes: tuple[Engine, Engine], tmp_path: Path
) -> None:
    a, b = nodes
    for version, module in (("0.0.1", DOUBLE_PLUGIN), ("0.0.2", "tests.sdk.swap_plugins:DoubleV2")):
        await a.register_plugin(smi_pb2.RegisterPluginRequest(
            name="double", version=version, source=smi_pb2.PluginSource(module=module)))  # fmt: skip
    await a.load_plugin("double")
    await a.load_plugin("double@0.0.2")
    await a.register_model(
        smi_pb2.RegisterModelRequest(name="m", plugin="double", path=str(model_file(tmp_path)))
    )
    await eventually("b runs both versions and m", lambda: (
        {k: e.ready for k, e in b.plugins.entries.items()} == {"double": True, "double@0.0.2": True}
        and model_state(b, "m", "1") == smi_pb2.MODEL_STATE_READY))  # fmt: skip
    assert b.plugins.find("double") is b.plugins.entries["double"]

    await a.set_default_plugin("double", "0.0.2")
    await eventually("b moves m to 0.0.2", lambda: (
        b.plugins.find("double") is b.plugins.entries["double@0.0.2"]
        and model_state(b, "m", "1") == smi_pb2.MODEL_STATE_READY))  # fmt: skip
    assert [e.record.name for e in b.models.of_plugin("double@0.0.2")] == ["m"]
    assert b.models.of_plugin("double") == []
    data = np.ones((1, 4), dtype=np.float32)
    request = smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("x", data)])
    np.testing.assert_array_equal(to_numpy((await b.infer(request)).outputs[0]), 2 * data)


async def test_a_catch_up_reads_the_registry_only_after_a_foreign_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    a, b = (
        Engine(NodeSettings(tmp_path / name, url, name, reconcile_interval=3600.0))
        for name in ("a", "b")
    )

    def plugin(name: str) -> smi_pb2.RegisterPluginRequest:
        return smi_pb2.RegisterPluginRequest(
            name=name, source=smi_pb2.PluginSource(module=DOUBLE_PLUGIN)
        )

    await a.start()
    try:
        await b.start()
        try:
            assert b.reconciler is not None
            await add_double_plugin(a, load=False)
            # b's periodic pass is an hour away: only its catch-up shows it a's registration.
            assert (await b.load_plugin("double")).state == smi_pb2.PLUGIN_STATE_READY
            passes = b.reconciler.passes
            for index in range(3):
                await b.register_plugin(plugin(f"own-{index}"))
            assert b.reconciler.passes == passes  # only its own writes since: nothing to read
            await a.register_plugin(plugin("foreign"))
            await b.register_plugin(plugin("own-3"))
            assert b.reconciler.passes == passes + 1
            assert "foreign" in b.plugins.entries
        finally:
            await b.stop()
    finally:
        await a.stop()
