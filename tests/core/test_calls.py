"""The call counter: calls, failures by code and calls under way, per transport and operation."""

from __future__ import annotations

import asyncio

import pytest

from mlos.core.calls import ORDER, CallCounter
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Pipeline, Transport
from mlos.errors import NotFound


async def test_calls_and_failures_are_counted_by_transport_operation_and_code() -> None:
    counter = CallCounter()
    pipeline = Pipeline()
    pipeline.add(counter, ORDER)
    gate = asyncio.Event()
    seen_in_flight: list[int] = []

    async def infer(request: str, call: Call) -> str:
        seen_in_flight.append(counter.in_flight[("grpc", "infer")])
        if request == "missing":
            raise NotFound("no model")
        if request == "wait":
            await gate.wait()
        return request

    def call(transport: Transport) -> Call:
        return Call(operation("infer"), Caller(transport))

    assert await pipeline.run(call(Transport.GRPC), infer, "ok") == "ok"
    with pytest.raises(NotFound):
        await pipeline.run(call(Transport.GRPC), infer, "missing")
    await pipeline.run(call(Transport.REST), infer, "ok")
    waiting = asyncio.ensure_future(pipeline.run(call(Transport.GRPC), infer, "wait"))
    await asyncio.sleep(0)
    assert counter.in_flight[("grpc", "infer")] == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert seen_in_flight == [1, 1, 0, 1]  # the REST call runs while no gRPC call is under way
    assert counter.calls == {("grpc", "infer"): 3, ("rest", "infer"): 1}
    assert counter.errors == {("grpc", "infer", "NOT_FOUND"): 1, ("grpc", "infer", "CANCELLED"): 1}
    assert counter.in_flight == {("grpc", "infer"): 0, ("rest", "infer"): 0}
    families = {f.name: f for f in counter.collect()}
    errors = {tuple(s.labels.values()): s.value for s in families["mlos_api_request_errors"].samples}
    assert errors == {("grpc", "infer", "NOT_FOUND"): 1, ("grpc", "infer", "CANCELLED"): 1}
    assert [s.name for s in families["mlos_api_requests"].samples] == ["mlos_api_requests_total"] * 2
