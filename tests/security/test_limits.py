"""The rate limiter's buckets, in-process."""

from __future__ import annotations

from typing import Any

import pytest

from mlos.core.limits import Admission, Bucket, Rate, RateLimiter
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Pipeline, Transport
from mlos.errors import ResourceExhausted
from mlos_generated import smi_pb2


async def _handler(request: Any, call: Call) -> Any:
    return request


def test_rates_parse_and_print() -> None:
    assert Rate.parse("100/s:400") == Rate(100.0, 400)
    assert Rate.parse("5") == Rate(5.0, 10)
    assert str(Rate.parse("2.5/s")) == "2.5/s:5"
    for bad in ("0/s", "-1", "x", "5/s:0"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = Bucket(Rate(10.0, 2), now=0.0)
    assert bucket.take(0.0) == 0.0 and bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.1) == 0.0  # one token back after 0.1 s
    assert bucket.take(100.0) == 0.0 and bucket.take(100.0) == 0.0  # no more than the burst
    assert bucket.take(100.0) > 0


async def test_without_auth_every_caller_gets_the_admin_rate_not_the_anonymous_one() -> None:
    limiter = RateLimiter(
        {smi_pb2.ROLE_ADMIN: Rate(1000.0, 50)}, Rate(1.0, 2),
        unauthenticated_role=smi_pb2.ROLE_ADMIN,
    )
    pipeline = Pipeline()
    pipeline.add(limiter, 20)
    caller = Caller(Transport.REST, peer="127.0.0.1:5000")
    for _ in range(50):  # an inference: the admin burst, not the anonymous one
        await pipeline.run(Call(operation("infer"), caller), _handler, 1)
    live = Call(operation("server_live"), caller)
    await pipeline.run(live, _handler, 1)
    await pipeline.run(live, _handler, 1)
    with pytest.raises(ResourceExhausted) as refused:  # open calls keep the anonymous rate
        await pipeline.run(live, _handler, 1)
    assert float(refused.value.details["retry_after"]) > 0


async def test_tokens_leased_to_a_channel_are_taken_from_the_bucket_and_given_back() -> None:
    limiter = RateLimiter({}, Rate(0.001, 10))
    pipeline = Pipeline()
    pipeline.add(limiter, 20)
    call = Call(operation("infer"), Caller(Transport.IPC, peer="uid:1"))
    key, rate = limiter.rate_of(call)
    assert limiter.lease(key, rate, 4) == 4
    assert limiter.lease(key, rate, 100) == 6  # what is left, no more
    assert limiter.lease(key, rate, 1) == 0
    with pytest.raises(ResourceExhausted):  # a relayed call finds the bucket empty
        await pipeline.run(call, _handler, 1)
    limiter.give_back(key, rate, 3)
    for _ in range(3):
        await pipeline.run(call, _handler, 1)
    limiter.give_back(key, rate, 100)
    assert limiter.lease(key, rate, 100) == 10  # never above the burst


def test_slots_reserved_for_channels_count_in_the_model_limit() -> None:
    admission = Admission(4)
    assert admission.reserve("m", 3, admitted=False) == 3
    assert admission.reserve("m", 3, admitted=False) == 1  # the room left
    assert admission.reserve("m", 1, admitted=False) == 0
    assert admission.in_flight("m") == 4
    admission.release("m", 3)
    assert admission.in_flight("m") == 1
    admission.release("m", 1)
    assert admission.in_flight("m") == 0
