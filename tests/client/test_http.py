"""HTTPClient against the real REST app (over the stub engine): every call, typed results, errors."""

from __future__ import annotations

import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from mlos.client import HTTPClient, Unreachable, connect
from mlos.client.http import _send_buffers
from mlos.client.rest import RestRequest, error_for
from mlos.errors import (
    AlreadyExists,
    DeadlineExceeded,
    InvalidArgument,
    MLOSError,
    NotFound,
)
from mlos.wire.oip_http import BodyParts, encode_request
from mlos_generated import smi_pb2
from tests.client.conftest import StubServer


def test_health_ready_and_not_ready(client: HTTPClient, stub: StubServer) -> None:
    health = client.health()
    assert isinstance(health, smi_pb2.HealthResponse)
    assert health.live and health.ready
    stub.engine.ready = False  # the server answers 503 with the same body: not an error
    health = client.health()
    assert health.live and not health.ready


def test_server_metadata(client: HTTPClient) -> None:
    assert client.server_metadata()["name"] == "mlos"


def test_plugin_lifecycle(client: HTTPClient) -> None:
    status = client.register_plugin("onnx", version="2.0", module="pkg.mod:Plugin")
    assert isinstance(status, smi_pb2.PluginStatus)
    assert (status.name, status.version, status.source.module) == ("onnx", "2.0", "pkg.mod:Plugin")
    assert status.state == smi_pb2.PLUGIN_STATE_READY
    assert [p.name for p in client.list_plugins()] == ["onnx"]
    assert client.get_plugin("onnx").pid == 1234
    unloaded = client.unload_plugin("onnx")
    assert (unloaded.state, unloaded.pid) == (smi_pb2.PLUGIN_STATE_UNLOADED, 0)
    assert client.load_plugin("onnx").state == smi_pb2.PLUGIN_STATE_READY
    assert client.remove_plugin("onnx") is None
    assert client.list_plugins() == []


def test_register_plugin_sends_only_what_is_given(client: HTTPClient, stub: StubServer) -> None:
    status = client.register_plugin("onnx")
    assert status.source.WhichOneof("kind") == "entry_point"  # the stub's default for no source
    with pytest.raises(InvalidArgument, match="at most one of"):
        client.register_plugin("x", module="a:B", executable="/bin/x")


def test_errors_keep_their_code(client: HTTPClient) -> None:
    client.register_plugin("onnx")
    with pytest.raises(AlreadyExists, match="registered already"):
        client.register_plugin("onnx")
    with pytest.raises(NotFound, match="no plugin 'nope'"):
        client.get_plugin("nope")
    with pytest.raises(NotFound):
        client.remove_model("nope")


def test_request_validation_errors_are_invalid_argument(client: HTTPClient) -> None:
    with pytest.raises(InvalidArgument):
        client.register_plugin("")  # minLength 1 in the OpenAPI document


def test_models(client: HTTPClient) -> None:
    status = client.register_model(
        "m", "/models/m.onnx", plugin="stub", version="3", config={"threads": "1"}
    )
    assert isinstance(status, smi_pb2.ModelStatus)
    assert (status.name, status.version, status.path, dict(status.config)) == (
        "m", "3", "/models/m.onnx", {"threads": "1"}
    )
    assert status.state == smi_pb2.MODEL_STATE_READY
    assert {m.name for m in client.list_models()} == {"add", "echo", "upper", "m"}
    model = client.get_model("m")
    assert isinstance(model, smi_pb2.Model)
    assert [v.version for v in model.versions] == ["3"]
    one = client.get_model("m", version="3")
    assert (one.name, [v.version for v in one.versions]) == ("m", ["3"])
    with pytest.raises(NotFound):
        client.get_model("m", version="9")
    removed = client.remove_model("m", version="3")
    assert [(s.name, s.version) for s in removed] == [("m", "3")]
    assert [s.name for s in client.remove_model("add")] == ["add"]


def test_model_metadata_and_ready(client: HTTPClient) -> None:
    metadata = client.model_metadata("add")
    assert isinstance(metadata, smi_pb2.ModelMetadata)
    assert (metadata.name, metadata.version, metadata.platform) == ("add", "1", "stub_platform")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("x", "FP32", [-1, 4]), ("y", "FP32", [-1, 4])
    ]
    assert client.model_metadata("add", version="1").outputs[0].name == "z"
    assert client.model_ready("add") is True
    assert client.model_ready("missing") is False
    with pytest.raises(NotFound):
        client.model_metadata("missing")


