"""The resource manager of a real server: a model that does not fit the budget is refused on every
transport while the others stay loaded; GPUs and dedicated CPUs go to plugin processes without
overlap; /v1/resources shows the budget and each grant."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from mlos.client import connect
from mlos.errors import InsufficientResources, StatusCode
from mlos.testing import ServerProcess
from mlos_generated import smi_pb2, smi_pb2_grpc
from tests.core.conftest import DOUBLE_PLUGIN
from tests.suite import suite_config

MiB = 2**20


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    extra: dict[str, Any] = getattr(request, "param", {})
    config = {**suite_config(tmp_path), **extra}
    served = ServerProcess(tmp_path / "home", logs=tmp_path, config=config)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _post(server: ServerProcess, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, headers=server.auth_headers, timeout=60)


def _resources(server: ServerProcess) -> dict[str, Any]:
    answer = requests.get(f"{server.url}/v1/resources", headers=server.auth_headers, timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _add_plugin(server: ServerProcess, name: str) -> requests.Response:
    registered = _post(server, "/v1/plugins", {"name": name, "module": DOUBLE_PLUGIN})
    assert registered.status_code == 201, registered.text
    return _post(server, f"/v1/plugins/{name}/load")


@pytest.mark.parametrize("server", [{"budget_memory": "1GiB"}], indirect=True)
def test_a_model_beyond_the_budget_is_refused_everywhere_and_nothing_else_is_unloaded(
    server: ServerProcess, tmp_path: Path
) -> None:
    assert _add_plugin(server, "double").status_code == 200
    for name in ("small", "big", "late"):
        (tmp_path / f"{name}.double").write_text("double")
    small = _post(server, "/v1/models", {"name": "small", "path": str(tmp_path / "small.double")})
    assert small.status_code == 201, small.text
    big = {"name": "big", "path": str(tmp_path / "big.double"),
           "resources": {"memory_bytes": 600 * MiB}}  # fmt: skip
    assert _post(server, "/v1/models", big).status_code == 201

    before = _resources(server)
    free = before["budget"]["memory_free_bytes"]
    assert before["budget"]["memory_bytes"] == 2**30 and 0 < free < 600 * MiB

    # REST: 507 with a problem naming what is short.
    late = {"name": "late", "path": str(tmp_path / "late.double"),
            "resources": {"memory_bytes": 600 * MiB, "cpus": 0.5}}  # fmt: skip
    refused = _post(server, "/v1/models", late)
    assert refused.status_code == 507, refused.text
    problem = refused.json()
    assert problem["code"] == "insufficient_resources"
    assert problem["detail"].startswith(
        "model 'late' version '1' does not fit the resource budget: memory: needs 600 MiB, "
    )
    assert problem["detail"].endswith("free of 1 GiB")

    request = smi_pb2.RegisterModelRequest(
        name="late", path=str(tmp_path / "late.double"),
        resources=smi_pb2.ModelResources(memory_bytes=600 * MiB),
    )  # fmt: skip
    # gRPC: RESOURCE_EXHAUSTED, the exact code in the trailing metadata.
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = smi_pb2_grpc.MLOSStub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            stub.RegisterModel(request, metadata=[("authorization", f"Bearer {server.token}")])
    assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("mlos-error-code", "insufficient_resources") in failed.value.trailing_metadata()
    assert "memory: needs 600 MiB" in str(failed.value.details())
    # IPC (and the client library over each transport): the typed error, code 13.
    for url in (server.ipc_url, server.grpc_url, server.url):
        with connect(url, token=server.token) as client:
            with pytest.raises(InsufficientResources) as typed:
                client.register_model("late", str(tmp_path / "late.double"),
                                      resources=smi_pb2.ModelResources(memory_bytes=600 * MiB))
            assert typed.value.code is StatusCode.INSUFFICIENT_RESOURCES
            assert int(typed.value.code) == smi_pb2.ERROR_CODE_INSUFFICIENT_RESOURCES == 13
            assert "memory: needs 600 MiB" in typed.value.message

    # Nothing else was unloaded, and the refused model left nothing behind.
    with connect(server.ipc_url, token=server.token) as client:
        assert client.model_ready("small") and client.model_ready("big")
        assert [m.name for m in client.list_models()] == ["big", "small"]
    for url in (server.ipc_url, server.grpc_url):  # the same report on every transport
        with connect(url, token=server.token) as client:
            report = client.resources()
        assert report.budget.memory_bytes == 2**30
        assert [(m.name, m.basis) for m in report.models] == [
            ("big", "declared"), ("small", "measured")
        ]
    after = _resources(server)
    grants = {m["name"]: m for m in after["models"]}
    assert set(grants) == {"big", "small"}
    assert grants["big"]["memory_granted_bytes"] == 600 * MiB
    assert grants["big"]["basis"] == "declared"
    assert grants["small"]["basis"] == "measured"
    assert grants["small"]["memory_granted_bytes"] == grants["small"]["memory_used_bytes"]
    (plugin,) = after["plugins"]
    assert plugin["plugin"] == "double" and plugin["baseline_bytes"] > 0
    assert plugin["memory_granted_bytes"] == plugin["baseline_bytes"] + sum(
        m["memory_granted_bytes"] for m in after["models"]
    )
    budget = after["budget"]
    assert budget["memory_granted_bytes"] == plugin["memory_granted_bytes"]
    assert budget["memory_free_bytes"] == 2**30 - budget["memory_granted_bytes"]

    # Unloading frees the grant: now it fits.
    removed = requests.delete(f"{server.url}/v1/models/big", headers=server.auth_headers,
                              timeout=30)  # fmt: skip
    assert removed.status_code == 200
    assert _post(server, "/v1/models", late).status_code == 201
    assert _resources(server)["budget"]["cpus_granted"] == 0.5


GPU_CONFIG = {
    "gpus": [{"index": 0, "name": "Test GPU A"}, {"index": 1, "name": "Test GPU B"}],
    "budget_cpus": "0-1",
    "plugin_resources": {name: {"gpus": 1} for name in ("g1", "g2", "g3")}
    | {name: {"cpus": 1} for name in ("c1", "c2", "c3")},
}


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or not {0, 1} <= os.sched_getaffinity(0),
    reason="needs CPUs 0 and 1",
)
@pytest.mark.parametrize("server", [GPU_CONFIG], indirect=True)
def test_gpus_and_dedicated_cpus_go_to_plugins_without_overlap(server: ServerProcess) -> None:
    pids = {}
    for name in ("g1", "g2", "plain"):
        loaded = _add_plugin(server, name)
        assert loaded.status_code == 200, loaded.text
        pids[name] = loaded.json()["pid"]
    visible = {name: _environ(pid).get("CUDA_VISIBLE_DEVICES") for name, pid in pids.items()}
    assert {visible["g1"], visible["g2"]} == {"0", "1"}
    assert visible["plain"] == ""  # asked for none: sees none

    refused = _add_plugin(server, "g3")
    assert refused.status_code == 507, refused.text
    assert refused.json()["code"] == "insufficient_resources"
    assert "gpus: needs 1, 0 free of 2" in refused.json()["detail"]

    resources = _resources(server)
    budget = resources["budget"]
    assert budget["gpu_source"] == "configured" and budget["gpus_granted"] == 2
    holders = {gpu["index"]: gpu["plugins"] for gpu in budget["gpus"]}
    assert holders == {int(visible["g1"]): ["g1"], int(visible["g2"]): ["g2"]}
    granted = {p["plugin"]: p["gpus_granted"] for p in resources["plugins"]}
    assert granted["g1"] == [int(visible["g1"])] and granted["plain"] == []

    # The GPU goes back when its plugin stops, and the next one gets it.
    assert _post(server, "/v1/plugins/g1/unload").status_code == 200
    again = _post(server, "/v1/plugins/g3/load")
    assert again.status_code == 200, again.text
    assert _environ(again.json()["pid"])["CUDA_VISIBLE_DEVICES"] == visible["g1"]

    cpus = {}
    for name in ("c1", "c2"):
        loaded = _add_plugin(server, name)
        assert loaded.status_code == 200, loaded.text
        cpus[name] = os.sched_getaffinity(loaded.json()["pid"])
    assert {frozenset(cpus["c1"]), frozenset(cpus["c2"])} == {frozenset({0}), frozenset({1})}
    assert "dedicated cpus" in _post(server, "/v1/plugins/c1/load").json()["sandbox"]
    refused = _add_plugin(server, "c3")
    assert refused.status_code == 507
    assert "cpus: needs 1 dedicated core, 0 free of 2" in refused.json()["detail"]
    assert _resources(server)["budget"]["cpus_dedicated"] == "0-1"
