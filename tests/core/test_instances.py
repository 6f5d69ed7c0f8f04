"""Model instances in the plugin process, against a real `mlos serve`.

The model is `tests.core.instance_plugin`'s probe: every answer names the instance (the copy
the plugin loaded) that ran it, and a model can be made to hold each call until a number of
calls are inside it at once, so a test of two instances fails (the calls time out at the
barrier) unless two calls really run at the same time in two copies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.core.probe_server import ProbeServer, serve_probe

PLUGIN = "tests.core.instance_plugin:InstancePlugin"


class Server(ProbeServer):
    """A started server with the instance probe loaded."""

    def register(self, *, parties: int = 1, seconds: float = 0.0, **body: Any) -> str:
        """Register a fresh probe model with these options and registration fields."""
        options = {"parties": parties, "seconds": seconds, "timeout": 20}
        return self.register_probe("inst", ".inst", options, **body)

    def infer(self, model: str) -> dict[str, int]:
        """One call; the instance, threads and running count it answered."""
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                            "data": [0.0, 1.0, 2.0, 3.0]}]}  # fmt: skip
        answer = self.session.post(
            f"{self.url}/v2/models/{model}/infer", json=body, timeout=60
        )
        assert answer.status_code == 200, answer.text
        return {o["name"]: int(o["data"][0]) for o in answer.json()["outputs"]}

    def burst(self, model: str, count: int) -> list[dict[str, int]]:
        """`count` calls sent at once."""
        barrier = threading.Barrier(count)

        def one(_: int) -> dict[str, int]:
            barrier.wait()
            return self.infer(model)

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(count)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_probe(tmp_path_factory, PLUGIN, Server)


def test_two_instances_run_two_calls_at_once_each_in_its_own_copy(server: Server) -> None:
    model = server.register(parties=2, instance_count=2)
    for _ in range(3):  # each round: both calls must be inside the model before either ends
        answers = server.burst(model, 2)
        assert sorted(a["instance"] for a in answers) == [0, 1]
        assert max(a["running"] for a in answers) == 2
    config = server.session.get(f"{server.process.url}/v2/models/{model}/config").json()
    assert config["instance_group"][0]["count"] == 2
    assert config["instance_group"][0]["kind"] == "KIND_CPU"


def test_more_calls_than_instances_wait_for_a_free_one(server: Server) -> None:
    model = server.register(seconds=0.1, instance_count=2)
    answers = server.burst(model, 6)
    assert {a["instance"] for a in answers} <= {0, 1}
    assert max(a["running"] for a in answers) == 2


def test_one_instance_runs_one_call_at_a_time_as_before(server: Server) -> None:
    model = server.register(seconds=0.1, instance_count=1)
    answers = server.burst(model, 4)
    assert [a["instance"] for a in answers] == [0] * 4
    assert [a["running"] for a in answers] == [1] * 4


def test_instances_split_the_cores_and_a_plain_model_keeps_its_default(server: Server) -> None:
    one = server.infer(server.register(instance_count=1))["threads"]
    two = server.infer(server.register(instance_count=2))["threads"]
    plain = server.infer(server.register())["threads"]
    assert one >= 1 and two == max(1, one // 2)
    assert plain == 1  # no instance count: the plugin's own default


def test_a_model_with_instances_unloads_and_registers_again(server: Server) -> None:
    model = server.register(parties=2, instance_count=2)
    assert sorted(a["instance"] for a in server.burst(model, 2)) == [0, 1]
    url = f"{server.process.url}/v1/models/{model}"
    assert server.session.delete(url, timeout=60).status_code in (200, 204)
    health = server.session.get(f"{server.process.url}/v2/models/{model}/ready", timeout=10)
    assert health.status_code == 404