def test_resources(client: HTTPClient) -> None:
    resources = client.resources()
    assert resources.host.cpu_count == 2
    assert resources.plugins[0].rss_bytes == 2**20


@pytest.mark.parametrize("binary", [True, False])
def test_infer_numeric(client: HTTPClient, stub: StubServer, binary: bool) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    y = np.full((2, 4), 0.5, dtype=np.float32)
    outputs = client.infer("add", {"x": x, "y": y}, binary=binary)
    assert list(outputs) == ["z"]
    assert outputs["z"].dtype == np.float32
    np.testing.assert_array_equal(outputs["z"], x + y)
    request = stub.engine.requests[-1]
    assert [t.datatype for t in request.inputs] == ["FP32", "FP32"]
    assert request.inputs[0].contents == x.tobytes()


@pytest.mark.parametrize("binary", [True, False])
def test_infer_bytes(client: HTTPClient, binary: bool) -> None:
    text = np.array([["ab", "cd"], ["", "x y"]], dtype=object)
    outputs = client.infer("upper", {"text": text}, binary=binary)
    assert outputs["upper"].dtype == object
    assert outputs["upper"].tolist() == [[b"AB", b"CD"], [b"", b"X Y"]]
    echoed = client.infer("echo", {"in": np.array(["héllo", "€"])}, binary=binary)["out"]
    assert echoed.tolist() == ["héllo".encode(), "€".encode()]


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.array([1, 2, 3], dtype=np.int8), "INT8"),
        (np.array([1, 2**40], dtype=np.uint64), "UINT64"),
        (np.array([True, False]), "BOOL"),
        (np.array([1.5, -2.0], dtype=np.float16), "FP16"),
        (np.array([1.0, 2.0]), "FP64"),
    ],
)
@pytest.mark.parametrize("binary", [True, False])
def test_infer_datatypes_round_trip(
    client: HTTPClient, array: np.ndarray, datatype: str, binary: bool
) -> None:
    outputs = client.infer("echo", {"in": array}, binary=binary)
    assert outputs["out"].dtype == array.dtype
    np.testing.assert_array_equal(outputs["out"], array)


def test_infer_datatype_override_and_version(client: HTTPClient, stub: StubServer) -> None:
    outputs = client.infer("echo", {"in": [1, 2, 3]}, version="1", datatypes={"in": "FP32"})
    assert outputs["out"].dtype == np.float32
    assert stub.engine.requests[-1].model_version == "1"


def test_infer_selected_outputs_and_errors(client: HTTPClient) -> None:
    x = np.ones((1, 4), np.float32)
    assert list(client.infer("add", {"x": x, "y": x}, outputs=["z"])) == ["z"]
    with pytest.raises(InvalidArgument, match="unknown output"):
        client.infer("add", {"x": x, "y": x}, outputs=["w"])
    with pytest.raises(NotFound):
        client.infer("missing", {"x": x})
    with pytest.raises(InvalidArgument, match="unknown datatype"):
        client.infer("echo", {"in": x}, datatypes={"in": "FP8"})
    with pytest.raises(InvalidArgument, match="BYTES needs strings"):
        client.infer("echo", {"in": x}, datatypes={"in": "BYTES"})


def test_oversize_body_is_resource_exhausted(client: HTTPClient) -> None:
    big = np.zeros(400_000, dtype=np.float32)  # 1.6 MB over the stub server's 1 MiB limit
    with pytest.raises(MLOSError) as caught:
        client.infer("echo", {"in": big})
    assert caught.value.code.slug == "resource_exhausted"


def test_unreachable_server() -> None:
    with socket.socket() as sock:  # a port that is certainly closed: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(Unreachable) as caught:
            connect(url, timeout=5).health()
    assert f"no MLOS server is reachable at {url}" in caught.value.message
    assert "connection refused" in caught.value.message
    assert caught.value.code.slug == "unavailable"


def test_silent_server_is_deadline_exceeded() -> None:
    with socket.socket() as sock:  # listens, accepts into the backlog, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        client = HTTPClient(f"127.0.0.1:{sock.getsockname()[1]}", timeout=0.2)
        with pytest.raises(DeadlineExceeded, match="did not answer GET /v1/health"):
            client.health()


def test_connect_and_addresses() -> None:
    client = connect("127.0.0.1:9/")
    assert isinstance(client, HTTPClient)
    assert client.url == "http://127.0.0.1:9"
    assert connect("https://mlos.example").url == "https://mlos.example"
    assert connect("grpc://127.0.0.1").url == "grpc://127.0.0.1:8081"
    assert connect("unix:///run/mlos.sock").url == "unix:///run/mlos.sock"
    with pytest.raises(InvalidArgument, match="unknown scheme"):
        connect("ftp://x")
    with pytest.raises(InvalidArgument):
        HTTPClient("http://")


