"""Tracing: OpenTelemetry spans for the calls the trace settings select (a pipeline stage).

:class:`Tracer` is an interceptor (:mod:`mlos.core.pipeline`, order 45). While every trace level
is OFF it passes each call on and does nothing else: no span, no SDK object, one attribute read.
Otherwise it traces

* an inference that the model's trace settings sample (`trace_rate`, `trace_count`,
  :mod:`mlos.core.trace_settings`), and
* any other call whose caller sent a W3C trace context with the sampled flag, while the
  server-wide trace level is not OFF (a model registration, say, whose load then shows in the
  plugin's span too).

A traced call gets a span named after its operation (`infer`, `register_model`, ...), the child
of the caller's `traceparent` when it sent one (REST header, gRPC metadata, IPC metadata or the
SMI request's `trace_context`), else the root of a new trace. An inference adds a `compute`
span, and the request it forwards to the plugin carries the compute span's context, so the
plugin process's own span (:mod:`mlos.sdk.tracing`) joins the same trace. At level TIMESTAMPS
the spans carry Triton's timestamps as events (`REQUEST_START`, `QUEUE_START`,
`COMPUTE_START`, `COMPUTE_INPUT_END`, `COMPUTE_OUTPUT_START`, `COMPUTE_END`, `REQUEST_END`); at
level TENSORS the compute span also gets a `TENSOR_QUEUE_INPUT` event for each input and a
`TENSOR_BACKEND_OUTPUT` event for each output (name, datatype, shape and, for tensors that
travel inline, up to :data:`TENSOR_VALUES` values).

The call's request id (:mod:`mlos.core.request_context`) becomes its trace id, so log lines and
spans of one request match. When `log_frequency` is N > 0, the spans of every N traces are
exported at once; otherwise within a second of their end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from mlos.core import request_context
from mlos.core.pipeline import Call, Next, Transport
from mlos.core.request_context import RequestContext
from mlos.core.trace_settings import TraceSettings
from mlos.errors import MLOSError
from mlos.telemetry import Exporting, format_traceparent, inject, parse_traceparent
from mlos_generated import smi_pb2

__all__ = ["ORDER", "TENSOR_VALUES", "RequestTrace", "Tracer", "current"]

ORDER = 45
"""Where the tracer sits in the pipeline: after the metrics stage, before routing."""

TENSOR_VALUES = 1024
"""Most values of one tensor a TENSORS trace records."""

_CURRENT: ContextVar[RequestTrace | None] = ContextVar("mlos_trace", default=None)


def current() -> RequestTrace | None:
    """The trace of the call the running code serves, or None when it is not traced."""
    return _CURRENT.get()


def _wall(perf_ns: int) -> int:
    """A `time.perf_counter_ns()` reading as nanoseconds since the epoch."""
    return perf_ns + time.time_ns() - time.perf_counter_ns()


def _tensor_event(span: Any, activity: str, tensor: smi_pb2.Tensor) -> None:
    attributes: dict[str, Any] = {
        "name": tensor.name,
        "dtype": tensor.datatype,
        "shape": ",".join(str(d) for d in tensor.shape),
    }
    if tensor.contents:
        try:
            from mlos.wire.tensors import to_numpy

            values = to_numpy(tensor).ravel()[:TENSOR_VALUES].tolist()
            attributes["data"] = ",".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
            )
        except (MLOSError, ValueError, TypeError):
            pass  # contents that do not decode are left out, the tensor still recorded
    span.add_event(activity, attributes)


class RequestTrace:
    """The spans of one traced call: the call's span, and an inference's compute span."""

    __slots__ = ("_exporting", "compute", "span", "tensors", "timestamps")

    def __init__(self, exporting: Exporting, span: Any, levels: tuple[str, ...]) -> None:
        self._exporting = exporting
        self.span = span
        self.compute: Any = None
        self.timestamps = "TIMESTAMPS" in levels
        self.tensors = "TENSORS" in levels

    def forward(
        self, request: smi_pb2.InferRequest, started: int, begun: int, checked: int
    ) -> None:
        """The request is checked and about to go to the plugin: open the compute span and put
        its context on `request`. The times are `time.perf_counter_ns()` readings: when the
        core took the request, when its queue ended and when its inputs were staged."""
        from opentelemetry.trace import set_span_in_context

        self.span.set_attribute("model_version", request.model_version)  # as resolved
        compute = self.compute = self._exporting.tracer().start_span(
            "compute", context=set_span_in_context(self.span), start_time=_wall(begun)
        )
        if self.timestamps:
            self.span.add_event("QUEUE_START", timestamp=_wall(started))
            compute.add_event("COMPUTE_START", timestamp=_wall(begun))
            compute.add_event("COMPUTE_INPUT_END", timestamp=_wall(checked))
        if self.tensors:
            for tensor in request.inputs:
                _tensor_event(compute, "TENSOR_QUEUE_INPUT", tensor)
        request.trace_context.clear()
        inject(compute, request.trace_context)

    def returned(self, response: smi_pb2.InferResponse, done: int) -> None:
        """The plugin answered at `done` (a `perf_counter_ns()` reading)."""
        compute = self.compute
        if compute is None:
            return
        if self.timestamps:
            compute.add_event("COMPUTE_OUTPUT_START", timestamp=_wall(done))
        if self.tensors:
            for tensor in response.outputs:
                _tensor_event(compute, "TENSOR_BACKEND_OUTPUT", tensor)

    def loading(self, request: smi_pb2.LoadModelRequest) -> None:
        """A model load runs inside this call: its request carries the call's context."""
        inject(self.span, request.trace_context)

    def finish(self, error: BaseException | None) -> None:
        """End the spans; `error` is why the call failed, if it did."""
        from opentelemetry.trace import Status, StatusCode

        span, compute = self.span, self.compute
        if error is not None:
            description = str(error) if isinstance(error, MLOSError) else type(error).__name__
            code = error.code.name if isinstance(error, MLOSError) else "INTERNAL"
            span.set_attribute("mlos.error_code", code)
            span.set_status(Status(StatusCode.ERROR, description))
            if compute is not None:
                compute.set_status(Status(StatusCode.ERROR, description))
        if compute is not None:
            if self.timestamps:
                compute.add_event("COMPUTE_END")
            compute.end()
        if self.timestamps:
            span.add_event("REQUEST_END")
        span.end()


