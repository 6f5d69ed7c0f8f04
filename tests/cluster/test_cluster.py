"""Three MLOS nodes on one PostgreSQL registry behind HAProxy, on loopback, all real.

A model registered through one node is served by all three through HAProxy. Then one node is
SIGKILLed while 16 clients send inference through HAProxy for 20 s: no request fails, every
answer is right, and the node, restarted on the same ports, reconverges and takes traffic
again. Along the way: a token revoked through one node is refused by the others, a model
removed through one node leaves them all, and `/v1/cluster` shows each node's state.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlos.cli.main import main
from mlos.cluster.haproxy import HAProxy, Node
from mlos.cluster.process import free_port
from mlos.testing import ServerProcess
from tests.models import arithmetic_model, save
from tests.services import require_haproxy
from tests.suite import suite_config

CLIENTS = 16
LOAD_SECONDS = 20.0


class Cluster:
    """Nodes n0..n2 on fixed loopback ports, sharing `database_url`, behind one HAProxy."""

    def __init__(self, root: Path, database_url: str, models: Path, count: int = 3) -> None:
        self.ports = [(free_port(), free_port()) for _ in range(count)]
        self.nodes = [
            ServerProcess(
                root / f"n{i}",
                "--http-port", str(http), "--grpc-port", str(grpc),
                config={
                    **suite_config(models),
                    "database_url": database_url,
                    "node_id": f"n{i}",
                    "reconcile_interval": 1,
                    "drain_delay": 0,
                },
            )
            for i, (http, grpc) in enumerate(self.ports)
        ]
        self.haproxy = HAProxy(
            root / "haproxy",
            [Node(f"n{i}", "127.0.0.1", http, grpc) for i, (http, grpc) in enumerate(self.ports)],
            access_log=True,
        )

    def start(self) -> None:
        # The first node creates the registry's schema and the admin token; the others share
        # both, so they start together after it.
        self.nodes[0].start()
        threads = [threading.Thread(target=node.start) for node in self.nodes[1:]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for node in self.nodes:
            assert node.process is not None, f"{node.home.name} did not start: {node.log_tail()}"
        self.haproxy.start()

    def stop(self) -> None:
        self.haproxy.stop()
        errors: list[BaseException] = []

        def stop(node: ServerProcess) -> None:
            try:
                node.stop()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=stop, args=(node,)) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    @property
    def headers(self) -> dict[str, str]:
        return self.nodes[0].auth_headers


@pytest.fixture
def cluster(postgres_url: str) -> Iterator[Cluster]:
    require_haproxy()
    # Under /tmp: haproxy may run as another user, who must be able to reach its directory.
    root = Path(tempfile.mkdtemp(prefix="mlos-test-cluster-"))
    root.chmod(0o755)
    models = root / "models"
    save(arithmetic_model("FP32"), models / "add" / "model.onnx")
    cluster = Cluster(root, postgres_url, models)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            for node in cluster.nodes:
                node.kill()
            shutil.rmtree(root, ignore_errors=True)


def infer_body(a: list[float], b: list[float]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": a},
            {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": b},
        ],
        "outputs": [{"name": "combined"}],
    }


def wait_for(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)


def ready(url: str, path: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return requests.get(url + path, headers=headers, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def served(node: ServerProcess, headers: dict[str, str]) -> int:
    answer = requests.get(f"{node.url}/v2/models/add/stats", headers=headers, timeout=10)
    if answer.status_code != 200:
        return 0
    return int(sum(s["inference_count"] for s in answer.json()["model_stats"]))


class Load:
    """`CLIENTS` threads sending inference through HAProxy and checking every answer."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = f"{url}/v2/models/add/infer"
        self.headers = headers
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(CLIENTS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as session:
            while not self.stopping.is_set():
                a = [float(rng.randint(-1000, 1000)) for _ in range(4)]
                b = [float(rng.randint(-1000, 1000)) for _ in range(4)]
                try:
                    answer = session.post(
                        self.url, json=infer_body(a, b), headers=self.headers, timeout=30
                    )
                    if answer.status_code != 200:
                        raise AssertionError(f"{answer.status_code} {answer.text[:200]}")
                    (output,) = answer.json()["outputs"]
                    expected = [x + y for x, y in zip(a, b, strict=True)]
                    if output["data"] != expected:
                        raise AssertionError(f"{output['data']} != {expected}")
                except Exception as exc:  # every kind of failure counts
                    with self.lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                with self.lock:
                    self.ok += 1


def test_three_nodes_behind_haproxy_lose_one_under_load_without_a_failed_request(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = cluster.headers
    first, second, third = cluster.nodes
    cluster.haproxy.wait_up()

    # Register the plugin and the model through one node only.
    answer = requests.post(f"{first.url}/v1/plugins", json={"name": "onnx"}, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    answer = requests.post(f"{first.url}/v1/plugins/onnx/load", headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    model_path = str(cluster.nodes[0].home.parent / "models" / "add" / "model.onnx")
    body = {"name": "add", "plugin": "onnx", "path": model_path}
    answer = requests.post(f"{first.url}/v1/models", json=body, headers=headers, timeout=60)
    assert answer.status_code in (200, 201), answer.text

    # Every node loads it, and each one answers through HAProxy.
    for node in cluster.nodes:
        wait_for(f"{node.home.name} serves add", lambda n=node: ready(n.url, "/v2/models/add/ready", headers))
    cluster.haproxy.wait_up()
    proxy = cluster.haproxy.http_url
    for _ in range(60):
        a, b = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]
        answer = requests.post(f"{proxy}/v2/models/add/infer", json=infer_body(a, b),
                               headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [11.0, 22.0, 33.0, 44.0]
    assert all(served(node, headers) > 0 for node in cluster.nodes), [
        served(node, headers) for node in cluster.nodes
    ]

    # /v1/cluster: every node, converged, with the model ready.
    status = requests.get(f"{proxy}/v1/cluster", headers=headers, timeout=10).json()
    assert [n["id"] for n in status["nodes"]] == ["n0", "n1", "n2"]
    wait_for("every node reports the model ready", lambda: all(
        n["converged"] and n["health"] == "ready"
        and {"name": "add", "version": "1", "state": "ready"} in n["models"]
        for n in requests.get(f"{proxy}/v1/cluster", headers=headers, timeout=10).json()["nodes"]
    ))

    # `mlos cluster status` through HAProxy: a table of the three nodes; exit status 0.
    token = headers["Authorization"].removeprefix("Bearer ")
    code = main(["cluster", "status", "--url", proxy, "--token", token], env={})
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "3 ready of 3" in shown and "postgresql" in shown
    for name in ("n0", "n1", "n2"):
        assert any(line.split()[:3] == [name, "ready", "yes"] for line in shown.splitlines())

    # One node dies under load; no request fails; it comes back and takes traffic again.
    load = Load(proxy, headers)
    started = time.monotonic()
    load.start()
    try:
        time.sleep(4)
        second.kill()
        time.sleep(1)
        second.start()
        wait_for("n1 is up in haproxy again", lambda: cluster.haproxy.server_states().get(
            ("mlos_http", "n1")) == "UP", timeout=LOAD_SECONDS)
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    finally:
        load.stop()
    unusual = [  # what haproxy logged of the failures, if anything
        line for line in cluster.haproxy.log.read_text().splitlines()
        if "/infer" in line and (" 200 " not in line or " ---- " not in line)
    ]
    assert load.failures == [], (
        f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:3]}; "
        f"haproxy: {unusual[:10]}"
    )
    assert load.ok > 100
    assert served(second, headers) > 0  # its statistics start at its restart
    assert ready(second.url, "/v2/models/add/ready", headers)
    assert third.process is not None

    # A token revoked through one node is refused by all of them.
    answer = requests.post(f"{first.url}/v1/tokens", json={"name": "app", "role": "inference"},
                           headers=headers, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    token, token_id = answer.json()["token"], answer.json()["info"]["id"]
    bearer = {"Authorization": f"Bearer {token}"}
    body = infer_body([1.0] * 4, [2.0] * 4)
    for node in cluster.nodes:
        wait_for(f"{node.home.name} knows the new token", lambda n=node: requests.post(
            f"{n.url}/v2/models/add/infer", json=body, headers=bearer, timeout=10
        ).status_code == 200)
    answer = requests.delete(f"{third.url}/v1/tokens/{token_id}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    for node in cluster.nodes:
        wait_for(f"{node.home.name} refuses the revoked token", lambda n=node: requests.post(
            f"{n.url}/v2/models/add/infer", json=body, headers=bearer, timeout=10
        ).status_code == 401)

    # Removed through one node: gone from all of them.
    answer = requests.delete(f"{third.url}/v1/models/add", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    for node in cluster.nodes:
        wait_for(f"{node.home.name} dropped add", lambda n=node: requests.get(
            f"{n.url}/v1/models/add", headers=headers, timeout=10).status_code == 404)
