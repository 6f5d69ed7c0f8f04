"""OpenTelemetry plumbing shared by the core and the plugin host: W3C trace context and tracer
providers that export over OTLP/HTTP.

    parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    # TraceParent(trace_id=0x4bf9..., span_id=0xf067..., sampled=True)
    exporting = Exporting.otlp("http://127.0.0.1:4318/v1/traces", "mlos")
    tracer = exporting.tracer()       # the SDK is imported and built here, on first use

Nothing here imports the OpenTelemetry SDK before a tracer is asked for, so a process that
never traces a request pays neither the import nor any SDK object.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "EXPORT_DELAY_MS",
    "Exporting",
    "TraceParent",
    "format_traceparent",
    "parse_traceparent",
]

DEFAULT_ENDPOINT = "http://127.0.0.1:4318/v1/traces"
"""Where spans go unless configured: an OpenTelemetry collector's OTLP/HTTP port on this host
(Triton's default, on loopback)."""

ENDPOINT_ENV = "MLOS_TRACE_ENDPOINT"
"""The environment variable that tells a plugin process where its spans go."""

EXPORT_DELAY_MS = 1000
"""Longest time an ended span waits before it is exported (the batch span processor's delay)."""

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A W3C `traceparent`: the trace, the caller's span and whether the caller samples it."""

    trace_id: int
    span_id: int
    sampled: bool

    @property
    def trace_hex(self) -> str:
        """The trace id as 32 lower-case hex digits."""
        return f"{self.trace_id:032x}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The trace context a `traceparent` header names, or None when it is absent or invalid
    (an invalid header is ignored, as the W3C recommendation says)."""
    if not value or len(value) > 512:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_hex, span_hex, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return TraceParent(trace_id, span_id, bool(int(flags, 16) & 1))


def format_traceparent(trace_id: int, span_id: int, sampled: bool = True) -> str:
    """A version-00 `traceparent` header."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


class _PreferredIds:
    """Random ids, except that a new trace takes the id the caller already announced (a REST
    request id) when there is one: see :meth:`Exporting.start_span`."""

    def __init__(self) -> None:
        import random

        self._random = random.getrandbits
        self.preferred: threading.local = threading.local()

    def generate_span_id(self) -> int:
        span_id = 0
        while span_id == 0:
            span_id = self._random(64)
        return span_id

    def generate_trace_id(self) -> int:
        preferred = getattr(self.preferred, "trace_id", 0)
        if preferred:
            self.preferred.trace_id = 0
            return int(preferred)
        trace_id = 0
        while trace_id == 0:
            trace_id = self._random(128)
        return trace_id

    def is_trace_id_random(self) -> bool:
        return True


class Exporting:
    """A tracer provider that exports to one place, built on first use.

    `exporter` is any OpenTelemetry span exporter (an in-memory one in tests); :meth:`otlp`
    makes one that posts OTLP protobuf over HTTP to an endpoint.
    """

    def __init__(
        self, exporter_factory: Any, service_name: str, *, batch: bool = True
    ) -> None:
        self._factory = exporter_factory
        self.service_name = service_name
        self._batch = batch
        self.provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        self._ids: _PreferredIds | None = None
        self._lock = threading.Lock()

    @classmethod
    def otlp(cls, endpoint: str, service_name: str) -> Exporting:
        """Spans exported in batches to the OTLP/HTTP `endpoint` (a `/v1/traces` URL)."""

        def factory() -> SpanExporter:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(endpoint=endpoint, timeout=5)

        return cls(factory, service_name)

    @classmethod
    def to(cls, exporter: SpanExporter, service_name: str) -> Exporting:
        """Spans handed to `exporter` as each ends (an in-memory exporter in tests)."""
        return cls(lambda: exporter, service_name, batch=False)

    def tracer(self) -> Tracer:
        """The tracer, with the SDK provider built on the first call."""
        tracer = self._tracer
        if tracer is not None:
            return tracer
        with self._lock:
            if self._tracer is None:
                self._tracer = self._build()
            return self._tracer

    def _build(self) -> Tracer:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        self._ids = _PreferredIds()
        provider = TracerProvider(
            sampler=ALWAYS_ON,  # MLOS decides what to trace (trace_rate), before a span starts
            resource=Resource.create({"service.name": self.service_name}),
            id_generator=self._ids,  # type: ignore[arg-type]  # the SDK's IdGenerator protocol
            shutdown_on_exit=False,
        )
        exporter = self._factory()
        if self._batch:
            processor: Any = BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS)
        else:
            processor = SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        self.provider = provider
        return provider.get_tracer("mlos")

    def start_span(
        self,
        name: str,
        parent: Mapping[str, str] | None,
        *,
        kind: str = "INTERNAL",
        attributes: Mapping[str, Any] | None = None,
        start_time: int | None = None,
        trace_id: int = 0,
    ) -> Any:
        """Start a span: a child of the W3C context in `parent` when it holds one, else the
        root of a new trace (whose id is `trace_id` when given)."""
        from opentelemetry.trace import SpanKind

        tracer = self.tracer()
        context = extract(parent) if parent else None
        ids = self._ids
        if context is None and trace_id and ids is not None:
            ids.preferred.trace_id = trace_id
        try:
            return tracer.start_span(
                name,
                context=context,
                kind=SpanKind[kind],
                attributes=attributes,
                start_time=start_time,
            )
        finally:
            if ids is not None:
                ids.preferred.trace_id = 0

    def flush(self, timeout_ms: int = 5000) -> bool:
        """Export every ended span now; whether they all went."""
        provider = self.provider
        return provider.force_flush(timeout_ms) if provider is not None else True

    def shutdown(self) -> None:
        """Export what is left and stop the exporter."""
        provider = self.provider
        if provider is not None:
            provider.shutdown()


def extract(carrier: Mapping[str, str]) -> Any:
    """The OpenTelemetry context of a W3C carrier (`traceparent`, `tracestate`), or None."""
    if parse_traceparent(carrier.get("traceparent")) is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(dict(carrier))


def inject(span: Any, carrier: Any) -> None:
    """Write `span`'s W3C context into `carrier` (a dict or a protobuf string map)."""
    context = span.get_span_context()
    carrier["traceparent"] = format_traceparent(context.trace_id, context.span_id, True)
    state = context.trace_state
    if state:
        carrier["tracestate"] = state.to_header()