def test_non_json_error_answer(client: HTTPClient, stub: StubServer) -> None:
    # No operation matches: connexion answers 404, still a typed error.
    answer = client.send(RestRequest("GET", "/nowhere"))
    assert answer.status == 404
    with pytest.raises(NotFound):
        raise error_for(answer)


JSON_HEADERS = {"Content-Type": "application/json"}


class _RawServer:
    """A one-thread HTTP/1.1 server on loopback that records what each read of a request saw
    and closes the connection after every answer (without saying so)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.first_reads: list[bytes] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                data = conn.recv(1 << 20)
                self.first_reads.append(data)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
                while len(body) < length:
                    body += conn.recv(1 << 20)
                answer = b'{"live": true, "ready": true, "plugins": []}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
        self.sock.close()
        self._thread.join(5)


def test_local_requests_go_out_in_one_write_and_survive_a_closed_keep_alive() -> None:
    server = _RawServer()
    try:
        client = HTTPClient(server.url, timeout=5)
        body = b'{"name": "x", "entry_point": "onnx"}'
        for _ in range(3):
            # The server closed the previous connection after answering: the client notices
            # (or learns it as the request goes out) and connects again; the call succeeds.
            answer = client.send(RestRequest("POST", "/v1/plugins", body, JSON_HEADERS))
            assert answer.status == 200 and answer.headers["content-type"] == "application/json"
        assert server.connections == 3
        for first in server.first_reads:  # head and body arrived together
            assert first.startswith(b"POST /v1/plugins HTTP/1.1\r\n") and first.endswith(body)
        client.close()
    finally:
        server.close()


def test_remote_and_tls_servers_go_through_requests() -> None:
    assert HTTPClient("http://127.0.0.1:9")._local is not None
    assert HTTPClient("https://127.0.0.1:9")._local is None
    assert HTTPClient("http://mlos.example:8080")._local is None
    assert HTTPClient("http://127.0.0.1:9", session=requests.Session())._local is None


def test_threads_share_one_client_and_its_connections(client: HTTPClient) -> None:
    def call(i: int) -> float:
        x = np.full((1, 4), i, np.float32)
        return float(client.infer("add", {"x": x, "y": x})["z"][0, 0])

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(200))) == [2.0 * i for i in range(200)]
    local = client._local
    assert local is not None and 1 <= len(local._idle) <= 8  # kept alive, at most one a thread


@pytest.mark.parametrize("local", [True, False])
def test_large_binary_inputs_go_out_as_parts(
    stub: StubServer, local: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over 64 KiB the body is its JSON header and views of the arrays, sent by one sendmsg
    # (loopback) or joined for requests; a strided or differently typed input is converted.
    x = np.arange(40_000, dtype=np.float32).reshape(10_000, 4)
    y = np.arange(80_000, dtype=np.float64).reshape(20_000, 4)[::2]  # strided, float64
    body, headers = encode_request({"x": x, "y": y}, datatypes={"y": "FP32"})
    assert isinstance(body, BodyParts)
    assert isinstance(body.parts[1], memoryview) and body.parts[1].obj is not None
    assert int(headers["Content-Length"]) == body.size == len(body.joined())
    small, _ = encode_request({"x": x[:2], "y": x[:2]})
    assert isinstance(small, bytes)
    if not local:
        monkeypatch.setattr("mlos.client.http._LOOPBACK", ())
    with HTTPClient(stub.url, timeout=10) as client:
        outputs = client.infer("add", {"x": x, "y": y}, datatypes={"y": "FP32"})
    np.testing.assert_array_equal(outputs["z"], x + y.astype(np.float32))
    request = stub.engine.requests[-1]
    assert request.inputs[0].contents == x.tobytes()
    assert request.inputs[1].contents == y.astype(np.float32).tobytes()


def test_send_buffers_survives_partial_writes() -> None:
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    buffers: list[bytes | memoryview] = [
        b"head", memoryview(bytes(range(256)) * 400), b"", np.arange(5000, dtype=np.int32).data
    ]
    expected = b"".join(bytes(memoryview(b).cast("B")) for b in buffers)
    received = bytearray()

    def read() -> None:
        while len(received) < len(expected):
            received.extend(right.recv(65536))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        _send_buffers(left, buffers)
        reader.join(10)
    finally:
        left.close()
        right.close()
    assert bytes(received) == expected
