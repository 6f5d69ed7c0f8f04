"""`mlos.sdk.instances`: one call per instance, waiting in order, all-or-nothing loads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlos.errors import NotFound
from mlos.sdk import DescribedModel, ModelSpec, TensorSpec
from mlos.sdk.base import Array
from mlos.sdk.instances import Instances, load_instances

SPEC = TensorSpec("x", "FP32", (-1,))


class Gate(DescribedModel):
    """An instance whose calls wait until the test opens its gate; it records who ran."""

    def __init__(self, number: int, ran: list[int]) -> None:
        super().__init__([SPEC], [SPEC])
        self.number = number
        self.ran = ran
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.unloaded = 0

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        self.inside.set()
        assert self.gate.wait(10)
        self.ran.append(self.number)
        return {"x": np.array([self.number], dtype=np.float32)}

    def unload(self) -> None:
        self.unloaded += 1


def _call(instances: Instances) -> asyncio.Task[Mapping[str, Any]]:
    return asyncio.ensure_future(instances.infer({"x": np.zeros(1, np.float32)}, ["x"]))


async def _inside(model: Gate) -> None:
    assert await asyncio.to_thread(model.inside.wait, 10)


async def test_each_call_takes_a_free_instance_and_a_third_waits_for_one() -> None:
    ran: list[int] = []
    first, second = Gate(0, ran), Gate(1, ran)
    instances = Instances([first, second], "m")
    calls = [_call(instances), _call(instances)]
    await _inside(first)
    await _inside(second)
    third = _call(instances)
    await asyncio.sleep(0.05)
    assert not third.done() and instances.busiest == 2
    second.gate.set()
    assert (await calls[1])["x"][0] == 1
    assert (await third)["x"][0] == 1  # the instance freed first
    first.gate.set()
    assert (await calls[0])["x"][0] == 0
    instances.close()
    await asyncio.to_thread(instances.unload)
    assert (first.unloaded, second.unloaded) == (1, 1)


async def test_a_cancelled_call_keeps_its_instance_until_the_framework_returns() -> None:
    ran: list[int] = []
    first, second = Gate(0, ran), Gate(1, ran)
    instances = Instances([first, second], "m")
    cancelled, other = _call(instances), _call(instances)
    await _inside(first)
    await _inside(second)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    follower = _call(instances)  # instance 0 still computes the cancelled call: not free
    second.gate.set()
    assert (await asyncio.wait_for(follower, 5))["x"][0] == 1
    await other
    first.gate.set()
    await asyncio.sleep(0.05)
    instances.close()
    await asyncio.to_thread(instances.unload)
    assert sorted(ran) == [0, 1, 1]


async def test_closing_fails_the_waiting_calls_and_refuses_new_ones() -> None:
    model = Gate(0, [])
    shared = Instances([model, model], "m")  # one model shared by two instances
    calls = [_call(shared), _call(shared)]
    await _inside(model)
    waiting = _call(shared)
    await asyncio.sleep(0.05)
    shared.close()
    with pytest.raises(NotFound, match="'m' is not loaded"):
        await waiting
    with pytest.raises(NotFound):
        await _call(shared)
    model.gate.set()
    await asyncio.gather(*calls)
    await asyncio.to_thread(shared.unload)
    assert model.unloaded == 1  # a shared model is unloaded once


def test_a_failed_load_unloads_the_copies_already_loaded() -> None:
    loaded: list[Gate] = []

    def load(spec: ModelSpec) -> Gate:
        if spec.instance == 2:
            raise RuntimeError("no room for a third copy")
        model = Gate(spec.instance, [])
        loaded.append(model)
        return model

    specs = [ModelSpec("m", "1", Path("m"), instance_count=3, instance=i) for i in range(3)]
    with pytest.raises(RuntimeError, match="third copy"):
        load_instances(load, specs)
    assert [model.unloaded for model in loaded] == [1, 1]
