"""The scheduler in process, with a runner that stands in for the plugin: what each caller gets
when a batch fails, when a caller goes away, and when the plugin answers a batch wrongly."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlos.core.batcher import Scheduler
from mlos.core.batching import Scheduling
from mlos.core.dataplane import Attachments
from mlos.core.shm import Binding
from mlos.core.stats import ModelStats
from mlos.errors import InternalError, InvalidArgument, Unavailable
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2


def _metadata() -> smi_pb2.ModelMetadata:
    metadata = smi_pb2.ModelMetadata(name="m", version="1", max_batch_size=8)
    metadata.inputs.add(name="x", datatype="FP32", shape=[-1, 2])
    metadata.outputs.add(name="y", datatype="FP32", shape=[-1, 2])
    return metadata


def _request(value: float, rows: int = 1) -> smi_pb2.InferRequest:
    array = np.full((rows, 2), value, dtype=np.float32)
    return smi_pb2.InferRequest(model_name="m", model_version="1", inputs=[from_numpy("x", array)])


class Plugin:
    """Doubles its input; records the batches it ran; can fail or answer wrongly."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.error: Exception | None = None
        self.rows_off = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(
        self,
        request: smi_pb2.InferRequest,
        binding: Binding | None,
        attachments: Attachments | None,
        batch: int,
    ) -> smi_pb2.InferResponse:
        await self.gate.wait()
        self.batches.append(batch)
        if self.error is not None:
            raise self.error
        tensor = request.inputs[0]
        data = attachments[tensor.name] if attachments else tensor.contents
        array = np.frombuffer(data, dtype=np.float32).reshape(list(tensor.shape))
        doubled = array[: len(array) - self.rows_off] * 2
        return smi_pb2.InferResponse(
            model_name="m", model_version="1", outputs=[from_numpy("y", doubled)]
        )


def _scheduler(plugin: Plugin, **settings: int) -> tuple[Scheduler, ModelStats]:
    stats = ModelStats("m", "1")
    scheduling = Scheduling(batching=True, **settings)  # type: ignore[arg-type]
    return Scheduler(_metadata(), scheduling, plugin.run, stats), stats


async def _blocked(plugin: Plugin, scheduler: Scheduler) -> asyncio.Task[smi_pb2.InferResponse]:
    """A first request that holds the one instance until the gate opens."""
    plugin.gate.clear()
    first = asyncio.ensure_future(scheduler.infer(_request(0.5), None, None, 1, 0))
    while not plugin.gate.is_set() and scheduler.depth:
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    return first


def test_a_failed_batch_fails_each_of_its_callers_and_the_worker_goes_on() -> None:
    async def scenario() -> None:
        plugin = Plugin()
        scheduler, stats = _scheduler(plugin)
        first = await _blocked(plugin, scheduler)
        plugin.error = Unavailable("connection to plugin 'p' lost")
        waiting = [asyncio.ensure_future(scheduler.infer(_request(i), None, None, 1, 0))
                   for i in range(3)]  # fmt: skip
        await asyncio.sleep(0.01)
        plugin.gate.set()
        results = await asyncio.gather(first, *waiting, return_exceptions=True)
        assert all(isinstance(r, Unavailable) for r in results)
        assert plugin.batches == [1, 3]
        plugin.error = None
        answer = await scheduler.infer(_request(4.0), None, None, 1, 0)
        assert np.frombuffer(answer.outputs[0].contents, np.float32).tolist() == [8.0, 8.0]
        assert stats.execution_count == 1 and stats.success.count == 1
        scheduler.close()

    asyncio.run(scenario())


def test_a_caller_that_goes_away_while_queued_leaves_the_batch() -> None:
    async def scenario() -> None:
        plugin = Plugin()
        scheduler, stats = _scheduler(plugin)
        first = await _blocked(plugin, scheduler)
        gone = asyncio.ensure_future(scheduler.infer(_request(1.0), None, None, 1, 0))
        kept = asyncio.ensure_future(scheduler.infer(_request(2.0, rows=2), None, None, 2, 0))
        await asyncio.sleep(0.01)
        gone.cancel()
        plugin.gate.set()
        await first
        answer = await kept
        assert plugin.batches == [1, 2]  # the cancelled request's row was not sent
        assert np.frombuffer(answer.outputs[0].contents, np.float32).tolist() == [4.0] * 4
        assert stats.success.count == 2 and stats.inference_count == 3
        scheduler.close()

    asyncio.run(scenario())


