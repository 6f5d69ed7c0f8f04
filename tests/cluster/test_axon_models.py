"""Models registered by Axon reference: each node installs the package into its own verified
cache and loads it; no filesystem shared. Two nodes on one SQLite registry (so they follow it
by polling), each with its own Axon home, one `file://` Axon registry."""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterator

import pytest
import requests
import yaml

from axon.config import Config
from axon.package import pack
from axon.registry_store import RegistryStore
from mlos.core.axon_models import AxonReference
from mlos.errors import InvalidArgument
from mlos.testing import ServerProcess
from tests.axon.conftest import make_package_dir


def test_references_parse_and_pin() -> None:
    plain = AxonReference.parse("axon://vision/resnet@latest")
    assert (plain.registry, plain.target) == (None, "vision/resnet@latest")
    assert plain.pinned("1.2.0") == "axon://vision/resnet@1.2.0"
    named = AxonReference.parse("axon://hub/vision/resnet")
    assert (named.registry, named.spec) == ("hub", "latest")
    assert named.pinned("2.0.0") == "axon://hub/vision/resnet@2.0.0"
    url = AxonReference.parse("axon+https://models.example.com:8443/r/vision/resnet@^1")
    assert url.registry == "https://models.example.com:8443/r"
    assert url.pinned("1.4.0") == "axon+https://models.example.com:8443/r/vision/resnet@1.4.0"
    for bad in ("axon://resnet", "axon://Vision/ResNet@1", "axon+https:///v/r@1", "/m/r.onnx"):
        with pytest.raises(InvalidArgument):
            AxonReference.parse(bad)


@pytest.fixture
def nodes(tmp_path: pathlib.Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    registry = tmp_path / "axon-registry"
    registry.mkdir()
    store = RegistryStore(registry)
    store.publish_package(pack(make_package_dir(tmp_path / "src"), tmp_path / "m.axon").path)
    database = f"sqlite:///{tmp_path / 'shared' / 'registry.db'}"
    servers = []
    for name in ("a", "b"):
        axon_home = tmp_path / f"axon-{name}"
        Config(home=axon_home, env={}).add_registry("local", registry.as_uri())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOS_", "AXON_"))}
        servers.append(
            ServerProcess(
                tmp_path / f"home-{name}",
                env={**env, "AXON_HOME": str(axon_home)},
                config={"database_url": database, "node_id": name, "reconcile_interval": 0.5},
            )
        )
    first, second = servers
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        for server in servers:
            server.stop()


def test_a_model_registered_by_reference_is_installed_and_served_by_each_node(
    nodes: tuple[ServerProcess, ServerProcess], tmp_path: pathlib.Path
) -> None:
    first, second = nodes
    headers = first.auth_headers
    answer = requests.post(f"{first.url}/v1/plugins", json={"name": "onnx"}, headers=headers)
    assert answer.status_code == 201, answer.text
    answer = requests.post(f"{first.url}/v1/plugins/onnx/load", headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    body = {"name": "matmul", "path": "axon://test/matmul"}  # latest, plugin from the manifest
    answer = requests.post(f"{second.url}/v1/models", json=body, headers=headers, timeout=60)
    assert answer.status_code == 201, answer.text
    status = answer.json()
    assert (status["path"], status["version"], status["plugin"]) == (
        "axon://test/matmul@1.0.0", "1.0.0", "onnx"
    )
    infer = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]}]}
    for node, axon_home in ((first, "axon-a"), (second, "axon-b")):
        deadline = time.monotonic() + 30
        while True:
            answer = requests.post(
                f"{node.url}/v2/models/matmul/infer", json=infer, headers=headers, timeout=10
            )
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        # MatMul by arange(8).reshape(4, 2): column sums 12 and 16.
        assert answer.json()["outputs"][0]["data"] == [12.0, 16.0]
        installed = list((tmp_path / axon_home / "cache").rglob("model.onnx"))
        assert installed, f"node {node.home.name} did not install into its own cache"

    # A reference the registry does not have is refused with 404, nothing registered.
    body = {"name": "missing", "path": "axon://test/nothing@1.0.0"}
    answer = requests.post(f"{first.url}/v1/models", json=body, headers=headers, timeout=60)
    assert answer.status_code == 404, answer.text
    answer = requests.get(f"{first.url}/v1/models/missing", headers=headers, timeout=10)
    assert answer.status_code == 404


def test_a_reference_registration_takes_the_manifest_s_serving_section(
    tmp_path: pathlib.Path,
) -> None:
    """`serving.instances` and `serving.dynamic_batching` apply when the registration names
    neither `instance_count` nor `dynamic_batching`; a registration that names one wins."""
    registry = tmp_path / "axon-registry"
    registry.mkdir()
    source = make_package_dir(tmp_path / "src", name="served")
    manifest = yaml.safe_load((source / "manifest.yaml").read_text())
    manifest["serving"] = {"instances": 2, "dynamic_batching": {"max_queue_delay_us": 200}}
    (source / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    RegistryStore(registry).publish_package(pack(source, tmp_path / "s.axon").path)
    axon_home = tmp_path / "axon"
    Config(home=axon_home, env={}).add_registry("local", registry.as_uri())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOS_", "AXON_"))}
    server = ServerProcess(tmp_path / "home", env={**env, "AXON_HOME": str(axon_home)})
    server.start()
    try:
        headers = server.auth_headers
        for call in ("", "/onnx/load"):
            answer = requests.post(
                f"{server.url}/v1/plugins{call}", json={"name": "onnx"} if not call else None,
                headers=headers, timeout=60,
            )  # fmt: skip
            assert answer.status_code in (200, 201), answer.text
        body = {"name": "served", "path": "axon://test/served"}
        answer = requests.post(f"{server.url}/v1/models", json=body, headers=headers, timeout=60)
        assert answer.status_code == 201, answer.text
        status = answer.json()
        assert status["instance_count"] == 2
        assert int(status["dynamic_batching"]["max_queue_delay_us"]) == 200
        own: dict[str, object] = {"name": "own", "path": "axon://test/served", "instance_count": 1}
        answer = requests.post(f"{server.url}/v1/models", json=own, headers=headers, timeout=60)
        assert answer.status_code == 201, answer.text
        assert answer.json()["instance_count"] == 1 and "dynamic_batching" not in answer.json()
    finally:
        server.stop()
