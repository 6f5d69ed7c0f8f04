"""The engine end to end with a real plugin process: lifecycle, inference, crashes, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mlos.core.engine import Engine
from mlos.core.stats import FailureReason
from mlos.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_generated import smi_pb2
from tests.core.conftest import DOUBLE_PLUGIN, Settings, add_double_plugin, model_file


def infer_request(model: str = "m", rows: int = 2, version: str = "") -> smi_pb2.InferRequest:
    data = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
    return smi_pb2.InferRequest(model_name=model, model_version=version, inputs=[from_numpy("x", data)])


async def wait_until(predicate, timeout: float = 10.0) -> float:
    """Poll an async predicate; return how long it took."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_lifecycle_register_load_infer(engine: Engine, tmp_path: Path) -> None:
    status = await add_double_plugin(engine, load=False)
    assert status.state == smi_pb2.PLUGIN_STATE_REGISTERED and status.pid == 0
    status = await engine.load_plugin("double")
    assert status.state == smi_pb2.PLUGIN_STATE_READY and status.pid > 0
    assert status.info.name == "double" and status.info.smi_versions[0].major == 1
    model = await engine.register_model(
        smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path)))
    )
    assert model.version == "1" and model.plugin == "double"
    assert model.state == smi_pb2.MODEL_STATE_READY
    assert [t.name for t in model.metadata.inputs] == ["x"]
    response = await engine.infer(infer_request(rows=3))
    assert response.model_version == "1"
    np.testing.assert_array_equal(to_numpy(response.outputs[0]), np.arange(12, dtype=np.float32).reshape(3, 4) * 2)
    health = await engine.health()
    assert health.live and health.ready and health.plugins[0].models == ["m/1"]
    stats = await engine.model_statistics("m")
    assert stats.model_stats[0].inference_count == 3
    # Every phase counts the request once, as Triton's statistics do (perf_analyzer reads the
    # queue count to find the version that served its requests).
    phases = stats.model_stats[0].inference_stats
    for phase in (phases.success, phases.queue, phases.compute_input, phases.compute_infer, phases.compute_output):
        assert phase.count == 1
    assert phases.success.ns >= phases.queue.ns + phases.compute_input.ns + phases.compute_infer.ns > 0


async def test_versions_resolve_to_the_latest_ready(engine: Engine, tmp_path: Path) -> None:
    await add_double_plugin(engine)
    path = str(model_file(tmp_path))
    for _ in range(2):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=path))
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=path, version="10"))
    assert engine.model_versions("m") == ["1", "2", "10"]
    await engine.unload_model("m", "2")
    assert engine.model_versions("m", ready_only=True) == ["1", "10"]
    await engine.load_model("m", "2")
    assert (await engine.infer(infer_request())).model_version == "10"
    assert (await engine.infer(infer_request(version="1"))).model_version == "1"
    await engine.unload_model("m", "10")
    assert (await engine.infer(infer_request())).model_version == "2"
    with pytest.raises(AlreadyExists):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=path, version="2"))
    removed = await engine.remove_model("m", "1")
    assert [m.version for m in removed.removed] == ["1"]
    await engine.remove_model("m")
    with pytest.raises(NotFound):
        await engine.get_model("m")


async def test_bad_requests_are_typed_errors(engine: Engine, tmp_path: Path) -> None:
    await add_double_plugin(engine)
    with pytest.raises(NotFound, match="does not exist"):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(tmp_path / "none.double")))
    with pytest.raises(InvalidArgument, match="control character"):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(tmp_path / "a\x00b")))
    with pytest.raises(InvalidArgument, match="cannot be resolved"):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(tmp_path / ("x" * 300))))
    with pytest.raises(FailedPrecondition, match="no ready plugin accepts"):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path, "m.xyz"))))
    with pytest.raises(NotFound):
        await engine.infer(infer_request("nope"))
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    bad_shape = smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("x", np.zeros((2, 3), np.float32))])
    with pytest.raises(InvalidArgument, match=r"shape \[2, 3\].*expects \[-1, 4\]"):
        await engine.infer(bad_shape)
    bad_type = smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("x", np.zeros((2, 4), np.int32))])
    with pytest.raises(InvalidArgument, match="datatype INT32"):
        await engine.infer(bad_type)
    bad_name = smi_pb2.InferRequest(model_name="m", inputs=[from_numpy("y", np.zeros((2, 4), np.float32))])
    with pytest.raises(InvalidArgument, match="no input 'y'"):
        await engine.infer(bad_name)
    short = infer_request()
    short.inputs[0].contents = short.inputs[0].contents[:-4]
    with pytest.raises(InvalidArgument, match="bytes of data"):
        await engine.infer(short)
    with pytest.raises(FailedPrecondition, match="remove them first"):
        await engine.remove_plugin("double")
    # Failed calls count in the statistics; the engine keeps serving.
    assert (await engine.model_statistics("m")).model_stats[0].inference_stats.fail.count == 4
    assert engine.stats.of("m", "1").failures == {FailureReason.OTHER: 4}
    assert (await engine.infer(infer_request())).outputs


