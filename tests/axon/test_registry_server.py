"""The registry server over real HTTP: reads, Range, writes, roles, and the OpenAPI document."""

from __future__ import annotations

import hashlib
import pathlib

import requests
import yaml

from axon.registry_server import create_token
from tests.axon.conftest import REPO, RegistryServer


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_blob_upload_range_and_head(registry_server: RegistryServer) -> None:
    data = bytes(range(256)) * 10
    digest = hashlib.sha256(data).hexdigest()
    url = f"{registry_server.url}/blobs/sha256/{digest}"
    assert requests.get(url, timeout=5).status_code == 404
    assert requests.put(url, data=data, timeout=5).status_code == 401
    created = requests.put(url, data=data, headers=auth(registry_server.token), timeout=5)
    assert created.status_code == 201 and created.json() == {"sha256": digest, "created": True}
    again = requests.put(url, data=data, headers=auth(registry_server.token), timeout=5)
    assert again.status_code == 200
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


def test_upload_with_wrong_digest_is_rejected(registry_server: RegistryServer) -> None:
    url = f"{registry_server.url}/blobs/sha256/{'a' * 64}"
    response = requests.put(url, data=b"hello", headers=auth(registry_server.token), timeout=5)
    assert response.status_code == 422 and "digest mismatch" in response.json()["error"]
    assert not (registry_server.root / "blobs" / "sha256" / ("a" * 64)).exists()
    assert not list((registry_server.root / "blobs" / "sha256").glob(".incoming-*"))


def test_read_role_cannot_write(registry_server: RegistryServer) -> None:
    reader = create_token(registry_server.root / ".axon" / "tokens.yaml", "ro", "read")
    url = f"{registry_server.url}/blobs/sha256/{hashlib.sha256(b'x').hexdigest()}"
    response = requests.put(url, data=b"x", headers=auth(reader), timeout=5)
    assert response.status_code == 403


def test_version_put_validates_the_manifest(registry_server: RegistryServer) -> None:
    url = f"{registry_server.url}/models/a/b/1.0.0"
    body = {"manifest": {"namespace": "a", "name": "b", "version": "1.0.0"},
            "package": {"sha256": "c" * 64, "size": 1}}
    response = requests.put(url, json=body, headers=auth(registry_server.token), timeout=5)
    assert response.status_code == 422 and "invalid manifest" in response.json()["error"]
    assert requests.get(f"{registry_server.url}/index.json", timeout=5).json()["models"] == []


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
