"""Direct channels of the asyncio IPC client, over a real server.

The same rules as the blocking client's (tests/ipc/test_direct.py): inference goes over the
channel with the relayed path's answers and errors; a channel ends when its model is unloaded,
its plugin dies or its token is revoked, and the client's next call is still right.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest

from mlos.client import AsyncIPCClient
from mlos.errors import MLOSError, ResourceExhausted, Unauthenticated
from mlos.testing import ServerProcess
from tests.ipc.rest import rest, success_count

INPUT = np.random.default_rng(5).random((1, 64), np.float32)
T = TypeVar("T")


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


async def _closed(client: AsyncIPCClient, timeout: float = 10.0) -> None:
    """Wait until the client's channel was closed by the server."""
    routes = client._direct._routes  # type: ignore[union-attr]  # read for the test
    channel = routes[("demo", "")].channel
    deadline = time.monotonic() + timeout
    while not channel.closed:
        assert time.monotonic() < deadline, "the channel stayed open"
        await asyncio.sleep(0.02)


def test_concurrent_inference_goes_direct_same_answers_and_counted(
    mlos_demo_server: ServerProcess,
) -> None:
    server = mlos_demo_server
    before = success_count(server)

    async def scenario() -> None:
        async with (
            AsyncIPCClient(server.ipc_url, timeout=30) as direct,
            AsyncIPCClient(server.ipc_url, timeout=30, direct=False) as relayed,
        ):
            expected = (await relayed.infer("demo", {"input": INPUT}))["output"]
            first = await direct.infer("demo", {"input": INPUT})
            assert direct.direct_channels == 1 and relayed.direct_channels == 0
            assert np.array_equal(first["output"], expected)
            answers = await asyncio.gather(
                *(direct.infer("demo", {"input": INPUT}) for _ in range(40))
            )
            assert all(np.array_equal(a["output"], expected) for a in answers)
            with pytest.raises(MLOSError) as over_channel:
                await direct.infer("demo", {"input": np.zeros((1, 3), np.float32)})
            with pytest.raises(MLOSError) as over_core:
                await relayed.infer("demo", {"input": np.zeros((1, 3), np.float32)})
            assert over_channel.value.code == over_core.value.code
            assert over_channel.value.message == over_core.value.message
            assert direct.direct_channels == 1

    _run(scenario)
    deadline = time.monotonic() + 10
    while success_count(server) < before + 42 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert success_count(server) == before + 42  # 1 relayed + 41 direct or relayed


def test_unload_and_a_killed_plugin_end_the_channel_next_calls_right(
    mlos_demo_server: ServerProcess,
) -> None:
    server = mlos_demo_server

    async def scenario() -> None:
        async with AsyncIPCClient(server.ipc_url, timeout=30) as client:
            expected = (await client.infer("demo", {"input": INPUT}))["output"]
            rest(server, "POST", "/v2/repository/models/demo/unload")
            await _closed(client)
            with pytest.raises(MLOSError):  # the server's answer for an unloaded model
                await client.infer("demo", {"input": INPUT})
            assert client.direct_channels == 0
            rest(server, "POST", "/v2/repository/models/demo/load")
            answer = await client.infer("demo", {"input": INPUT})  # relayed while backing off
            assert np.array_equal(answer["output"], expected)
            await asyncio.sleep(1.1)
            await client.infer("demo", {"input": INPUT})
            assert client.direct_channels == 1
            pid = (await client.get_plugin("onnx")).pid
            os.kill(pid, signal.SIGKILL)
            await _closed(client)
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = await client.infer("demo", {"input": INPUT})
                    break
                except MLOSError:  # while the plugin restarts
                    assert time.monotonic() < deadline, "the plugin did not come back"
                    await asyncio.sleep(0.2)
            assert np.array_equal(answer["output"], expected)
            deadline = time.monotonic() + 10
            while client.direct_channels == 0:
                assert time.monotonic() < deadline, "no new channel"
                await client.infer("demo", {"input": INPUT})
                await asyncio.sleep(0.2)

    _run(scenario)


def test_revoked_token_ends_its_channel(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server

    async def scenario() -> None:
        async with AsyncIPCClient(server.ipc_url, timeout=30) as admin:
            created = await admin.create_token("reader", "inference")
            async with AsyncIPCClient(server.ipc_url, timeout=30, token=created.token) as client:
                await client.infer("demo", {"input": INPUT})
                assert client.direct_channels == 1
                await admin.revoke_token(created.info.id)
                await _closed(client)
                with pytest.raises(Unauthenticated):
                    await client.infer("demo", {"input": INPUT})
                assert client.direct_channels == 0

    _run(scenario)


def test_a_rate_limited_token_is_limited_over_its_channel(
    mlos_demo_server: ServerProcess,
) -> None:
    server = mlos_demo_server

    async def scenario() -> None:
        async with AsyncIPCClient(server.ipc_url, timeout=30) as admin:
            created = await admin.create_token("limited", "inference", rate_limit="2/s:20")
        async with AsyncIPCClient(server.ipc_url, timeout=30, token=created.token) as client:
            started = time.monotonic()
            served = 0
            with pytest.raises(ResourceExhausted) as refused:
                for _ in range(200):
                    await client.infer("demo", {"input": INPUT})
                    served += 1
            took = time.monotonic() - started
            assert 20 <= served <= 20 + 2 * took + 1, (served, took)
            assert refused.value.message.startswith(
                f"rate limit of 2/s:20 exceeded for token:{created.info.id}"
            )
            assert client.direct_channels == 1

    _run(scenario)
