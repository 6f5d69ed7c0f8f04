"""Direct channels over a real server: IPC clients infer straight to the plugin process.

Each test checks that a channel is used, that it ends when it must (model unloaded, plugin
killed, token revoked), that the client's next call is still right, that a channel serves
only its model, and that bytes that break the framing close only the channel that sent them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlos.client import IPCClient
from mlos.errors import MLOSError, PermissionDenied, Unauthenticated
from mlos.testing import ServerProcess
from mlos.wire.framing import HEADER, FrameKind
from mlos_generated import smi_ipc, smi_pb2
from tests.ipc.frames import answer, request_frame
from tests.ipc.rest import rest, success_count

INPUT = np.random.default_rng(7).random((1, 64), np.float32)


def _channel(client: IPCClient) -> socket.socket:
    """The socket of the client's channel to `demo` (private state, read for the test)."""
    routes = client._direct._routes  # type: ignore[union-attr]
    return routes[("demo", "")].sock


def _fresh_channel(client: IPCClient) -> socket.socket:
    """The client's channel after at most a few calls (the one after a lost channel reopens)."""
    for _ in range(3):
        client.infer("demo", {"input": INPUT})
        if client.direct_channels:
            return _channel(client)
    raise AssertionError("the client opened no channel")


def _closed(sock: socket.socket, timeout: float = 10.0) -> bool:
    """Whether the other end of `sock` closed it (EOF within `timeout`; an answer it may
    have sent first, such as an error frame, is read past)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def _infer_request(model: str = "demo", version: str = "") -> bytes:
    request = smi_pb2.InferRequest(model_name=model, model_version=version)
    request.inputs.add(name="input", datatype="FP32", shape=[1, 64], contents=INPUT.tobytes())
    return request.SerializeToString()


def test_inference_goes_direct_same_answers_and_counted(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as direct, IPCClient(
        server.ipc_url, timeout=30, direct=False
    ) as relayed:
        before = success_count(server)
        expected = relayed.infer("demo", {"input": INPUT})
        got = direct.infer("demo", {"input": INPUT})
        assert direct.direct_channels == 1 and relayed.direct_channels == 0
        assert np.array_equal(got["output"], expected["output"])
        for _ in range(20):
            direct.infer("demo", {"input": INPUT})
        # A request that does not match the model gets the relayed path's error.
        with pytest.raises(MLOSError) as over_channel:
            direct.infer("demo", {"input": np.zeros((1, 3), np.float32)})
        with pytest.raises(MLOSError) as over_core:
            relayed.infer("demo", {"input": np.zeros((1, 3), np.float32)})
        assert over_channel.value.code == over_core.value.code
        assert direct.direct_channels == 1
        deadline = time.monotonic() + 10
        while success_count(server) < before + 22 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert success_count(server) == before + 22  # 1 relayed + 21 direct


def test_unload_ends_the_channel_and_load_reopens_one(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as client:
        client.infer("demo", {"input": INPUT})
        old = _channel(client)
        rest(server, "POST", "/v2/repository/models/demo/unload")
        assert _closed(old)
        with pytest.raises(MLOSError):  # the server's answer for an unloaded model
            client.infer("demo", {"input": INPUT})
        assert client.direct_channels == 0
        rest(server, "POST", "/v2/repository/models/demo/load")
        time.sleep(1.1)  # past the client's back-off after the failed channel request
        outputs = client.infer("demo", {"input": INPUT})
        assert outputs["output"].shape == (1, 10)
        assert client.direct_channels == 1 and _channel(client) is not old


def test_killed_plugin_then_calls_are_right_again(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as client, IPCClient(
        server.ipc_url, timeout=30, direct=False
    ) as relayed:
        expected = client.infer("demo", {"input": INPUT})["output"]
        old = _channel(client)
        pid = relayed.get_plugin("onnx").pid
        os.kill(pid, signal.SIGKILL)
        assert _closed(old)
        deadline = time.monotonic() + 60
        while True:
            try:
                got = client.infer("demo", {"input": INPUT})["output"]
                break
            except MLOSError:  # while the plugin restarts
                assert time.monotonic() < deadline, "the plugin did not come back"
                time.sleep(0.2)
        assert np.array_equal(got, expected)
        assert relayed.get_plugin("onnx").pid != pid
        deadline = time.monotonic() + 10
        while client.direct_channels == 0 and time.monotonic() < deadline:
            client.infer("demo", {"input": INPUT})
            time.sleep(0.2)
        assert client.direct_channels == 1 and _channel(client) is not old


def test_revoked_token_ends_its_channels(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as admin:
        created = admin.create_token("reader", "inference")
        with IPCClient(server.ipc_url, timeout=30, token=created.token) as client:
            client.infer("demo", {"input": INPUT})
            old = _channel(client)
            admin.revoke_token(created.info.id)
            assert _closed(old)
            with pytest.raises(Unauthenticated):
                client.infer("demo", {"input": INPUT})
            assert client.direct_channels == 0


def test_an_expired_token_ends_its_channels(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as admin:
        created = admin.create_token("brief", "inference", ttl_seconds=2)
        with IPCClient(server.ipc_url, timeout=30, token=created.token) as client:
            client.infer("demo", {"input": INPUT})
            old = _channel(client)
            assert _closed(old, timeout=10)
            with pytest.raises(Unauthenticated):
                client.infer("demo", {"input": INPUT})


def test_a_channel_serves_its_model_only(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    with IPCClient(server.ipc_url, timeout=30) as client:
        client.infer("demo", {"input": INPUT})
        sock = _channel(client)
        for model, version in (("other", ""), ("demo", "2")):
            sock.sendall(request_frame(smi_ipc.MLOS_INFER.id, _infer_request(model, version)))
            kind, payload = answer(sock)
            assert kind == FrameKind.ERROR
            error = MLOSError.from_proto(smi_pb2.Error.FromString(payload))
            assert isinstance(error, PermissionDenied)
        # Only Infer is served on a channel.
        sock.sendall(request_frame(smi_ipc.MLOS_HEALTH.id, b""))
        kind, payload = answer(sock)
        assert kind == FrameKind.ERROR
        assert smi_pb2.Error.FromString(payload).code == smi_pb2.ERROR_CODE_UNIMPLEMENTED
        sock.sendall(request_frame(smi_ipc.MLOS_INFER.id, _infer_request()))
        assert answer(sock)[0] == FrameKind.RESPONSE


def test_malformed_frames_close_only_their_channel(mlos_demo_server: ServerProcess) -> None:
    server = mlos_demo_server
    rng = np.random.default_rng(3)
    with IPCClient(server.ipc_url, timeout=30) as keeper:
        keeper.infer("demo", {"input": INPUT})
        kept = _channel(keeper)
        with IPCClient(server.ipc_url, timeout=30) as client:
            for round_ in range(30):
                sock = _fresh_channel(client)
                if round_ % 3 == 0:  # an undecodable payload: an error, the channel stays
                    sock.sendall(request_frame(smi_ipc.MLOS_INFER.id, rng.bytes(40)))
                    kind, _ = answer(sock)
                    assert kind == FrameKind.ERROR
                elif round_ % 3 == 1:  # a frame over the limit: refused, then closed
                    sock.sendall(HEADER.pack(2**31, FrameKind.REQUEST, 0, 0x020C, 9, 0))
                    kind, payload = answer(sock)
                    assert kind == FrameKind.ERROR
                    code = smi_pb2.Error.FromString(payload).code
                    assert code == smi_pb2.ERROR_CODE_RESOURCE_EXHAUSTED
                else:  # garbage that breaks the framing: closed
                    sock.sendall(rng.bytes(int(rng.integers(16, 400))))
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        # The host may have closed the channel on the bytes before.
                        sock.sendall(HEADER.pack(8, 9, 0, 0, 0, 0) + b"x" * 8)
                    assert _closed(sock)
            # A half-sent frame on one channel does not stall another.
            half = request_frame(smi_ipc.MLOS_INFER.id, _infer_request())[:30]
            _fresh_channel(client).sendall(half)
            kept.sendall(request_frame(smi_ipc.MLOS_INFER.id, _infer_request()))
            assert answer(kept)[0] == FrameKind.RESPONSE
        outputs = keeper.infer("demo", {"input": INPUT})
        assert outputs["output"].shape == (1, 10)
        assert keeper.health().ready


def _metrics(server: ServerProcess) -> dict[tuple[str, str], float]:
    """The demo model's inference counters on /metrics: (family, reason) → value."""
    request = urllib.request.Request(server.url + "/metrics", headers=server.auth_headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    values: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("nv_inference_request_success", "nv_inference_request_failure"):
            for sample in family.samples:
                if sample.labels.get("model") == "demo":
                    values[(family.name, sample.labels.get("reason", ""))] = sample.value
    return values


def test_metrics_and_validation_errors_hold_over_a_channel(
    mlos_demo_server: ServerProcess,
) -> None:
    server = mlos_demo_server
    wrong = {"input": np.zeros((1, 3), np.float32)}
    with IPCClient(server.ipc_url, timeout=30) as direct, IPCClient(
        server.ipc_url, timeout=30, direct=False
    ) as relayed:
        before = _metrics(server)

        def changed(expected: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
            """What changed since `before` once it is `expected` (or after 10 s)."""
            deadline = time.monotonic() + 10
            while True:
                now = _metrics(server)
                delta = {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k)}
                if delta == expected or time.monotonic() > deadline:
                    return delta
                time.sleep(0.1)

        direct.infer("demo", {"input": INPUT})  # opens the channel
        success = ("nv_inference_request_success", "")
        assert changed({success: 1.0}) == {success: 1.0}
        before = _metrics(server)
        with pytest.raises(MLOSError) as over_core:
            relayed.infer("demo", wrong)  # counted at once: the core served it
        now = _metrics(server)
        (failure,) = [k for k, v in now.items() if v != before.get(k)]
        assert failure[0] == "nv_inference_request_failure"
        before = now
        with pytest.raises(MLOSError) as over_channel:
            direct.infer("demo", wrong)
        for _ in range(5):
            direct.infer("demo", {"input": INPUT})
        assert direct.direct_channels == 1
        assert (over_channel.value.code, over_channel.value.message) == (
            over_core.value.code, over_core.value.message
        )
        expected = {failure: 1.0, success: 5.0}
        assert changed(expected) == expected


def test_validation_errors_over_a_channel_are_the_relayed_ones(
    mlos_demo_server: ServerProcess,
) -> None:
    server = mlos_demo_server
    wrong_inputs: list[dict[str, np.ndarray]] = [
        {"input": np.zeros((1, 3), np.float32)},  # shape
        {"input": INPUT.astype(np.float64)},  # datatype
        {"input": np.zeros((1, 64), np.int32)},  # datatype
        {"other": INPUT},  # name
        {"input": INPUT, "extra": INPUT},  # one input too many
    ]
    with (
        IPCClient(server.ipc_url, timeout=30) as direct,
        IPCClient(server.ipc_url, timeout=30, direct=False) as relayed,
    ):
        direct.infer("demo", {"input": INPUT})
        for inputs in wrong_inputs:
            with pytest.raises(MLOSError) as over_channel:
                direct.infer("demo", inputs)
            with pytest.raises(MLOSError) as over_core:
                relayed.infer("demo", inputs)
            assert (over_channel.value.code, over_channel.value.message) == (
                over_core.value.code,
                over_core.value.message,
            ), inputs
        assert direct.direct_channels == 1  # all of them answered by the channel
