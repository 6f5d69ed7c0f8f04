"""Bad calls get a status, never a dropped connection or a dead server."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.errors import FailedPrecondition
from mlos.grpc.app import INFERENCE_SERVICE, MLOS_SERVICE
from mlos.grpc.handlers import generic_handler
from mlos.grpc.status import CODE_METADATA_KEY
from mlos_generated import inference_pb2, smi_pb2
from tests.grpc.conftest import MAX_MESSAGE_BYTES

GARBAGE = b"\xff\xff\xff"  # a field tag whose varint never ends: no message parses it

METHODS = [
    f"/{service.full_name}/{method.name}"
    for service in (MLOS_SERVICE, INFERENCE_SERVICE)
    for method in service.methods
    if not (method.client_streaming or method.server_streaming)
]


def _raw_call(channel: grpc.Channel, path: str, payload: bytes) -> grpc.RpcError:
    call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as info:
        call(payload, timeout=30)
    return info.value


def _serving(channel: grpc.Channel) -> bool:
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return status.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "path", ["/inference.GRPCInferenceService/ModelInfer", "/mlos.smi.v1.MLOS/Infer"]
)
def test_malformed_infer_is_invalid_argument(channel: grpc.Channel, path: str) -> None:
    error = _raw_call(channel, path, GARBAGE)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "not a valid" in error.details()  # type: ignore[attr-defined]
    assert dict(error.trailing_metadata())[CODE_METADATA_KEY] == "invalid_argument"  # type: ignore[attr-defined]
    assert _serving(channel)


@pytest.mark.parametrize("path", METHODS)
def test_every_method_rejects_garbage(channel: grpc.Channel, path: str) -> None:
    error = _raw_call(channel, path, GARBAGE)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_invalid_utf8_in_a_string_field(channel: grpc.Channel) -> None:
    name = b"\xff\xfe"
    payload = b"\x0a" + bytes([len(name)]) + name  # model_name = <not UTF-8>
    error = _raw_call(channel, "/inference.GRPCInferenceService/ModelInfer", payload)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_truncated_message(channel: grpc.Channel) -> None:
    request = inference_pb2.ModelInferRequest(model_name="twice", raw_input_contents=[b"x" * 64])
    payload = request.SerializeToString()[:-10]
    error = _raw_call(channel, "/inference.GRPCInferenceService/ModelInfer", payload)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", ["/inference.GRPCInferenceService/Nope", "/no.such.Service/Call", "/", "garbage"]
)
def test_unknown_methods_are_unimplemented(channel: grpc.Channel, path: str) -> None:
    error = _raw_call(channel, path, b"")
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    assert _serving(channel)


def test_oversize_message_is_resource_exhausted(channel: grpc.Channel) -> None:
    request = smi_pb2.InferRequest(
        model_name="twice",
        inputs=[smi_pb2.Tensor(name="x", contents=b"\0" * (MAX_MESSAGE_BYTES + 1))],
    )
    error = _raw_call(channel, "/mlos.smi.v1.MLOS/Infer", request.SerializeToString())
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert _serving(channel)


def test_unknown_fields_are_ignored(channel: grpc.Channel) -> None:
    unknown_field = b"\xf8\x7f\x01"  # field 2047, varint 1
    call = channel.unary_unary(
        "/mlos.smi.v1.MLOS/Health",
        request_serializer=None,
        response_deserializer=smi_pb2.HealthResponse.FromString,
    )
    assert call(unknown_field, timeout=10).live


class _Broken:
    """A servicer whose methods fail in every way a servicer can."""

    async def Health(self, request: smi_pb2.HealthRequest, context: object) -> None:
        raise RuntimeError("a bug")

    async def ListPlugins(self, request: smi_pb2.ListPluginsRequest, context: object) -> None:
        raise FailedPrecondition("not now")

    async def GetResources(self, request: smi_pb2.ResourcesRequest, context: object) -> None:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "mine")  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"unexpected call {name}")


def test_servicer_failures_become_statuses(caplog: pytest.LogCaptureFixture) -> None:
    class Servicer(_Broken):
        pass

    servicer = Servicer()
    # method_handlers looks up every method of the service: give it the rest as placeholders.
    for method in MLOS_SERVICE.methods:
        if not hasattr(_Broken, method.name):
            setattr(servicer, method.name, None)

    async def run() -> list[tuple[grpc.StatusCode, str]]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((generic_handler(servicer, MLOS_SERVICE),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        results = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                for name in ("Health", "ListPlugins", "GetResources"):
                    call = channel.unary_unary(f"/mlos.smi.v1.MLOS/{name}")
                    try:
                        await call(b"", timeout=10)
                    except grpc.aio.AioRpcError as error:
                        results.append((error.code(), error.details() or ""))
        finally:
            await server.stop(None)
        return results

    with caplog.at_level(logging.ERROR, logger="mlos.grpc"):
        results = asyncio.run(run())
    assert results == [
        (grpc.StatusCode.INTERNAL, "internal error"),
        (grpc.StatusCode.FAILED_PRECONDITION, "not now"),
        (grpc.StatusCode.PERMISSION_DENIED, "mine"),
    ]
    assert "a bug" in caplog.text