def test_a_batch_answer_with_the_wrong_rows_is_an_internal_error_for_every_caller() -> None:
    async def scenario() -> None:
        plugin = Plugin()
        scheduler, _ = _scheduler(plugin)
        first = await _blocked(plugin, scheduler)
        plugin.rows_off = 1
        waiting = [asyncio.ensure_future(scheduler.infer(_request(i), None, None, 1, 0))
                   for i in range(2)]  # fmt: skip
        await asyncio.sleep(0.01)
        plugin.gate.set()
        await asyncio.gather(first, return_exceptions=True)
        for task in waiting:
            with pytest.raises(InternalError, match="batch of 2"):
                await task
        scheduler.close()

    asyncio.run(scenario())


def test_input_data_of_the_wrong_size_is_refused_before_it_queues() -> None:
    async def scenario() -> None:
        scheduler, _ = _scheduler(Plugin())
        request = _request(1.0)
        attachments = {"x": memoryview(b"\0" * 4)}
        with pytest.raises(InvalidArgument, match="4 bytes of data, not the 8"):
            await scheduler.infer(request, None, attachments, 1, 0)
        assert scheduler.depth == 0
        scheduler.close()

    asyncio.run(scenario())


def test_closing_fails_the_waiting_requests() -> None:
    async def scenario() -> None:
        plugin = Plugin()
        scheduler, _ = _scheduler(plugin, max_queue_delay_us=10_000_000)
        waiting = asyncio.ensure_future(scheduler.infer(_request(1.0), None, None, 1, 0))
        await asyncio.sleep(0.01)
        scheduler.close()
        with pytest.raises(Unavailable, match="unloaded"):
            await waiting
        with pytest.raises(Unavailable):
            await scheduler.infer(_request(1.0), None, None, 1, 0)

    asyncio.run(scenario())


def test_a_batch_the_next_request_does_not_fit_is_sent_without_waiting() -> None:
    async def scenario() -> None:
        plugin = Plugin()
        scheduler, _ = _scheduler(plugin, max_queue_delay_us=1_000_000)  # max batch size 8
        five = asyncio.ensure_future(scheduler.infer(_request(1.0, rows=5), None, None, 5, 0))
        four = asyncio.ensure_future(scheduler.infer(_request(2.0, rows=4), None, None, 4, 0))
        answer = await asyncio.wait_for(five, 0.5)  # far less than the delay
        assert plugin.batches == [5] and len(answer.outputs[0].shape) == 2
        assert not four.done()  # alone, it waits for company until the delay is up
        scheduler.close()
        with pytest.raises(Unavailable):
            await four

    asyncio.run(scenario())


def test_batching_alone_leaves_the_plugins_threads_and_a_named_count_reaches_it() -> None:
    from mlos.core.models import load_request
    from mlos.core.store import ModelRecord

    def load_of(request: smi_pb2.RegisterModelRequest) -> smi_pb2.LoadModelRequest:
        scheduling = Scheduling.of_request(request)
        assert scheduling is not None
        # Through the stored form, as every load after a restart reads it.
        stored = Scheduling.of_json(scheduling.to_json()).to_json()
        return load_request(ModelRecord("m", "1", "onnx", "/m.onnx", scheduling=stored), "/m.onnx")

    batching = smi_pb2.DynamicBatching(max_queue_delay_us=500)
    alone = load_of(smi_pb2.RegisterModelRequest(name="m", dynamic_batching=batching))
    assert alone.instance_count == 0  # the plugin keeps the threads of a plain registration
    both = load_of(smi_pb2.RegisterModelRequest(name="m", dynamic_batching=batching, instance_count=1))
    assert both.instance_count == 1
    two = load_of(smi_pb2.RegisterModelRequest(name="m", instance_count=2))
    assert two.instance_count == 2
    # Stored before the flag existed: counts above one were named, a count of one with
    # batching was the default.
    legacy = {"instance_count": 1, "dynamic_batching": {"max_queue_delay_us": 500}}
    assert not Scheduling.of_json(legacy).instances_named
    assert Scheduling.of_json({"instance_count": 3}).instances_named
