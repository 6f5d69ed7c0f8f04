"""The tracing stage of the pipeline, in process, with OpenTelemetry's in-memory exporter."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mlos.core import request_context
from mlos.core.log_format import JsonFormatter
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Pipeline, Transport
from mlos.core.trace_settings import TraceSettings
from mlos.core.tracing import ORDER, Tracer, current
from mlos.errors import InvalidArgument
from mlos.telemetry import Exporting, format_traceparent, parse_traceparent
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _setup(**settings: Any) -> tuple[Tracer, InMemorySpanExporter, Pipeline]:
    trace_settings = TraceSettings()
    if settings:
        trace_settings.update("", settings)
    exporter = InMemorySpanExporter()
    tracer = Tracer(trace_settings, Exporting.to(exporter, "mlos"))
    pipeline = Pipeline()
    pipeline.add(tracer, ORDER)
    return tracer, exporter, pipeline


def _infer_call(model: str = "m", **extra: Any) -> Call:
    return Call(operation("infer"), Caller(Transport.GRPC), model=model, **extra)


async def _echo(request: Any, call: Call) -> Any:
    return request


def test_off_traces_nothing_and_builds_no_sdk_object() -> None:
    tracer, exporter, pipeline = _setup()
    for _ in range(5):
        asyncio.run(pipeline.run(_infer_call(trace_context={"traceparent": PARENT}), _echo, 1))
    assert exporter.get_finished_spans() == ()
    assert tracer.exporting.provider is None  # the SDK was never set up
    assert not tracer.active


def test_rate_and_count_choose_the_traced_inferences() -> None:
    tracer, exporter, pipeline = _setup(trace_level=["TIMESTAMPS"], trace_rate="2", trace_count="2")
    for _ in range(8):
        asyncio.run(pipeline.run(_infer_call(), _echo, 1))
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["infer", "infer"]
    assert len({span.context.trace_id for span in spans}) == 2  # two new traces
    assert all(span.parent is None for span in spans)
    assert tracer.settings.get()["trace_count"] == "0"


def test_the_callers_context_is_the_parent_and_the_request_id() -> None:
    _, exporter, pipeline = _setup(trace_level=["TIMESTAMPS"], trace_rate="1")
    seen: list[tuple[str, str]] = []

    async def handler(request: Any, call: Call) -> Any:
        context = request_context.current()
        assert context is not None and current() is not None
        seen.append((context.request_id, context.span_id))
        return request

    asyncio.run(pipeline.run(_infer_call(trace_context={"traceparent": PARENT}), handler, 1))
    # IPC: the context travels in the SMI request itself.
    ipc = smi_pb2.InferRequest(model_name="m")
    ipc.trace_context["traceparent"] = PARENT.replace("00f067aa0ba902b7", "1" * 16)
    asyncio.run(pipeline.run(Call(operation("infer"), Caller(Transport.IPC), model="m"),
                             handler, ipc))  # fmt: skip
    first, second = exporter.get_finished_spans()
    parent = parse_traceparent(PARENT)
    assert parent is not None
    assert first.context.trace_id == second.context.trace_id == parent.trace_id
    assert first.parent is not None and first.parent.span_id == parent.span_id
    assert second.parent is not None and second.parent.span_id == int("1" * 16, 16)
    assert seen[0] == (parent.trace_hex, f"{first.context.span_id:016x}")
    assert first.events[0].name == "REQUEST_START" and first.events[-1].name == "REQUEST_END"


def test_a_rest_request_id_becomes_the_new_traces_id() -> None:
    _, exporter, pipeline = _setup(trace_level=["TIMESTAMPS"], trace_rate="1")
    context = request_context.RequestContext("ab" * 16)
    token = request_context.begin(context)
    try:
        asyncio.run(pipeline.run(_infer_call(), _echo, 1))
    finally:
        request_context.end(token)
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == "ab" * 16 and span.parent is None
    assert context.traceparent == format_traceparent(span.context.trace_id, span.context.span_id)


def test_other_calls_are_traced_only_when_the_caller_samples_them() -> None:
    _, exporter, pipeline = _setup(trace_level=["TIMESTAMPS"])
    register = operation("register_model")
    unsampled = PARENT[:-2] + "00"
    for context in (None, {"traceparent": unsampled}, {"traceparent": "garbage"}):
        asyncio.run(pipeline.run(Call(register, Caller(Transport.REST), trace_context=context),
                                 _echo, 1))  # fmt: skip
    assert exporter.get_finished_spans() == ()
    asyncio.run(pipeline.run(
        Call(register, Caller(Transport.REST), trace_context={"traceparent": PARENT}), _echo, 1
    ))  # fmt: skip
    (span,) = exporter.get_finished_spans()
    assert span.name == "register_model" and span.attributes["mlos.transport"] == "rest"


def test_a_model_of_its_own_turns_tracing_on_for_itself() -> None:
    tracer, exporter, pipeline = _setup()
    tracer.settings.update("m", {"trace_level": ["TIMESTAMPS"], "trace_rate": "1"})
    tracer.refresh()
    asyncio.run(pipeline.run(_infer_call("other"), _echo, 1))
    asyncio.run(pipeline.run(_infer_call("m"), _echo, 1))
    assert [span.attributes["model_name"] for span in exporter.get_finished_spans()] == ["m"]


def test_a_failed_call_ends_its_spans_with_the_error() -> None:
    _, exporter, pipeline = _setup(trace_level=["TIMESTAMPS"], trace_rate="1")

    async def fails(request: smi_pb2.InferRequest, call: Call) -> Any:
        trace = current()
        assert trace is not None
        trace.forward(request, 1, 2, 3)
        raise InvalidArgument("input 'x' has the wrong shape")

    with pytest.raises(InvalidArgument):
        asyncio.run(pipeline.run(_infer_call(), fails, smi_pb2.InferRequest(model_name="m")))
    compute, infer = exporter.get_finished_spans()
    assert compute.name == "compute" and compute.parent.span_id == infer.context.span_id
    assert not infer.status.is_ok and infer.attributes["mlos.error_code"] == "INVALID_ARGUMENT"
    assert "wrong shape" in (infer.status.description or "")


def test_tensors_level_records_inputs_and_outputs() -> None:
    import numpy as np

    _, exporter, pipeline = _setup(trace_level=["TENSORS"], trace_rate="1")
    request = smi_pb2.InferRequest(model_name="m", model_version="3")
    request.inputs.append(from_numpy("x", np.arange(4, dtype=np.float32).reshape(1, 4)))
    forwarded: list[dict[str, str]] = []

    async def infer(request: smi_pb2.InferRequest, call: Call) -> Any:
        trace = current()
        assert trace is not None
        trace.forward(request, 1, 2, 3)
        forwarded.append(dict(request.trace_context))
        response = smi_pb2.InferResponse(outputs=[from_numpy("y", np.array([[7]], np.int32))])
        trace.returned(response, 4)
        return response

    asyncio.run(pipeline.run(_infer_call(), infer, request))
    compute, span = exporter.get_finished_spans()
    assert span.attributes["model_version"] == "3"
    events = {event.name: dict(event.attributes or {}) for event in compute.events}
    assert "COMPUTE_START" not in events  # TIMESTAMPS is not on
    assert events["TENSOR_QUEUE_INPUT"] == {
        "name": "x", "dtype": "FP32", "shape": "1,4", "data": "0.0,1.0,2.0,3.0",
    }  # fmt: skip
    assert events["TENSOR_BACKEND_OUTPUT"]["data"] == "7"
    # The plugin's span is to be the compute span's child.
    sent = parse_traceparent(forwarded[0]["traceparent"])
    assert sent is not None and sent.span_id == compute.context.span_id


def test_log_frequency_exports_every_n_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    tracer, _, pipeline = _setup(trace_level=["TIMESTAMPS"], trace_rate="1", log_frequency="3")
    flushed: list[int] = []
    monkeypatch.setattr(tracer.exporting, "flush", lambda: flushed.append(1) or True)

    async def calls() -> None:
        for _ in range(7):
            await pipeline.run(_infer_call(), _echo, 1)
        await asyncio.sleep(0.1)  # the flushes run in the default executor

    asyncio.run(calls())
    assert len(flushed) == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (PARENT, (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True)),
        (PARENT[:-2] + "00", (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False)),
        ("01-" + PARENT[3:] + "-future", (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xF067AA0BA902B7, True)),
        (PARENT + "-extra", None),  # version 00 has exactly four fields
        ("ff-" + PARENT[3:], None),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01", None),
        ("nonsense", None),
        ("", None),
    ],
)
def test_traceparent_parsing(header: str, expected: tuple[int, int, bool] | None) -> None:
    parsed = parse_traceparent(header)
    got = None if parsed is None else (parsed.trace_id, parsed.span_id, parsed.sampled)
    assert got == expected


def test_json_log_lines_carry_the_request_and_its_trace() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("mlos.test", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    plain = json.loads(formatter.format(record))
    assert plain["message"] == "hello you" and plain["level"] == "INFO"
    assert plain["logger"] == "mlos.test" and plain["timestamp"].endswith("Z")
    assert "request_id" not in plain
    token = request_context.begin(request_context.RequestContext("ab" * 16, span_id="cd" * 8))
    try:
        inside = json.loads(formatter.format(record))
    finally:
        request_context.end(token)
    assert (inside["request_id"], inside["trace_id"], inside["span_id"]) == (
        "ab" * 16, "ab" * 16, "cd" * 8,
    )  # fmt: skip
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad", None, sys.exc_info())
    assert "ValueError: boom" in json.loads(formatter.format(failed))["exception"]


def test_untraced_calls_never_import_the_sdk() -> None:
    import subprocess
    import sys

    script = """
import asyncio, sys
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Pipeline, Transport
from mlos.core.trace_settings import TraceSettings
from mlos.core.tracing import ORDER, Tracer
from mlos.telemetry import Exporting
import mlos.core.engine, mlos.sdk.host, mlos.rest.app

async def echo(request, call):
    return request

tracer = Tracer(TraceSettings(), Exporting.otlp("http://127.0.0.1:9/v1/traces", "mlos"))
pipeline = Pipeline()
pipeline.add(tracer, ORDER)
call = Call(operation("infer"), Caller(Transport.REST), model="m",
            trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
for _ in range(3):
    asyncio.run(pipeline.run(call, echo, 1))
print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
