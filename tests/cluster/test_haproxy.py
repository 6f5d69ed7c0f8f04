"""HAProxy in front of nodes: the configuration checked by `haproxy -c`, and a real haproxy on
loopback balancing, health-checking, retrying and draining real backends (REST and gRPC)."""

from __future__ import annotations

import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlos.cluster.haproxy import HAProxy, Node, check, example, render
from mlos.errors import InvalidArgument
from tests.cluster.backends import StubNode
from tests.services import require_haproxy

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CFG = REPO / "deploy" / "haproxy" / "haproxy.cfg"


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# -- the configuration ------------------------------------------------------------------------


def test_the_deploy_configuration_is_the_rendered_example_and_haproxy_accepts_it() -> None:
    require_haproxy()
    assert DEPLOY_CFG.read_text() == example(), (
        "deploy/haproxy/haproxy.cfg is stale: python -m mlos.cluster.haproxy > "
        "deploy/haproxy/haproxy.cfg"
    )
    assert "valid" in check(DEPLOY_CFG)


@pytest.mark.parametrize("count", [1, 3])
def test_rendered_configurations_pass_haproxy_check(tmp_path: Path, count: int) -> None:
    require_haproxy()
    nodes = [Node(f"n{i}", "127.0.0.1", 9000 + 2 * i, 9001 + 2 * i) for i in range(count)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(render(nodes, admin_socket=str(tmp_path / "admin.sock"), access_log=False))
    check(config)
    text = config.read_text()
    assert text.count(" check port ") == count  # every gRPC server is checked on REST
    assert "server n0 127.0.0.1:9001 proto h2 check port 9000 check-proto h1" in text


def test_the_configuration_balances_rest_and_grpc_with_checks_retries_and_draining() -> None:
    text = example()
    for directive in (
        "bind *:8080\n",
        "bind *:8081 proto h2\n",  # gRPC: HTTP/2 cleartext from clients
        "http-check send meth GET uri /v2/health/ready",
        "http-check expect status 200",
        "option redispatch 1",
        "retry-on conn-failure empty-response junk-response 503",
        "retries 3",
        "hard-stop-after",
        "server mlos-2 10.0.0.12:8081 proto h2 check port 8080 check-proto h1",
        "stats socket /run/haproxy/admin.sock mode 600 level admin",
    ):
        assert directive in text


def test_haproxy_check_reports_a_broken_configuration(tmp_path: Path) -> None:
    require_haproxy()
    config = tmp_path / "haproxy.cfg"
    config.write_text(example().replace("balance leastconn", "balance nowhere", 1))
    with pytest.raises(InvalidArgument, match="haproxy rejects"):
        check(config)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([], "at least one node"),
        ([Node("a", "h1"), Node("a", "h2")], "node names repeat"),
        ([Node("a b", "h1")], "not a usable server name"),
    ],
)
def test_render_refuses_bad_nodes(nodes: list[Node], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        render(nodes)


# -- a running haproxy ------------------------------------------------------------------------


@pytest.fixture
def nodes() -> Iterator[list[StubNode]]:
    backends = [StubNode(f"n{i}", grpc_server=True) for i in range(2)]
    yield backends
    for backend in backends:
        backend.close()


@pytest.fixture
def proxy(nodes: list[StubNode]) -> Iterator[HAProxy]:
    require_haproxy()
    # Under /tmp: as root, haproxy runs as its own account, which must reach the directory.
    directory = Path(tempfile.mkdtemp(prefix="mlos-test-haproxy-"))
    haproxy = HAProxy(directory, [node.node for node in nodes])
    try:
        haproxy.start()
        haproxy.wait_up(timeout=15)
        yield haproxy
    finally:
        haproxy.stop()
        assert not haproxy.running
        shutil.rmtree(directory)


def test_requests_are_spread_over_the_nodes(proxy: HAProxy, nodes: list[StubNode]) -> None:
    answers = [fetch(f"{proxy.http_url}/v2/models/m") for _ in range(20)]
    assert {status for status, _ in answers} == {200}
    assert {body for _, body in answers} == {"n0", "n1"}
    assert proxy.server_states() == {
        ("mlos_http", "n0"): "UP", ("mlos_http", "n1"): "UP",
        ("mlos_grpc", "n0"): "UP", ("mlos_grpc", "n1"): "UP",
    }


def test_a_node_that_is_not_ready_is_taken_out_and_brought_back(
    proxy: HAProxy, nodes: list[StubNode]
) -> None:
    nodes[0].ready_status = 503
    deadline = time.monotonic() + 15
    while proxy.server_states()[("mlos_http", "n0")] != "DOWN":
        assert time.monotonic() < deadline, "n0 never went DOWN"
        time.sleep(0.05)
    assert proxy.server_states()[("mlos_grpc", "n0")] == "DOWN"  # checked on its REST port
    served = nodes[0].served
    assert {fetch(f"{proxy.http_url}/x")[1] for _ in range(10)} == {"n1"}
    assert nodes[0].served == served

    nodes[0].ready_status = 200
    proxy.wait_up(["n0"], timeout=15)


def test_a_dead_node_costs_no_failed_request(proxy: HAProxy, nodes: list[StubNode]) -> None:
    nodes[0].close()  # refused from now on; the health check has not noticed yet
    answers = [fetch(f"{proxy.http_url}/x") for _ in range(20)]
    assert answers == [(200, "n1")] * 20


def test_a_503_is_retried_on_another_node(proxy: HAProxy, nodes: list[StubNode]) -> None:
    nodes[0].fail_next = nodes[1].fail_next = 1  # whichever node gets it first says 503 once
    answers = [fetch(f"{proxy.http_url}/x") for _ in range(4)]
    assert [status for status, _ in answers] == [200] * 4
    assert nodes[0].fail_next + nodes[1].fail_next < 2  # a 503 did happen, and was retried


def test_a_drained_node_gets_no_new_requests(proxy: HAProxy, nodes: list[StubNode]) -> None:
    proxy.set_state("n0", "drain")
    assert proxy.server_states()[("mlos_http", "n0")] == "DRAIN"
    served = nodes[0].served
    assert {fetch(f"{proxy.http_url}/x")[1] for _ in range(10)} == {"n1"}
    assert nodes[0].served == served
    proxy.set_state("n0", "ready")
    assert proxy.server_states()[("mlos_http", "n0")] == "UP"
    with pytest.raises(InvalidArgument, match="not a server state"):
        proxy.set_state("n0", "asleep")
    with pytest.raises(InvalidArgument, match="haproxy:"):
        proxy.set_state("nobody", "drain")


def test_grpc_goes_through_as_http2(proxy: HAProxy) -> None:
    with grpc.insecure_channel(proxy.grpc_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(4):
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_stats_and_prometheus_metrics_are_served_on_loopback(proxy: HAProxy) -> None:
    status, body = fetch(f"{proxy.stats_url}/metrics")
    assert status == 200
    assert 'haproxy_server_status{proxy="mlos_http",server="n0"' in body
    assert proxy.stats_url.startswith("http://127.0.0.1:")
