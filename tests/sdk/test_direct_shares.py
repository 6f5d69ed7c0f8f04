"""A plugin host enforces the shares of the core's limits a direct channel was lent.

The channel's servicer is driven on its own (no server): calls over the rate allowance or over
the in-flight slots are refused with the relay detail, and the core's allowances top them up
and take idle slots back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mlos.errors import RELAY_DETAIL, ResourceExhausted, Unavailable
from mlos.sdk.direct import ChannelTable, _Channel, _ChannelServicer
from mlos_generated import smi_pb2

METADATA = smi_pb2.ModelMetadata(name="m", version="1", max_batch_size=0)
METADATA.inputs.add(name="x", datatype="FP32", shape=[2])
METADATA.outputs.add(name="y", datatype="FP32", shape=[2])


def _request() -> smi_pb2.InferRequest:
    request = smi_pb2.InferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=[2], contents=b"\0" * 8)
    return request


def _grant(tokens: int = 0, slots: int = 0, delegated: bool = True) -> smi_pb2.ChannelGrant:
    return smi_pb2.ChannelGrant(
        channel_id=1, model_name="m", model_version="1", limits_delegated=delegated,
        rate_tokens=tokens, max_in_flight=slots, max_inputs=8, max_tensor_elements=1 << 20,
        max_tensor_bytes=1 << 20, max_batch_size=64, max_string_bytes=1 << 20,
    )  # fmt: skip


def test_calls_over_a_share_are_refused_for_the_server_to_decide() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def infer(request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
            await release.wait()
            return smi_pb2.InferResponse(model_name="m")

        servicer = _ChannelServicer(_grant(2, 1), infer, lambda: METADATA)
        context: Any = None
        first = asyncio.ensure_future(servicer.infer(_request(), context))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable) as busy:  # its one slot is taken
            await servicer.infer(_request(), context)
        assert busy.value.details[RELAY_DETAIL] == "in_flight"
        release.set()
        await first
        await servicer.infer(_request(), context)  # the second token
        with pytest.raises(ResourceExhausted) as spent:
            await servicer.infer(_request(), context)
        assert spent.value.details[RELAY_DETAIL] == "rate"
        assert servicer.relayed == 2 and servicer.in_flight == 0
        # Refused calls are the server's to count: only the two served are in the statistics.
        assert sum(row[0] for row in servicer.counts.batches.values()) == 2

        table = ChannelTable(infer, lambda name, version: METADATA, fd=None)
        table._channels[1] = _Channel(servicer.grant, servicer)
        allowance = smi_pb2.ChannelAllowance(channel_id=1, rate_tokens=5, in_flight_slots=1)
        report = table.report(smi_pb2.ChannelStatisticsRequest(allowances=[allowance]))
        (row,) = report.statistics
        assert row.rate_tokens_left == 5 and row.in_flight_slots == 2 and row.relayed == 2
        assert servicer.relayed == 0
        # More tokens than it needs: the excess goes back.
        trim = smi_pb2.ChannelAllowance(channel_id=1, rate_tokens_keep=2)
        (row,) = table.report(smi_pb2.ChannelStatisticsRequest(allowances=[trim])).statistics
        assert row.rate_tokens_returned == 3 and row.rate_tokens_left == 2
        # Idle long enough: the slots go back.
        idle = smi_pb2.ChannelAllowance(channel_id=1, release_idle_ms=1)
        await asyncio.sleep(0.01)
        (row,) = table.report(smi_pb2.ChannelStatisticsRequest(allowances=[idle])).statistics
        assert row.released_slots == 2 and row.in_flight_slots == 0 and servicer.slots == 0

    asyncio.run(scenario())


def test_a_grant_without_delegated_limits_enforces_none() -> None:
    async def scenario() -> None:
        async def infer(request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
            return smi_pb2.InferResponse(model_name="m")

        servicer = _ChannelServicer(_grant(delegated=False), infer, lambda: METADATA)
        for _ in range(5):
            await servicer.infer(_request(), None)  # type: ignore[arg-type]

    asyncio.run(scenario())


def test_a_closed_channel_is_reported_closed_after_its_last_call() -> None:
    async def infer(request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        return smi_pb2.InferResponse(model_name="m")

    servicer = _ChannelServicer(_grant(5, 1), infer, lambda: METADATA)
    table = ChannelTable(infer, lambda name, version: METADATA, fd=None)
    table._channels[1] = channel = _Channel(servicer.grant, servicer)
    servicer.in_flight = 1  # a call under way when the core closes the channel
    (row,) = table.close(smi_pb2.CloseChannelsRequest(channel_ids=[1])).statistics
    assert channel.closed and not row.closed  # its slot is still in use
    servicer.in_flight = 0
    (row,) = table.report().statistics
    assert row.closed and row.rate_tokens_left == 5
    assert not table.report().statistics  # forgotten
