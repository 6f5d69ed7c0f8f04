"""The registry server over real HTTP: reads, Range, the checked package upload, roles, and
the OpenAPI document."""

from __future__ import annotations

import hashlib
import pathlib

import requests
import yaml

from axon.registry_tokens import create_token
from tests.axon.conftest import REPO, RegistryServer
from tests.axon.test_package import MODEL, hostile


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put_package(server: RegistryServer, path: pathlib.Path, token: str | None,
                version: str = "1.0.0", digest: str | None = None) -> requests.Response:
    data = path.read_bytes()
    return requests.put(f"{server.url}/models/evil/pkg/{version}/package",
                        params={"sha256": digest or hashlib.sha256(data).hexdigest()},
                        data=data, headers=auth(token) if token else {}, timeout=10)


def private_leftovers(server: RegistryServer) -> list[str]:
    return [p.name for p in (server.root / ".axon").iterdir() if p.name.startswith(".upload")]


def test_package_upload_then_blob_range_and_head(registry_server: RegistryServer,
                                                 tmp_path: pathlib.Path) -> None:
    archive = hostile(tmp_path / "ok.axon", [("model.onnx", MODEL)])
    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    url = f"{registry_server.url}/blobs/sha256/{digest}"
    assert requests.get(url, timeout=5).status_code == 404
    assert put_package(registry_server, archive, None).status_code == 401
    created = put_package(registry_server, archive, registry_server.token)
    assert created.status_code == 201
    assert created.json() == {"created": True, "sha256": digest, "ref": "evil/pkg@1.0.0"}
    again = put_package(registry_server, archive, registry_server.token)
    assert again.status_code == 200 and again.json()["created"] is False
    head = requests.head(url, timeout=5)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    assert head.headers["Accept-Ranges"] == "bytes"
    part = requests.get(url, headers={"Range": "bytes=100-"}, timeout=5)
    assert part.status_code == 206 and part.content == data[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    middle = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert middle.content == data[10:20]
    bad = requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=5)
    assert bad.status_code == 416
    index = requests.get(f"{registry_server.url}/models/evil/pkg/index.json", timeout=5).json()
    assert index["latest"] == "1.0.0"
    assert index["versions"] == [{"version": "1.0.0",
                                  "package": {"sha256": digest, "size": len(data)}}]


def test_upload_with_wrong_digest_is_rejected(registry_server: RegistryServer,
                                              tmp_path: pathlib.Path) -> None:
    archive = hostile(tmp_path / "ok.axon", [("model.onnx", MODEL)])
    response = put_package(registry_server, archive, registry_server.token, digest="a" * 64)
    assert response.status_code == 422 and "digest mismatch" in response.json()["error"]
    assert not (registry_server.root / "blobs").exists()
    assert private_leftovers(registry_server) == []


def test_the_server_checks_packages_itself(registry_server: RegistryServer,
                                           tmp_path: pathlib.Path) -> None:
    """Without the client's own check in between: the server runs the install checks."""
    archive = hostile(tmp_path / "bad.axon", [("model.onnx", MODEL), ("extra.bin", b"x")])
    response = put_package(registry_server, archive, registry_server.token)
    assert response.status_code == 422 and "not declared" in response.json()["error"]
    assert not (registry_server.root / "blobs").exists()
    assert not (registry_server.root / "models").exists()
    assert private_leftovers(registry_server) == []


def test_the_url_must_name_the_package(registry_server: RegistryServer,
                                       tmp_path: pathlib.Path) -> None:
    archive = hostile(tmp_path / "ok.axon", [("model.onnx", MODEL)])
    response = put_package(registry_server, archive, registry_server.token, version="2.0.0")
    assert response.status_code == 400 and "not evil/pkg@2.0.0" in response.json()["error"]
    assert not (registry_server.root / "blobs").exists()


def test_read_role_cannot_write(registry_server: RegistryServer, tmp_path: pathlib.Path) -> None:
    reader = create_token(registry_server.root / ".axon" / "tokens.yaml", "ro", "read")
    archive = hostile(tmp_path / "ok.axon", [("model.onnx", MODEL)])
    assert put_package(registry_server, archive, reader).status_code == 403


def test_tokens_file_is_never_served(registry_server: RegistryServer) -> None:
    for path in ("/.axon/tokens.yaml", "/models/../.axon/tokens.yaml", "/blobs/sha256/..%2F"):
        response = requests.get(registry_server.url + path, timeout=5)
        assert response.status_code == 404, path
        assert b"sha256" not in response.content or b"error" in response.content


def test_openapi_document_lists_every_route() -> None:
    from axon.registry_server import build_app

    doc = yaml.safe_load((REPO / "spec" / "registry.openapi.yaml").read_text())
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops if method != "parameters"}
    app = build_app(pathlib.Path("/nonexistent"))
    served = set()
    for route in app.routes:
        path = str(getattr(route, "path", ""))
        path = path.replace("{ns}", "{namespace}").replace("{digest}", "{sha256}")
        for method in getattr(route, "methods", None) or ():
            served.add((path, method))
    # Starlette answers HEAD wherever it answers GET; only the blob HEAD is part of the protocol.
    implied = {(p, "HEAD") for p, m in served if m == "GET"} - documented
    assert documented == served - implied
