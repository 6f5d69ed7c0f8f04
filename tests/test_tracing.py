"""Tracing end to end: one inference traced across the core and the plugin process, exported
over OTLP/HTTP to a collector on loopback; the caller's trace context honoured over REST and
gRPC; nothing traced while tracing is off; JSON log lines carrying the trace id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from mlos.testing import ServerProcess
from tests.suite import suite_config

pytest.importorskip("onnxruntime")
pytest.importorskip("opentelemetry.proto")
httpclient = pytest.importorskip("tritonclient.http")

from tests.otlp_collector import Collector, ReceivedSpan, collector  # noqa: E402

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[ServerProcess, Collector, requests.Session]]:
    """A server that traces every inference (TIMESTAMPS) to a loopback collector, logs JSON
    lines, and serves the onnx plugin with the model `mlp`, registered inside a trace."""
    from tests.models import mlp_model, save

    with collector() as received:
        config = {
            **suite_config(tmp_path),
            "trace_level": ["TIMESTAMPS"],
            "trace_rate": 1,
            "trace_endpoint": received.endpoint,
        }
        server = ServerProcess(
            tmp_path / "home", "--no-auth", "--log-format", "json", logs=tmp_path, config=config
        )
        server.start()
        try:
            session = requests.Session()
            session.trust_env = False
            assert session.post(f"{server.url}/v1/plugins", json={"name": "onnx"}).status_code == 201
            assert session.post(f"{server.url}/v1/plugins/onnx/load").status_code == 200
            body = {"name": "mlp", "plugin": "onnx", "path": str(save(mlp_model(), tmp_path / "m.onnx"))}
            registered = session.post(
                f"{server.url}/v1/models",
                json=body,
                headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
                timeout=60,
            )
            assert registered.status_code == 201, registered.text
            yield server, received, session
        finally:
            server.stop()


def _infer_body() -> dict[str, Any]:
    data = np.linspace(0, 1, 64, dtype=np.float32).tolist()
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": data}]}


def _of_trace(trace_id: str) -> Any:
    def spans(all_spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return [span for span in all_spans if span.trace_id == trace_id]

    return spans


def test_one_inference_traced_across_core_and_plugin(
    traced: tuple[ServerProcess, Collector, requests.Session],
) -> None:
    server, received, session = traced
    response = session.post(
        f"{server.url}/v2/models/mlp/infer",
        json=_infer_body(),
        headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == CALLER_TRACE
    assert response.headers["traceparent"].startswith(f"00-{CALLER_TRACE}-")

    of_trace = _of_trace(CALLER_TRACE)
    spans = received.wait_for(lambda s: {x.name for x in of_trace(s)} >= {
        "infer", "compute", "plugin.infer",
    })  # fmt: skip
    by_name = {span.name: span for span in of_trace(spans)}
    infer, compute, plugin = by_name["infer"], by_name["compute"], by_name["plugin.infer"]
    assert infer.parent_id == CALLER_SPAN  # the caller's span is the parent
    assert response.headers["traceparent"] == f"00-{CALLER_TRACE}-{infer.span_id}-01"
    assert compute.parent_id == infer.span_id
    assert plugin.parent_id == compute.span_id
    assert (infer.service, plugin.service) == ("mlos", "mlos-plugin-onnx")
    assert infer.attributes["mlos.transport"] == "rest"
    assert (infer.attributes["model_name"], infer.attributes["model_version"]) == ("mlp", "1")
    assert plugin.attributes["model_name"] == "mlp"
    assert infer.events == ["REQUEST_START", "QUEUE_START", "REQUEST_END"]
    assert compute.events == [
        "COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START", "COMPUTE_END",
    ]  # fmt: skip
    assert not any(span.error for span in (infer, compute, plugin))

    # The registration ran inside the caller's sampled trace: the load is in it, in both
    # processes.
    loads = received.wait_for(lambda s: {x.name for x in _of_trace("ab" * 16)(s)} >= {
        "register_model", "plugin.load",
    })  # fmt: skip
    register = next(s for s in loads if s.name == "register_model")
    load = next(s for s in loads if s.name == "plugin.load")
    assert register.parent_id == "cd" * 8 and load.parent_id == register.span_id

    # JSON log lines: every line parses; the load's line carries the registration's trace.
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    assert all({"timestamp", "level", "logger", "message"} <= set(line) for line in lines)
    loaded = [line for line in lines if "model mlp/1 loaded" in line["message"]]
    assert loaded and loaded[0]["trace_id"] == "ab" * 16 == loaded[0]["request_id"]
    assert loaded[0]["span_id"] == register.span_id


def test_plugin_log_lines_are_json_with_the_plugin_span(
    traced: tuple[ServerProcess, Collector, requests.Session], tmp_path: Path
) -> None:
    server, received, session = traced
    module = {"name": "logging", "module": "tests.sdk.logging_plugin:LoggingPlugin"}
    assert session.post(f"{server.url}/v1/plugins", json=module).status_code == 201
    assert session.post(f"{server.url}/v1/plugins/logging/load").status_code == 200
    (tmp_path / "m.double").write_text("x")
    body = {"name": "double", "plugin": "logging", "path": str(tmp_path / "m.double")}
    assert session.post(f"{server.url}/v1/models", json=body, timeout=60).status_code == 201
    trace = "77" * 16
    inputs = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [1.0] * 8}]}
    answer = session.post(
        f"{server.url}/v2/models/double/infer",
        json=inputs,
        headers={"traceparent": f"00-{trace}-{'88' * 8}-01"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    spans = received.wait_for(lambda s: any(
        x.name == "plugin.infer" for x in _of_trace(trace)(s)
    ))  # fmt: skip
    plugin_span = next(x for x in _of_trace(trace)(spans) if x.name == "plugin.infer")
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    doubling = [line for line in lines if line["message"] == "doubling a batch of 2"]
    assert len(doubling) == 1, lines[-5:]
    line = doubling[0]
    assert (line["trace_id"], line["span_id"]) == (trace, plugin_span.span_id)
    assert line["plugin"] == "tests.sdk.logging_plugin:LoggingPlugin" and int(line["pid"]) > 0
    assert line["level"] == "WARNING" and line["logger"] == "tests.logging_plugin"


def test_grpc_metadata_and_failures_are_traced(
    traced: tuple[ServerProcess, Collector, requests.Session],
) -> None:
    import grpc

    from mlos_generated import inference_pb2, inference_pb2_grpc

    server, received, _ = traced
    channel = grpc.insecure_channel(server.urls["gRPC"].removeprefix("grpc://"))
    stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)

    def request(shape: list[int]) -> inference_pb2.ModelInferRequest:
        tensor = inference_pb2.ModelInferRequest.InferInputTensor(
            name="input", datatype="FP32", shape=shape
        )
        tensor.contents.fp32_contents.extend([1.0] * int(np.prod(shape)))
        return inference_pb2.ModelInferRequest(model_name="mlp", inputs=[tensor])

    def trace_count() -> list[str]:
        asked = inference_pb2.TraceSettingRequest(model_name="mlp")
        return list(stub.TraceSetting(asked).settings["trace_count"].value)

    try:
        trace = "11" * 16
        stub.ModelInfer(request([1, 64]), metadata=(("traceparent", f"00-{trace}-{'22' * 8}-01"),))
        spans = received.wait_for(lambda s: {x.name for x in _of_trace(trace)(s)} >= {
            "infer", "compute", "plugin.infer",
        })  # fmt: skip
        infer = next(s for s in _of_trace(trace)(spans) if s.name == "infer")
        assert infer.parent_id == "22" * 8 and infer.attributes["mlos.transport"] == "grpc"

        failed_trace = "33" * 16
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(
                request([1, 3]), metadata=(("traceparent", f"00-{failed_trace}-{'44' * 8}-01"),)
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        failed = received.wait_for(
            lambda s: any(x.name == "infer" for x in _of_trace(failed_trace)(s))
        )
        span = next(s for s in failed if s.trace_id == failed_trace)
        assert span.error and span.attributes["mlos.error_code"] == "INVALID_ARGUMENT"

        # TraceSetting drives the tracer: one more trace for mlp, then none.
        one = inference_pb2.TraceSettingRequest(model_name="mlp")
        one.settings["trace_count"].value.append("1")
        assert list(stub.TraceSetting(one).settings["trace_count"].value) == ["1"]
        for _ in range(3):
            stub.ModelInfer(request([1, 64]))
        assert trace_count() == ["0"]
        own = received.wait_for(lambda s: any(
            x.name == "infer" and x.parent_id == "" for x in s
        ))  # fmt: skip
        assert [x.parent_id for x in own if x.name == "infer"].count("") == 1
        logs = stub.LogSettings(inference_pb2.LogSettingsRequest())
        assert logs.settings["log_format"].string_param == "json"
    finally:
        channel.close()


def test_tracing_off_sends_no_span(
    traced: tuple[ServerProcess, Collector, requests.Session],
) -> None:
    server, received, session = traced
    settings = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        assert settings.get_trace_settings()["trace_level"] == ["TIMESTAMPS"]
        assert settings.update_trace_settings(settings={"trace_level": ["OFF"]})["trace_level"] == [
            "OFF"
        ]
    finally:
        settings.close()
    received.wait_for(lambda s: any(x.name == "plugin.load" for x in s))  # the fixture's, exported
    before = len(received.spans)
    trace = "55" * 16
    response = session.post(
        f"{server.url}/v2/models/mlp/infer",
        json=_infer_body(),
        headers={"traceparent": f"00-{trace}-{'66' * 8}-01"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == trace  # the caller's trace id, still its id
    assert "traceparent" not in response.headers  # not traced
    untraced = session.post(f"{server.url}/v2/models/mlp/infer", json=_infer_body(), timeout=30)
    assert len(untraced.headers["x-request-id"]) == 32
    # The export delay is one second: anything the server traced would have arrived by now.
    with pytest.raises(AssertionError, match="never arrived"):
        received.wait_for(lambda s: len(s) > before, timeout=3)
    assert not [s for s in received.spans if s.trace_id == trace]


def test_ipc_requests_carry_their_trace_context(
    traced: tuple[ServerProcess, Collector, requests.Session],
) -> None:
    import asyncio

    from mlos.wire import Channel
    from mlos_generated import smi_ipc, smi_pb2

    server, received, session = traced

    def request(trace: str) -> smi_pb2.InferRequest:
        infer = smi_pb2.InferRequest(model_name="mlp")
        data = np.ones((1, 64), np.float32)
        infer.inputs.add(name="input", datatype="FP32", shape=[1, 64], contents=data.tobytes())
        infer.trace_context["traceparent"] = f"00-{trace}-{'99' * 8}-01"
        return infer

    async def infer(*traces: str) -> None:
        channel = await Channel.connect(str(server.home / "mlos.sock"))
        try:
            client = smi_ipc.MLOSClient(channel)
            for trace in traces:
                answer = await client.infer(request(trace), timeout=30)
                assert answer.outputs[0].name == "output"
        finally:
            channel.close()

    traced_id = "aa" * 16
    asyncio.run(infer(traced_id))
    spans = received.wait_for(lambda s: {x.name for x in _of_trace(traced_id)(s)} >= {
        "infer", "compute", "plugin.infer",
    })  # fmt: skip
    infer_span = next(x for x in _of_trace(traced_id)(spans) if x.name == "infer")
    assert infer_span.parent_id == "99" * 8 and infer_span.attributes["mlos.transport"] == "ipc"

    # Not sampled by the core: the plugin does not trace it either, whatever the caller sent.
    off = session.post(f"{server.url}/v2/models/mlp/trace/setting", json={"trace_level": ["OFF"]})
    assert off.status_code == 200 and off.json()["trace_level"] == ["OFF"]
    before = len(received.spans)
    untraced_id = "bb" * 16
    asyncio.run(infer(untraced_id))
    with pytest.raises(AssertionError, match="never arrived"):
        received.wait_for(lambda s: len(s) > before, timeout=3)
