"""The IPC clients' input staging without a server: the steps it asks for, and its regions."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

from mlos.client.base import Op
from mlos.client.staging import MIN_REGION, InputStaging, Lease
from mlos.errors import NotFound, PermissionDenied, Unavailable
from mlos_generated import smi_ipc


def _files(staging: InputStaging) -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith(staging._prefix)]


def test_a_region_is_registered_then_unlinked_and_reused_on_its_connection() -> None:
    staging = InputStaging(1024)
    assert staging.needed({"x": np.zeros(100, np.float32)}) == 0  # under the threshold
    assert staging.needed({"x": np.zeros(1000, np.float32)}) == 4032  # 4000, 64-byte aligned
    connection: str | None = None  # none yet: the registration opens it
    steps = staging.acquire(4000, lambda: connection)
    method, request = next(steps)
    connection = "first"
    assert method is smi_ipc.MLOS_REGISTER_SYSTEM_SHARED_MEMORY
    assert request.release_on_disconnect and request.byte_size == MIN_REGION
    assert request.key == "/" + request.name and _files(staging) == [request.name]
    with pytest.raises(StopIteration) as done:
        steps.send(None)  # the answer to the registration (empty)
    lease = done.value.value
    assert lease.region.connection == "first"  # the connection as it is after the call
    assert _files(staging) == []  # the server holds it open; nothing is left to clean up
    ref = lease.place(np.arange(1000, dtype=np.float64), np.dtype(np.float32))
    assert (ref.region, ref.offset, ref.byte_size) == (request.name, 0, 4000)
    staging.give_back(lease, "first")
    with pytest.raises(StopIteration) as again:  # the next call on it asks for nothing
        next(staging.acquire(4000, lambda: connection))
    assert again.value.value.region is lease.region
    staging.give_back(again.value.value, "second")  # answered after a reconnect: dropped
    assert staging.take(4000, "first") is None
    staging.reset()


def test_a_lost_server_fails_the_call_and_a_refusing_one_turns_staging_off() -> None:
    staging = InputStaging(1024)
    steps = staging.acquire(4000, lambda: None)
    next(steps)
    with pytest.raises(Unavailable):
        steps.throw(Unavailable("the server is gone"))
    assert staging.enabled and _files(staging) == []
    steps = staging.acquire(4000, lambda: None)
    next(steps)
    with pytest.raises(StopIteration) as done:
        steps.throw(PermissionDenied("cannot open it"))
    assert done.value.value is None and not staging.enabled and _files(staging) == []
    assert staging.needed({"x": np.zeros(1000, np.float32)}) == 0


def _calls(made: list[Lease | None]) -> Callable[[Lease | None], Op[str]]:
    def build(lease: Lease | None) -> Op[str]:
        made.append(lease)
        return Op(("infer", lease), lambda answer: f"read {answer}")

    return build


def test_a_staged_call_gives_its_region_back_or_goes_inline_when_the_server_lost_it() -> None:
    staging = InputStaging(1024)
    made: list[Lease | None] = []
    steps = staging.staged(4000, lambda: "c", _calls(made))
    assert next(steps)[0] is smi_ipc.MLOS_REGISTER_SYSTEM_SHARED_MEMORY
    assert steps.send(None) == ("infer", made[0])  # the call, with the new region
    first = made[0]
    assert first is not None
    with pytest.raises(StopIteration) as done:
        steps.send("outputs")
    assert done.value.value == "read outputs"

    steps = staging.staged(4000, lambda: "c", _calls(made))
    assert next(steps) == ("infer", made[1])  # given back: the next call asks for nothing else
    second = made[1]
    assert second is not None and second.region is first.region
    lost = NotFound(f"no shared memory region {first.region.name!r}")  # replaced under the call
    assert steps.throw(lost) == ("infer", None)  # the call once more, inputs inline
    with pytest.raises(StopIteration) as done:
        steps.send("again")
    assert done.value.value == "read again"
    assert staging.take(4000, "c") is None and staging.enabled  # the region is dropped
    assert _files(staging) == []
    staging.reset()
