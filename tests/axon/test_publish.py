"""Publishing validates like installing (issue 16 item 5), through `axon publish` and over HTTP."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator

import pytest
import requests

from axon.registry_tokens import create_token, default_tokens_file
from tests.axon.conftest import Cli, RegistryServer, free_port, make_package_dir, running
from tests.axon.test_package import MODEL, hostile, link


@pytest.fixture(params=["http", "file"])
def registry(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
             monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Iterator[pathlib.Path]:
    """A configured default registry 'team'; yields its directory."""
    if request.param == "http":
        server: RegistryServer = request.getfixturevalue("registry_server")
        monkeypatch.setenv("AXON_REGISTRY_TOKEN_TEAM", server.token)
        url, root = server.url, server.root
    else:
        root = tmp_path / "file-registry"
        root.mkdir()
        url = root.as_uri()
    assert cli("registry", "add", "team", url, "--default")[0] == 0
    yield root


def stored(root: pathlib.Path) -> list[str]:
    """Every file a registry holds, except its private .axon directory."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and ".axon" not in p.relative_to(root).parts)


HOSTILE = {
    "traversal": ([("../evil.txt", b"x")], "outside the package"),
    "symlink": ([link("model.onnx", "/etc/passwd")], "outside the package"),
    "bad digest": ([("model.onnx", MODEL[:-1] + b"!")], "expected 39 bytes with sha256"),
    "undeclared": ([("model.onnx", MODEL), ("extra.bin", b"x")], "not declared"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_packages_are_not_published(cli: Cli, registry: pathlib.Path,
                                            tmp_path: pathlib.Path, case: str) -> None:
    members, message = HOSTILE[case]
    archive = hostile(tmp_path / "bad.axon", members)  # type: ignore[arg-type]
    code, _, err = cli("publish", str(archive))
    assert code == 1 and message in err, err
    assert stored(registry) == []


def test_a_conflicting_version_stores_nothing(cli: Cli, registry: pathlib.Path,
                                              tmp_path: pathlib.Path) -> None:
    first = hostile(tmp_path / "a.axon", [("model.onnx", MODEL)])
    assert cli("publish", str(first))[0] == 0
    before = stored(registry)
    other = b"other weights, same version"
    second = hostile(tmp_path / "b.axon", [("model.onnx", other)], {"model.onnx": other})
    code, _, err = cli("publish", str(second))
    assert code == 1 and "already published with other content" in err
    assert stored(registry) == before


def test_server_refuses_a_conflict_before_reading_the_package(
        registry_server: RegistryServer, tmp_path: pathlib.Path, cli: Cli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_REGISTRY_TOKEN_SRV", registry_server.token)
    cli("registry", "add", "srv", registry_server.url, "--default")
    first = hostile(tmp_path / "a.axon", [("model.onnx", MODEL)])
    assert cli("publish", str(first))[0] == 0
    before = stored(registry_server.root)
    url = f"{registry_server.url}/models/evil/pkg/1.0.0/package"
    auth = {"Authorization": f"Bearer {registry_server.token}"}
    response = requests.put(url, params={"sha256": "e" * 64}, data=b"", headers=auth,
                            timeout=10)
    assert response.status_code == 409
    assert "already published with other content" in response.json()["error"]
    assert stored(registry_server.root) == before


def test_a_package_bomb_is_refused_by_the_server(tmp_path: pathlib.Path, cli: Cli,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    token = create_token(default_tokens_file(root), "ci", "write")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "axon", "registry", "serve", str(root), "--port", str(port),
           "--max-extract-bytes", str(1 << 20)]
    zeros = bytes(8 << 20)
    bomb = hostile(tmp_path / "bomb.axon", [("model.onnx", zeros)], {"model.onnx": zeros})
    assert bomb.stat().st_size < 64 << 10
    monkeypatch.setenv("AXON_REGISTRY_TOKEN_SRV", token)
    cli("registry", "add", "srv", url, "--default")
    with running(cmd, url + "/healthz"):
        code, _, err = cli("publish", str(bomb))
    assert code == 1 and "size limit" in err, err
    assert stored(root) == []


def test_publish_of_a_good_directory_still_works(cli: Cli, registry: pathlib.Path,
                                                 tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src", "team", "good")
    code, _, err = cli("publish", str(src))
    assert code == 0, err
    assert cli("install", "team/good")[0] == 0
    assert any(p.startswith("blobs/sha256/") for p in stored(registry))
