"""Every operation, every role, every kind of bad credential, over REST, gRPC and IPC.

The operations come from the spec: REST's from the generated operation table of
spec/openapi.yaml, gRPC's from the service descriptors of spec/smi.proto and
spec/inference.proto, IPC's from the generated method table; so an operation added to a spec is
in the matrix without anyone remembering it. Each answer must be what the operation's access
level and the caller's role say: 401 without valid credentials, 403 for a role that does not
grant the operation, anything but those two otherwise (the call itself may fail: the plugins
and models it names do not exist).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from mlos.core.auth import ROLE_ACCESS
from mlos.core.operations import Access, operation
from mlos.core.service import MLOS_OPERATIONS
from mlos.errors import MLOSError, PermissionDenied, Unauthenticated
from mlos.grpc.app import INFERENCE_SERVICE, MLOS_SERVICE
from mlos.testing import ServerProcess
from mlos.wire import Channel
from mlos_generated import smi_ipc, smi_pb2
from mlos_generated.openapi_operations import OPERATIONS

ROLES = {
    "viewer": smi_pb2.ROLE_VIEWER,
    "inference": smi_pb2.ROLE_INFERENCE,
    "operator": smi_pb2.ROLE_OPERATOR,
    "admin": smi_pb2.ROLE_ADMIN,
}
BAD = ("none", "wrong", "expired", "revoked")

GRPC_OPERATIONS = {
    "ServerLive": "server_live",
    "ServerReady": "server_ready",
    "ServerMetadata": "server_metadata",
    "ModelReady": "model_ready",
    "ModelMetadata": "model_metadata",
    "ModelInfer": "infer",
    "ModelConfig": "model_config",
    "ModelStatistics": "model_statistics",
    "RepositoryIndex": "repository_index",
    "RepositoryModelLoad": "load_model",
    "RepositoryModelUnload": "unload_model",
    "SystemSharedMemoryStatus": "system_shm_status",
    "SystemSharedMemoryRegister": "register_system_shm",
    "SystemSharedMemoryUnregister": "unregister_system_shm",
    "CudaSharedMemoryStatus": "cuda_shm_status",
    "CudaSharedMemoryRegister": "register_cuda_shm",
    "CudaSharedMemoryUnregister": "unregister_cuda_shm",
    "TraceSetting": "trace_setting",
    "LogSettings": "log_settings",
}
"""The operation of each `inference.GRPCInferenceService` method (streams aside)."""

REST_BODIES: dict[str, Any] = {
    "register_plugin": {"name": "nope"},
    # Under the server's model root (<home>/models), so that the path itself is allowed.
    "register_model": {"name": "nope", "plugin": "nope", "path": "models/nope.onnx"},
    "create_token": {"name": "matrix", "role": "viewer"},
    "system_shared_memory_register": {"key": "/nope", "byte_size": 8},
    "cuda_shared_memory_register": {"raw_handle": {"b64": ""}, "device_id": 0, "byte_size": 8},
    "repository_index": {},
    "model_infer": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]},
    "model_version_infer": {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]
    },
}
PATH_VALUES = {"name": "nope", "version": "1", "region": "nope", "id": "abc123"}


@dataclass(frozen=True)
class Credentials:
    """A token for each role and each kind of bad credential ("" for none)."""

    tokens: dict[str, str]


def _expected(access: Access, credential: str) -> str:
    if access is Access.OPEN:
        return "allowed"
    if credential in BAD:
        return "unauthenticated"
    return "allowed" if ROLE_ACCESS[ROLES[credential]] >= access else "denied"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Credentials]]:
    root = tmp_path_factory.mktemp("rbac")
    home = root / "home"
    home.mkdir()
    # No uid mapping, so that IPC calls without a token are refused like the others.
    (home / "config.yaml").write_text("ipc_uid_roles: {}\n")
    server = ServerProcess(home, logs=root)
    server.start()
    try:
        admin = (home / "admin.token").read_text().strip()
        tokens = {"admin": admin, "none": "", "wrong": "mlos_0123456789ab_not-a-real-secret"}
        for role in ("viewer", "inference", "operator"):
            tokens[role] = _create(server.url, admin, {"name": role, "role": role})["token"]
        expired = _create(server.url, admin, {"name": "short", "role": "admin", "ttl_seconds": 1})
        revoked = _create(server.url, admin, {"name": "gone", "role": "admin"})
        answer = requests.delete(
            f"{server.url}/v1/tokens/{revoked['info']['id']}",
            headers={"Authorization": f"Bearer {admin}"},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["revoked_at"] > 0
        tokens["expired"], tokens["revoked"] = expired["token"], revoked["token"]
        time.sleep(max(0.0, expired["info"]["expires_at"] - time.time()) + 0.1)
        yield server, Credentials(tokens)
    finally:
        server.stop()


def _create(url: str, admin: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(
        f"{url}/v1/tokens", json=body, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    created: dict[str, Any] = answer.json()
    assert created["token"].startswith("mlos_") and created["info"]["role"] == body["role"]
    return created


def test_every_transport_method_is_an_operation() -> None:
    rest = {op.mlos_operation for op in OPERATIONS}
    assert all(operation(name) for name in rest)
    assert set(GRPC_OPERATIONS) | {"ModelStreamInfer"} == {
        m.name for m in INFERENCE_SERVICE.methods
    }
    assert {m.handler for m in smi_ipc.MLOSServicer.METHODS} == set(MLOS_OPERATIONS)
    assert {m.name for m in MLOS_SERVICE.methods} == {
        m.name for m in smi_ipc.MLOSServicer.METHODS
    }


def _outcome_of_status(status: int) -> str:
    return {401: "unauthenticated", 403: "denied"}.get(status, "allowed")


def test_rest_matrix(served: tuple[ServerProcess, Credentials]) -> None:
    server, credentials = served
    wrong: list[str] = []
    with requests.Session() as session:
        session.trust_env = False
        for op in OPERATIONS:
            path = op.path.format(**PATH_VALUES)
            access = operation(op.mlos_operation).access
            for credential, token in credentials.tokens.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                body = REST_BODIES.get(op.operation_id)
                if op.operation_id == "register_model":
                    body = {**body, "path": str(server.home / body["path"])}
                answer = session.request(
                    op.method,
                    server.url + path,
                    json=body,
                    headers=headers,
                    timeout=30,
                )
                got = _outcome_of_status(answer.status_code)
                if answer.status_code == 401:
                    assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")
                if got != _expected(access, credential):
                    wrong.append(f"{op.method} {path} as {credential}: {answer.status_code}")
    assert wrong == []


def test_grpc_matrix(served: tuple[ServerProcess, Credentials]) -> None:
    server, credentials = served
    wrong: list[str] = []
    with grpc.insecure_channel(server.urls["gRPC"]) as channel:
        services = [
            (MLOS_SERVICE, {m.name: MLOS_OPERATIONS[m.handler].name
                            for m in smi_ipc.MLOSServicer.METHODS}),
            (INFERENCE_SERVICE, GRPC_OPERATIONS),
        ]
        for service, names in services:
            for method, name in names.items():
                if method == "Authenticate":
                    continue  # its outcome is the token it carries: test_authenticate
                call = channel.unary_unary(
                    f"/{service.full_name}/{method}",
                    request_serializer=lambda raw: raw,
                    response_deserializer=lambda raw: raw,
                )
                access = operation(name).access
                for credential, token in credentials.tokens.items():
                    metadata = (("authorization", f"Bearer {token}"),) if token else ()
                    try:
                        call(b"", metadata=metadata, timeout=30)
                        got = "allowed"
                    except grpc.RpcError as exc:
                        code = exc.code()  # type: ignore[attr-defined]
                        got = {
                            grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
                            grpc.StatusCode.PERMISSION_DENIED: "denied",
                        }.get(code, "allowed")
                    if got != _expected(access, credential):
                        wrong.append(f"{service.name}/{method} as {credential}: {got}")
    assert wrong == []


async def _ipc_matrix(socket: Path, credentials: Credentials) -> list[str]:
    wrong: list[str] = []
    for credential, token in credentials.tokens.items():
        channel = await Channel.connect(str(socket))
        try:
            if token:
                try:
                    await channel.call(
                        smi_ipc.MLOS_AUTHENTICATE, smi_pb2.AuthenticateRequest(token=token)
                    )
                except Unauthenticated:
                    assert credential in BAD
            for method in smi_ipc.MLOSServicer.METHODS:
                if method is smi_ipc.MLOS_AUTHENTICATE:
                    continue
                access = MLOS_OPERATIONS[method.handler].access
                try:
                    await channel.call(method, method.request_type(), timeout=30)
                    got = "allowed"
                except Unauthenticated:
                    got = "unauthenticated"
                except PermissionDenied:
                    got = "denied"
                except MLOSError:
                    got = "allowed"
                if got != _expected(access, credential):
                    wrong.append(f"{method.name} as {credential}: {got}")
        finally:
            channel.close()
    return wrong


def test_ipc_matrix(served: tuple[ServerProcess, Credentials]) -> None:
    server, credentials = served
    socket = Path(server.ipc_url.removeprefix("unix://"))
    assert asyncio.run(_ipc_matrix(socket, credentials)) == []


def test_authenticate_names_the_principal(served: tuple[ServerProcess, Credentials]) -> None:
    server, credentials = served
    with grpc.insecure_channel(server.urls["gRPC"]) as channel:
        authenticate = channel.unary_unary(
            f"/{MLOS_SERVICE.full_name}/Authenticate",
            request_serializer=smi_pb2.AuthenticateRequest.SerializeToString,
            response_deserializer=smi_pb2.AuthenticateResponse.FromString,
        )
        answer = authenticate(smi_pb2.AuthenticateRequest(token=credentials.tokens["operator"]))
        assert answer.principal.startswith("token:") and answer.role == smi_pb2.ROLE_OPERATOR
        for bad in ("wrong", "expired", "revoked"):
            with pytest.raises(grpc.RpcError) as caught:
                authenticate(smi_pb2.AuthenticateRequest(token=credentials.tokens[bad]))
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
