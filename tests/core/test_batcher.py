"""Dynamic batching and instances, against a real `mlos serve` over REST and gRPC.

The model is `tests.core.batch_plugin`'s probe: every output row says how many rows its
execution ran (`batch`), which execution it was (`seq`) and how many executions ran at once
(`running`), so each test reads what the scheduler did from the answers themselves.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mlos.client.unix import IPCClient
from mlos.testing import ServerProcess
from mlos_generated import inference_pb2, inference_pb2_grpc
from tests.core.probe_server import ProbeServer, serve_probe

PLUGIN = "tests.core.batch_plugin:BatchPlugin"


class Server(ProbeServer):
    """A started server with the probe plugin loaded, and helpers to talk to it."""

    def __init__(self, process: ServerProcess, models: Path) -> None:
        super().__init__(process, models)
        self._channel = grpc.insecure_channel(process.grpc_address)
        self.grpc = inference_pb2_grpc.GRPCInferenceServiceStub(self._channel)

    def register(self, seconds: float = 0.0, max_batch_size: int = 8, **body: Any) -> str:
        """Register a fresh probe model with the given registration fields; its name."""
        options = {"seconds": seconds, "max_batch_size": max_batch_size}
        return self.register_probe("probe", ".batch", options, **body)

    def rest_infer(
        self, model: str, rows: np.ndarray, priority: int = 0
    ) -> requests.Response:
        body: dict[str, Any] = {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": list(rows.shape),
                 "data": rows.flatten().tolist()}
            ]
        }  # fmt: skip
        if priority:
            body["parameters"] = {"priority": priority}
        return self.session.post(f"{self.url}/v2/models/{model}/infer", json=body, timeout=60)

    def rest_outputs(self, model: str, rows: np.ndarray, priority: int = 0) -> dict[str, Any]:
        answer = self.rest_infer(model, rows, priority)
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        return {
            "y": np.array(outputs["y"]["data"], dtype=np.float32).reshape(outputs["y"]["shape"]),
            **{k: np.array(outputs[k]["data"]).ravel() for k in ("batch", "seq", "running")},
        }

    def grpc_outputs(self, model: str, rows: np.ndarray) -> dict[str, Any]:
        request = inference_pb2.ModelInferRequest(model_name=model)
        request.inputs.add(name="x", datatype="FP32", shape=list(rows.shape))
        request.raw_input_contents.append(rows.astype(np.float32).tobytes())
        metadata = [(k.lower(), v) for k, v in self.process.auth_headers.items()]
        response = self.grpc.ModelInfer(request, metadata=metadata, timeout=60)
        found: dict[str, Any] = {}
        for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
            dtype = np.float32 if output.datatype == "FP32" else np.int64
            found[output.name] = np.frombuffer(raw, dtype=dtype).reshape(list(output.shape))
        found["y"] = found["y"].reshape(-1, 4)
        for key in ("batch", "seq", "running"):
            found[key] = found[key].ravel()
        return found

    def ipc_outputs(self, model: str, rows: np.ndarray) -> dict[str, Any]:
        with IPCClient(self.process.ipc_url, token=self.process.token) as client:
            found = client.infer(model, {"x": rows})
        return {"y": found["y"], **{k: found[k].ravel() for k in ("batch", "seq", "running")}}

    def stats(self, model: str) -> dict[str, Any]:
        answer = self.session.get(f"{self.url}/v2/models/{model}/stats", timeout=10)
        assert answer.status_code == 200, answer.text
        stats: dict[str, Any] = answer.json()["model_stats"][0]
        return stats

    def close(self) -> None:
        """Close the gRPC channel and the session."""
        self._channel.close()
        super().close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_probe(tmp_path_factory, PLUGIN, Server)


def _rows(caller: int, size: int) -> np.ndarray:
    """`size` rows that only caller `caller` sends."""
    start = caller * 100
    return np.arange(start, start + size * 4, dtype=np.float32).reshape(size, 4)


def _burst(
    count: int, call: Callable[[int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """`count` calls at once (each waits at a barrier, then calls)."""
    barrier = threading.Barrier(count)

    def one(index: int) -> dict[str, Any]:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize("transport", ["rest", "grpc", "ipc"])
def test_concurrent_requests_come_back_with_their_own_rows(
    server: Server, transport: str
) -> None:
    model = server.register(
        dynamic_batching={"max_queue_delay_us": 300_000, "preferred_batch_size": [16]},
        max_batch_size=16,
    )
    sizes = [1 + i % 3 for i in range(8)]  # 1, 2, 3, 1, 2, 3, 1, 2: 15 rows in all
    infer = {"rest": server.rest_outputs, "grpc": server.grpc_outputs, "ipc": server.ipc_outputs}[
        transport
    ]
    answers = _burst(len(sizes), lambda i: infer(model, _rows(i, sizes[i])))
    for index, answer in enumerate(answers):
        np.testing.assert_array_equal(answer["y"], _rows(index, sizes[index]) * 2)
        assert len(answer["batch"]) == sizes[index]
    # Every caller arrived within the queue delay: fewer executions than requests, and
    # requests that ran together report the same batch, the sum of their rows.
    executions = {int(a["seq"][0]) for a in answers}
    assert len(executions) < len(sizes)
    for seq in executions:
        together = [i for i, a in enumerate(answers) if int(a["seq"][0]) == seq]
        assert {int(answers[i]["batch"][0]) for i in together} == {
            sum(sizes[i] for i in together)
        }
    stats = server.stats(model)
    assert stats["execution_count"] == len(executions)
    assert stats["inference_count"] == sum(sizes)
    assert stats["inference_stats"]["success"]["count"] == len(sizes)
    assert stats["inference_stats"]["queue"]["count"] == len(sizes)
    assert sum(b["compute_infer"]["count"] for b in stats["batch_stats"]) == len(executions)
    assert max(b["batch_size"] for b in stats["batch_stats"]) > 3


def test_rest_grpc_and_ipc_requests_meet_in_one_batch(server: Server) -> None:
    model = server.register(dynamic_batching={"max_queue_delay_us": 500_000})
    calls = [server.rest_outputs, server.grpc_outputs, server.ipc_outputs] * 2
    answers = _burst(len(calls), lambda i: calls[i](model, _rows(i, 1)))
    for index, answer in enumerate(answers):
        np.testing.assert_array_equal(answer["y"], _rows(index, 1) * 2)
    by_execution: dict[int, set[int]] = {}
    for index, answer in enumerate(answers):
        by_execution.setdefault(int(answer["seq"][0]), set()).add(index % 3)
    assert any(len(transports) > 1 for transports in by_execution.values()), by_execution


def test_the_queue_delay_is_waited_for_and_a_preferred_size_ends_it(server: Server) -> None:
    model = server.register(dynamic_batching={"max_queue_delay_us": 600_000})
    started = time.monotonic()
    alone = server.rest_outputs(model, _rows(0, 1))
    assert time.monotonic() - started >= 0.6
    assert alone["batch"].tolist() == [1]
    quick = server.register(
        dynamic_batching={"max_queue_delay_us": 1_000_000, "preferred_batch_size": [2]}
    )
    pair = _burst(2, lambda i: server.rest_outputs(quick, _rows(i, 1)))
    assert [a["batch"].tolist() for a in pair] == [[2], [2]]
    # Sent when the second arrived, not when the first had waited a second: had the delay
    # ended the wait, the first would have queued 1 s and the second nearly as long.
    queue = server.stats(quick)["inference_stats"]["queue"]
    assert int(queue["ns"]) / int(queue["count"]) < 500_000_000


def test_a_full_queue_refuses_with_503_and_a_problem(server: Server) -> None:
    model = server.register(
        dynamic_batching={"max_queue_delay_us": 1_000_000, "max_queue_size": 2}
    )
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(server.rest_outputs, model, _rows(i, 1)) for i in range(2)]
        deadline = time.monotonic() + 10
        pending = ("nv_inference_pending_request_count", model, "")
        while _metrics(server).get(pending) != 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # until both wait in the queue
        refused = server.rest_infer(model, _rows(9, 1))
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        error = refused.json()["error"]  # the Open Inference Protocol's error body under /v2
        assert "queue" in error and "full" in error
        answers = [future.result() for future in waiting]
    assert [a["batch"].tolist() for a in answers] == [[2], [2]]
    stats = server.stats(model)
    assert stats["inference_stats"]["fail"]["count"] >= 1
    metrics = _metrics(server)
    rejected = metrics[("nv_inference_request_failure", model, "REJECTED")]
    assert rejected == stats["inference_stats"]["fail"]["count"]


def test_higher_priority_requests_run_first(server: Server) -> None:
    model = server.register(
        seconds=0.3,
        max_batch_size=1,
        dynamic_batching={"priority_levels": 2, "default_priority_level": 2},
    )
    server.rest_outputs(model, _rows(0, 1))  # the first call runs inline in the plugin: warm up
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(server.rest_outputs, model, _rows(1, 1))
        time.sleep(0.1)  # running now; the others queue behind it
        low = [pool.submit(server.rest_outputs, model, _rows(2 + i, 1)) for i in range(2)]
        time.sleep(0.05)
        high = pool.submit(server.rest_outputs, model, _rows(5, 1), 1)
        seqs = {
            "first": int(first.result()["seq"][0]),
            "high": int(high.result()["seq"][0]),
            "low": min(int(f.result()["seq"][0]) for f in low),
        }
    assert seqs["first"] < seqs["high"] < seqs["low"], seqs
    bad = server.rest_infer(model, _rows(0, 1), priority=3)
    assert bad.status_code == 400 and "priority" in bad.json()["error"]


@pytest.mark.parametrize(("instances", "expected"), [(1, 1), (2, 2)])
def test_instances_run_at_once(server: Server, instances: int, expected: int) -> None:
    model = server.register(seconds=0.3, max_batch_size=1, instance_count=instances)
    server.rest_outputs(model, _rows(0, 1))  # warm up (the first call runs inline)
    answers = _burst(4, lambda i: server.rest_outputs(model, _rows(i, 1)))
    assert max(int(a["running"][0]) for a in answers) == expected
    assert len({int(a["seq"][0]) for a in answers}) == 4  # no batching: one execution each


def test_the_model_config_and_status_report_the_settings(server: Server) -> None:
    batching = {
        "preferred_batch_size": [4, 2],
        "max_queue_delay_us": 400,
        "priority_levels": 3,
        "default_priority_level": 2,
        "max_queue_size": 50,
    }
    model = server.register(dynamic_batching=batching, instance_count=2)
    config = server.session.get(f"{server.url}/v2/models/{model}/config", timeout=10).json()
    batching_config = config["dynamic_batching"]
    assert batching_config["preferred_batch_size"] == [2, 4]
    assert batching_config["max_queue_delay_microseconds"] == 400
    assert (batching_config["priority_levels"], batching_config["default_priority_level"]) == (3, 2)
    assert batching_config["default_queue_policy"]["max_queue_size"] == 50
    (group,) = config["instance_group"]
    assert (group["name"], group["kind"], group["count"]) == (model, "KIND_CPU", 2)
    assert config["max_batch_size"] == 8
    metadata = [(k.lower(), v) for k, v in server.process.auth_headers.items()]
    grpc_config = server.grpc.ModelConfig(
        inference_pb2.ModelConfigRequest(name=model), metadata=metadata, timeout=10
    ).config
    assert list(grpc_config.dynamic_batching.preferred_batch_size) == [2, 4]
    assert grpc_config.dynamic_batching.max_queue_delay_microseconds == 400
    assert grpc_config.instance_group[0].count == 2
    status = server.session.get(f"{server.url}/v1/models/{model}", timeout=10).json()
    (version,) = status["versions"]
    assert version["dynamic_batching"]["preferred_batch_size"] == [2, 4]
    assert version["instance_count"] == 2
    plain = server.register()
    plain_config = server.session.get(f"{server.url}/v2/models/{plain}/config", timeout=10)
    assert "dynamic_batching" not in plain_config.json()


def test_settings_a_model_cannot_have_are_refused_and_nothing_is_registered(
    server: Server,
) -> None:
    path = server.models / "nobatch.batch"
    path.write_text(json.dumps({"max_batch_size": 0}))
    cases = [
        ({"dynamic_batching": {}}, "no batch dimension"),
        ({"dynamic_batching": {"preferred_batch_size": [64]}, "config": {}}, None),
        ({"dynamic_batching": {"priority_levels": 2, "default_priority_level": 3}}, None),
        ({"instance_count": 1000}, None),
    ]
    for index, (fields, words) in enumerate(cases):
        model_path = path if index == 0 else server.models / "eight.batch"
        model_path.write_text(json.dumps({"max_batch_size": 0 if index == 0 else 8}))
        body = {"name": f"refused{index}", "plugin": "probe", "path": str(model_path), **fields}
        answer = server.session.post(f"{server.url}/v1/models", json=body, timeout=60)
        assert answer.status_code == 400, (fields, answer.text)
        if words:
            assert words in answer.json()["detail"]
        missing = server.session.get(f"{server.url}/v1/models/refused{index}", timeout=10)
        assert missing.status_code == 404


def test_a_model_without_scheduling_is_not_batched(server: Server) -> None:
    model = server.register(seconds=0.05)
    server.rest_outputs(model, _rows(0, 1))
    answers = _burst(4, lambda i: server.rest_outputs(model, _rows(i, 2)))
    assert all(a["batch"].tolist() == [2, 2] for a in answers)
    stats = server.stats(model)
    assert stats["execution_count"] == stats["inference_stats"]["success"]["count"] == 5


def test_metrics_count_executions_once_and_requests_each(server: Server) -> None:
    model = server.register(dynamic_batching={"max_queue_delay_us": 300_000})
    answers = _burst(4, lambda i: server.rest_outputs(model, _rows(i, 1)))
    executions = len({int(a["seq"][0]) for a in answers})
    metrics = _metrics(server)
    stats = server.stats(model)
    assert metrics[("nv_inference_exec_count", model, "")] == executions
    assert metrics[("nv_inference_request_success", model, "")] == 4
    assert metrics[("nv_inference_count", model, "")] == 4
    queue_us = metrics[("nv_inference_queue_duration_us", model, "")]
    assert queue_us == pytest.approx(int(stats["inference_stats"]["queue"]["ns"]) / 1000, abs=1)
    assert queue_us > 0


def test_scheduling_survives_a_restart(server: Server) -> None:
    model = server.register(dynamic_batching={"max_queue_delay_us": 250}, instance_count=3)
    server.process.restart()
    server.session.headers.update(server.process.auth_headers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = server.session.get(f"{server.url}/v2/models/{model}/ready", timeout=10)
        if ready.status_code == 200:
            break
        time.sleep(0.1)
    config = server.session.get(f"{server.url}/v2/models/{model}/config", timeout=10).json()
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 250
    assert config["instance_group"][0]["count"] == 3
    answer = server.rest_outputs(model, _rows(0, 2))
    np.testing.assert_array_equal(answer["y"], _rows(0, 2) * 2)


def _metrics(server: Server) -> dict[tuple[str, str, str], float]:
    """Samples of the model families: (name, model, reason) → value."""
    text = server.session.get(f"{server.url}/metrics", timeout=10).text
    found: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "model" in sample.labels and sample.name in (family.name, f"{family.name}_total"):
                key = (family.name, sample.labels["model"], sample.labels.get("reason", ""))
                found[key] = sample.value
    return found


def test_shared_memory_and_inline_callers_share_a_batch(server: Server) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    shm = pytest.importorskip("tritonclient.utils.shared_memory")
    model = server.register(dynamic_batching={"max_queue_delay_us": 500_000})
    url = server.url.removeprefix("http://")
    sizes = [1, 2, 3, 2]

    def call(index: int) -> np.ndarray:
        auth = server.process.auth_headers  # copied per call: tritonclient adds to the dict
        rows = _rows(index, sizes[index])
        client = httpclient.InferenceServerClient(url)
        x = httpclient.InferInput("x", list(rows.shape), "FP32")
        y = httpclient.InferRequestedOutput("y", binary_data=True)
        if index % 2:  # inline, binary tensors
            x.set_data_from_numpy(rows, binary_data=True)
            result = client.infer(model, [x], outputs=[y], headers=dict(auth))
            client.close()
            return np.asarray(result.as_numpy("y"))
        # Input and output in the caller's own system shared-memory regions.
        names = [f"batch-{model}-{index}-{kind}" for kind in ("in", "out")]
        regions = [shm.create_shared_memory_region(n, f"/{n}", rows.nbytes) for n in names]
        try:
            shm.set_shared_memory_region(regions[0], [rows])
            for name in names:
                client.register_system_shared_memory(name, f"/{name}", rows.nbytes, headers=dict(auth))
            x.set_shared_memory(names[0], rows.nbytes)
            y.set_shared_memory(names[1], rows.nbytes)
            client.infer(model, [x], outputs=[y], headers=dict(auth))
            got = np.array(shm.get_contents_as_numpy(regions[1], np.float32, list(rows.shape)))
            for name in names:
                client.unregister_system_shared_memory(name, headers=dict(auth))
            return got
        finally:
            for region in regions:
                shm.destroy_shared_memory_region(region)
            client.close()

    answers = _burst(len(sizes), call)
    for index, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, _rows(index, sizes[index]) * 2)
    stats = server.stats(model)
    assert stats["inference_stats"]["success"]["count"] == len(sizes)
    assert stats["execution_count"] < len(sizes)  # they came within the delay: batched
