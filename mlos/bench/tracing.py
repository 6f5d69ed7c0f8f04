"""What tracing costs on the request path (the numbers in docs/benchmarks.md).

    .venv/bin/python -m mlos.bench.tracing [--calls 20000] [--rounds 30]

Measures CPU time of this process (`time.process_time`, so that other processes on a busy
machine do not count), in microseconds per call, the best round of each:

* ``pipeline``: one inference call through :class:`mlos.core.pipeline.Pipeline` to a handler that
  returns at once — with no interceptor; with the :class:`mlos.core.tracing.Tracer` every server
  runs while every trace level is OFF (the default); on, but the call not sampled
  (`trace_rate` 1000); and traced (`trace_rate` 1, TIMESTAMPS, the call's span and a compute
  span handed to an exporter that drops them, so that the SDK's work is measured, not the
  network's);
* ``plugin host``: :meth:`mlos.sdk.host.PluginHost.infer` of a request without a trace context
  against a model that answers at once, and the same request's work without the trace check
  (`_infer`), so the difference is what an untraced request pays in the plugin process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlos.bench.timing import best_per_call_us
from mlos.core.operations import operation
from mlos.core.pipeline import Call, Caller, Pipeline, Transport
from mlos.core.trace_settings import TraceSettings
from mlos.core.tracing import ORDER, Tracer, current
from mlos.sdk.base import DescribedModel, LoadedModel, ModelPlugin, ModelSpec, TensorSpec
from mlos.sdk.host import PluginHost
from mlos.telemetry import Exporting
from mlos.wire.tensors import from_numpy
from mlos_generated import smi_pb2


class _Drop:
    """A span exporter that drops every span (the SDK's work without the network's)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


async def _handler(request: smi_pb2.InferRequest, call: Call) -> smi_pb2.InferRequest:
    trace = current()
    if trace is not None:  # what the engine does for a traced inference (on a copy: the
        # shared request must not carry a context into the next call)
        trace.forward(smi_pb2.InferRequest(model_name="m"), 1, 2, 3)
        trace.returned(smi_pb2.InferResponse(), 4)
    return request


async def _best(run: Callable[[], Awaitable[Any]], calls: int, rounds: int) -> float:
    """CPU microseconds per call (the process's, so other load on the machine counts less)."""
    return await best_per_call_us(run, calls, rounds, clock=time.process_time)


async def _pipeline(calls: int, rounds: int) -> dict[str, float]:
    call = Call(operation("infer"), Caller(Transport.GRPC), model="m")
    request = smi_pb2.InferRequest(model_name="m", model_version="1")
    cases: dict[str, dict[str, Any] | None] = {
        "no interceptor": None,
        "Tracer, OFF": {},
        "Tracer, on, not sampled": {"trace_level": ["TIMESTAMPS"], "trace_rate": "1000"},
        "Tracer, traced": {"trace_level": ["TIMESTAMPS"], "trace_rate": "1"},
    }
    results = {}
    for name, settings in cases.items():
        pipeline = Pipeline()
        if settings is not None:
            trace_settings = TraceSettings()
            trace_settings.update("", settings)
            exporting = Exporting.to(_Drop(), "mlos")  # type: ignore[arg-type]
            pipeline.add(Tracer(trace_settings, exporting), ORDER)
        # The traced case makes spans: fewer calls keep the round short.
        count = calls // 10 if name == "Tracer, traced" else calls
        run = functools.partial(pipeline.run, call, _handler, request)
        results[name] = await _best(run, count, rounds)
    return results


class _Echo(DescribedModel):
    def __init__(self) -> None:
        spec = TensorSpec("x", "FP32", (-1, 4))
        super().__init__(inputs=[spec], outputs=[spec])

    def infer(self, inputs: Mapping[str, Any], outputs: Sequence[str]) -> Mapping[str, Any]:
        return {"x": inputs["x"]}


class _Plugin(ModelPlugin):
    name = "bench"
    version = "0"

    def load(self, spec: ModelSpec) -> LoadedModel:
        return _Echo()


async def _host(calls: int, rounds: int) -> dict[str, float]:
    host = PluginHost(_Plugin())
    try:
        await host.load_model(
            smi_pb2.LoadModelRequest(name="m", version="1", path="/dev/null"), None  # type: ignore[arg-type]
        )
        request = smi_pb2.InferRequest(model_name="m", model_version="1")
        request.inputs.append(from_numpy("x", np.ones((1, 4), np.float32)))
        return {
            "PluginHost.infer, untraced": await _best(
                lambda: host.infer(request, None), calls, rounds  # type: ignore[arg-type]
            ),
            "the same work, no trace check": await _best(
                lambda: host._infer(request), calls, rounds
            ),
        }
    finally:
        host.close()


def main(argv: list[str] | None = None) -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    for name, micros in asyncio.run(_pipeline(args.calls, args.rounds)).items():
        print(f"pipeline, {name:25} {micros:8.2f} us per call")
    for name, micros in asyncio.run(_host(args.calls, args.rounds)).items():
        print(f"plugin host, {name:30} {micros:8.2f} us per call")


if __name__ == "__main__":
    main()