async def test_a_killed_plugin_is_reported_at_once_and_restarted_with_its_models(
    engine: Engine, tmp_path: Path
) -> None:
    status = await add_double_plugin(engine)
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    os.kill(status.pid, signal.SIGKILL)

    async def not_ready() -> bool:
        return not (await engine.health()).ready

    assert await wait_until(not_ready, timeout=1.0) < 1.0
    with pytest.raises(Unavailable):
        await engine.infer(infer_request())

    async def serving() -> bool:
        return await engine.model_ready("m")

    await wait_until(serving, timeout=10.0)
    restarted = await engine.get_plugin("double")
    assert restarted.restarts == 1 and restarted.pid not in (0, status.pid)
    assert (await engine.infer(infer_request())).outputs


async def test_in_flight_requests_fail_cleanly_when_the_plugin_dies(engine: Engine, tmp_path: Path) -> None:
    status = await add_double_plugin(engine)
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    os.kill(status.pid, signal.SIGSTOP)  # freeze it so requests stay in flight
    calls = [asyncio.ensure_future(engine.infer(infer_request())) for _ in range(5)]
    await asyncio.sleep(0.05)
    os.kill(status.pid, signal.SIGKILL)
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    assert engine.stats.of("m", "1").failures == {FailureReason.BACKEND: 5}


async def test_state_survives_a_restart_of_the_core(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "home")
    first = Engine(settings)
    await first.start()
    await add_double_plugin(first)
    await first.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    await first.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path)), version="7"))
    await first.register_plugin(smi_pb2.RegisterPluginRequest(name="idle", source=smi_pb2.PluginSource(module=DOUBLE_PLUGIN)))
    await first.stop()

    second = Engine(settings)
    await second.start()
    try:
        plugins = {p.name: p.state for p in (await second.list_plugins()).plugins}
        assert plugins == {"double": smi_pb2.PLUGIN_STATE_READY, "idle": smi_pb2.PLUGIN_STATE_REGISTERED}
        assert engine_versions(await second.list_models()) == [("m", "1"), ("m", "7")]
        assert (await second.infer(infer_request())).model_version == "7"
    finally:
        await second.stop()


def engine_versions(listing: smi_pb2.ListModelsResponse) -> list[tuple[str, str]]:
    return [(m.name, m.version) for m in listing.models if m.state == smi_pb2.MODEL_STATE_READY]


async def test_unload_and_remove_plugin(engine: Engine, tmp_path: Path) -> None:
    status = await add_double_plugin(engine)
    await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
    unloaded = await engine.unload_plugin("double")
    assert unloaded.state == smi_pb2.PLUGIN_STATE_UNLOADED and unloaded.pid == 0
    with pytest.raises(ProcessLookupError):
        os.kill(status.pid, 0)
    assert (await engine.get_model("m")).versions[0].state == smi_pb2.MODEL_STATE_UNAVAILABLE
    # Unloaded on purpose: a precondition until someone loads it, not an outage (no 503).
    with pytest.raises(FailedPrecondition, match="plugin 'double' is not running"):
        await engine.infer(infer_request())
    with pytest.raises(FailedPrecondition, match="plugin 'double' is not loaded; load it first"):
        await engine.register_model(
            smi_pb2.RegisterModelRequest(name="m2", plugin="double", path=str(model_file(tmp_path)))
        )
    assert (await engine.load_plugin("double")).state == smi_pb2.PLUGIN_STATE_READY
    await engine.unload_model("m")
    with pytest.raises(FailedPrecondition, match="is unloaded"):
        await engine.model_metadata("m")
    await engine.load_model("m")
    assert await engine.model_ready("m")
    await engine.remove_model("m")
    await engine.remove_plugin("double")
    assert not (await engine.list_plugins()).plugins