class Tracer:
    """The tracing stage (see the module documentation)."""

    def __init__(self, settings: TraceSettings, exporting: Exporting) -> None:
        self.settings = settings
        self.exporting = exporting
        self.active = settings.enabled()
        """Whether any call may be traced; False skips everything."""
        self._collected = 0

    def refresh(self) -> None:
        """Read the settings again after they changed."""
        self.active = self.settings.enabled()

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Trace `call` when the settings select it (see the module documentation)."""
        if not self.active:
            return await proceed(call, request)
        carrier = call.trace_context
        if (
            carrier is None
            and call.caller.transport is Transport.IPC
            and isinstance(request, smi_pb2.InferRequest)
            and request.trace_context
        ):
            carrier = dict(request.trace_context)
        if call.operation.name == "infer":
            if not call.model or not self.settings.sample(call.model):
                return await proceed(call, request)
            levels = self.settings.level(call.model)
        else:
            parent = parse_traceparent(carrier.get("traceparent")) if carrier else None
            levels = self.settings.level("")
            if parent is None or not parent.sampled or levels == ("OFF",):
                return await proceed(call, request)
        return await self._traced(call, request, proceed, carrier, levels)

    async def _traced(
        self,
        call: Call,
        request: Any,
        proceed: Next,
        carrier: Mapping[str, str] | None,
        levels: tuple[str, ...],
    ) -> Any:
        context = request_context.current()
        preferred = 0
        if context is not None and len(context.request_id) == 32:
            preferred = int(context.request_id, 16)
        attributes = {
            "mlos.operation": call.operation.name,
            "mlos.transport": call.caller.transport.value,
        }
        if call.model:
            attributes["model_name"] = call.model
            attributes["model_version"] = call.version
        if isinstance(request, smi_pb2.InferRequest) and request.id:
            attributes["request_id"] = request.id
        span = self.exporting.start_span(
            call.operation.name, carrier, kind="SERVER", attributes=attributes, trace_id=preferred
        )
        trace = RequestTrace(self.exporting, span, levels)
        if trace.timestamps:
            span.add_event("REQUEST_START")
        ids = span.get_span_context()
        identity = (f"{ids.trace_id:032x}", f"{ids.span_id:016x}")
        owned = None
        if context is None:
            context = RequestContext(identity[0])
            owned = request_context.begin(context)
        context.request_id, context.span_id = identity
        context.traceparent = format_traceparent(ids.trace_id, ids.span_id)
        token = _CURRENT.set(trace)
        error: BaseException | None = None
        try:
            return await proceed(call, request)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _CURRENT.reset(token)
            context.span_id = ""
            if owned is not None:
                request_context.end(owned)
            trace.finish(error)
            self._count(call.model)

    def _count(self, model: str) -> None:
        """One more trace collected: export the batch when `log_frequency` says so."""
        frequency = self.settings.log_frequency(model)
        if frequency <= 0:
            return
        self._collected += 1
        if self._collected >= frequency:
            self._collected = 0
            asyncio.get_running_loop().run_in_executor(None, self.exporting.flush)
