"""The IPC clients' input staging without a server: the steps it asks for, and its regions."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mlos.client.staging import MIN_REGION, InputStaging
from mlos.errors import PermissionDenied, Unavailable
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
