"""The core's limits hold over direct channels: the rate limit and the in-flight limit.

A channel is lent shares of both (tokens of its principal's bucket, slots of its model's
in-flight count); the plugin host refuses a call over a share with the relay detail and the
client sends it through the server, whose own limits decide it — with the relayed path's errors.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlos.client import IPCClient
from mlos.errors import RELAY_DETAIL, MLOSError, ResourceExhausted, Unavailable
from mlos.testing import ServerProcess
from mlos.wire.framing import HEADER, FrameKind
from mlos_generated import smi_ipc, smi_pb2
from tests.suite import suite_config

INPUT = np.random.default_rng(11).random((1, 64), np.float32)


def _channel(client: IPCClient) -> socket.socket:
    """The socket of the client's channel to `demo` (private state, read for the test)."""
    return client._direct._routes[("demo", "")].sock  # type: ignore[union-attr]


def _until_refused(client: IPCClient, most: int = 200) -> tuple[int, float, MLOSError]:
    """Infer until the server refuses: the calls that succeeded, the seconds it took, the
    refusal."""
    started = time.monotonic()
    for count in range(most):
        try:
            client.infer("demo", {"input": INPUT})
        except MLOSError as exc:
            return count, time.monotonic() - started, exc
    raise AssertionError(f"{most} calls and no refusal")


def test_a_rate_limited_token_is_limited_over_its_channel(
    mlos_demo_server: ServerProcess,
) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as admin:
        direct_token = admin.create_token("direct", "inference", rate_limit="2/s:20")
        relayed_token = admin.create_token("relayed", "inference", rate_limit="2/s:20")
    with (
        IPCClient(server.ipc_url, timeout=30, token=direct_token.token) as direct,
        IPCClient(server.ipc_url, timeout=30, token=relayed_token.token, direct=False) as relayed,
    ):
        served, took, refusal = _until_refused(direct)
        assert direct.direct_channels == 1  # the channel stays; calls over its share relayed
        assert isinstance(refusal, ResourceExhausted)
        assert refusal.message.startswith(
            f"rate limit of 2/s:20 exceeded for token:{direct_token.info.id}; retry in"
        )
        assert 20 <= served <= 20 + 2 * took + 1, (served, took)
        served_relayed, took_relayed, refusal_relayed = _until_refused(relayed)
        assert 20 <= served_relayed <= 20 + 2 * took_relayed + 1
        assert refusal_relayed.code == refusal.code
        assert refusal_relayed.details.keys() == refusal.details.keys()
        # The plugin process itself refuses a call over the channel's share, whoever sends it
        # (the share is topped up from the bucket as it refills: a call or two may pass).
        sock = _channel(direct)
        sock.settimeout(10)
        request = smi_pb2.InferRequest(model_name="demo")
        request.inputs.add(name="input", datatype="FP32", shape=[1, 64], contents=INPUT.tobytes())
        payload = request.SerializeToString()
        for request_id in range(1, 11):
            sock.sendall(HEADER.pack(len(payload), FrameKind.REQUEST, 0, smi_ipc.MLOS_INFER.id,
                                     request_id, 0) + payload)  # fmt: skip
            data = b""
            while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
                data += sock.recv(65536)
            if HEADER.unpack_from(data)[1] == FrameKind.ERROR:
                break
        error = MLOSError.from_proto(smi_pb2.Error.FromString(data[HEADER.size :]))
        assert isinstance(error, ResourceExhausted) and error.details[RELAY_DETAIL] == "rate"
        # The bucket refills at its rate, for both paths.
        time.sleep(1.2)
        direct.infer("demo", {"input": INPUT})
        relayed.infer("demo", {"input": INPUT})


@pytest.fixture
def two_in_flight(tmp_path: Path) -> Iterator[ServerProcess]:
    """`mlos serve --demo` that lets model `demo` have two calls in flight."""
    pytest.importorskip("onnxruntime")
    config = {**suite_config(tmp_path), "max_in_flight_per_model": 2}
    server = ServerProcess(tmp_path / "home", "--demo", logs=tmp_path, config=config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_in_flight_limit_holds_across_channels_and_the_core(
    two_in_flight: ServerProcess,
) -> None:
    server = two_in_flight
    url, token = server.ipc_url, server.token
    with (
        IPCClient(url, timeout=30, token=token) as first,
        IPCClient(url, timeout=30, token=token) as second,
        IPCClient(url, timeout=30, token=token) as third,
    ):
        first.infer("demo", {"input": INPUT})
        second.infer("demo", {"input": INPUT})
        assert first.direct_channels == second.direct_channels == 1
        # Both slots are lent to the two channels: the third client's call goes through the
        # server, which refuses it as it refuses a relayed call over the limit.
        with pytest.raises(Unavailable) as refused:
            third.infer("demo", {"input": INPUT})
        assert refused.value.message == (
            "model 'demo' has 2 requests in flight, its limit; retry later"
        )
        assert third.direct_channels == 0
        # A channel that closes gives its slot back (so does one idle while slots run short).
        first.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = third.infer("demo", {"input": INPUT})
                break
            except Unavailable:
                assert time.monotonic() < deadline, "the slot never came back"
                time.sleep(0.1)
        assert answer["output"].shape == (1, 10)
        # The clients keep being answered, direct or relayed.
        for _ in range(3):
            for client in (second, third):
                for attempt in range(50):
                    try:
                        client.infer("demo", {"input": INPUT})
                        break
                    except Unavailable:
                        assert attempt < 49
                        time.sleep(0.1)