async def test_input_limits_come_from_the_settings(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Limited(Settings):
        max_tensor_elements: int = 4
        max_string_bytes: int = 512

    engine = Engine(Limited(tmp_path / "home"))
    await engine.start()
    try:
        await add_double_plugin(engine)
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", path=str(model_file(tmp_path))))
        with pytest.raises(InvalidArgument, match=r"8 elements; the limit is 4 \(max_tensor_elements\)"):
            await engine.infer(infer_request(rows=2))
        assert (await engine.infer(infer_request(rows=1))).outputs
        with pytest.raises(InvalidArgument, match="max_string_bytes"):
            await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="p", version="v" * 513))
        with pytest.raises(InvalidArgument, match="max_string_bytes"):
            await engine.create_token(smi_pb2.CreateTokenRequest(name="t", role=smi_pb2.ROLE_VIEWER, rate_limit="1" * 513))
    finally:
        await engine.stop()


async def test_registration_checks_the_source(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="entry point 'nope'"):
        await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="nope"))
    with pytest.raises(InvalidArgument, match="plugin name"):
        await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="../x"))
    await engine.register_plugin(
        smi_pb2.RegisterPluginRequest(name="broken", source=smi_pb2.PluginSource(module="tests.no_such_module:Plugin"))
    )
    with pytest.raises(FailedPrecondition, match="exited with code 2 during start"):
        await engine.load_plugin("broken")
    assert (await engine.get_plugin("broken")).state == smi_pb2.PLUGIN_STATE_FAILED
    # It failed to start and is not being restarted: a precondition, not an outage.
    with pytest.raises(FailedPrecondition, match=r"plugin 'broken' is failed: .*; load it first"):
        await engine.register_model(smi_pb2.RegisterModelRequest(name="m", plugin="broken", path=str(tmp_path)))


async def test_resources_report_the_host_and_each_plugin_process(engine: Engine) -> None:
    status = await add_double_plugin(engine)
    resources = await engine.resources()
    assert resources.host.cpu_count >= 1 and resources.host.memory_total_bytes > 0
    (usage,) = resources.plugins
    assert usage.pid == status.pid and usage.rss_bytes > 1_000_000 and usage.num_threads >= 1


async def test_a_model_needs_a_loaded_plugin(engine: Engine, tmp_path: Path) -> None:
    await add_double_plugin(engine, load=False)
    with pytest.raises(FailedPrecondition, match="load it first"):
        await engine.register_model(
            smi_pb2.RegisterModelRequest(name="m", plugin="double", path=str(model_file(tmp_path)))
        )
    with pytest.raises(NotFound, match="no plugin 'other'"):
        await engine.register_model(
            smi_pb2.RegisterModelRequest(name="m", plugin="other", path=str(model_file(tmp_path)))
        )
    assert not (await engine.list_models()).models


def test_plugin_processes_are_told_their_busy_poll_window(tmp_path: Path) -> None:
    from mlos.config import Settings as ServerSettings
    from mlos.loop import PLUGIN_BUSY_POLL_ENV

    engine = Engine(ServerSettings(home=tmp_path / "home", plugin_busy_poll_us=250))
    try:
        assert engine.containment.host_env[PLUGIN_BUSY_POLL_ENV] == "250"
    finally:
        engine.store.close()
    engine = Engine(Settings(tmp_path / "other"))  # settings without the key: off
    try:
        assert engine.containment.host_env[PLUGIN_BUSY_POLL_ENV] == "0"
    finally:
        engine.store.close()


async def test_a_registration_that_fails_after_its_row_was_written_leaves_no_row(
    engine: Engine, tmp_path: Path
) -> None:
    # The row is written while the plugin loads; the double model has no batch dimension, so
    # dynamic batching is refused after the load, and the row must go again.
    await add_double_plugin(engine)
    path = model_file(tmp_path)
    request = smi_pb2.RegisterModelRequest(
        name="m", path=str(path), plugin="double",
        dynamic_batching=smi_pb2.DynamicBatching(max_queue_delay_us=100),
    )  # fmt: skip
    with pytest.raises(InvalidArgument, match="no batch dimension"):
        await engine.register_model(request)
    assert engine.store.models() == []
    # A registration that loads keeps its row, durable before the answer.
    status = await engine.register_model(
        smi_pb2.RegisterModelRequest(name="m", path=str(path), plugin="double")
    )
    assert [(r.name, r.version) for r in engine.store.models()] == [("m", status.version)]
