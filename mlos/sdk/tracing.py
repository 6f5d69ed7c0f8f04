"""The plugin host's spans: a child span around each load and inference the core traces.

The core puts the W3C context of its own span on the SMI request (`trace_context`) only when it
traces the request; the host then opens a span in the same trace (`plugin.infer`,
`plugin.load`), and exports it over OTLP/HTTP to the endpoint the core hands every plugin
process in `MLOS_TRACE_ENDPOINT` (:mod:`mlos.telemetry`). A request without a trace context
costs one emptiness check; a host that never sees one never imports the OpenTelemetry SDK.
While a span is open, :func:`log_fields` names it, for the plugin process's JSON log lines.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from mlos.errors import MLOSError
from mlos.telemetry import DEFAULT_ENDPOINT, ENDPOINT_ENV, Exporting

__all__ = ["HostTracing", "log_fields"]

ResponseT = TypeVar("ResponseT")

_FIELDS: ContextVar[dict[str, str] | None] = ContextVar("mlos_plugin_span", default=None)


def log_fields() -> dict[str, str] | None:
    """The request id, trace id and span id of the span the running code is in, if any."""
    return _FIELDS.get()


class HostTracing:
    """Spans of one plugin process, exported to one endpoint."""

    def __init__(self, plugin: str, exporting: Exporting | None = None) -> None:
        self.plugin = plugin
        self.exporting = exporting or Exporting.otlp(
            os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT, f"mlos-plugin-{plugin}"
        )

    async def around(
        self,
        name: str,
        carrier: Mapping[str, str],
        attributes: Mapping[str, Any],
        work: Callable[[], Awaitable[ResponseT]],
    ) -> ResponseT:
        """Run `work` inside a span `name`, the child of the context in `carrier`."""
        from opentelemetry.trace import Status, StatusCode

        span = self.exporting.start_span(
            name,
            dict(carrier),
            kind="SERVER",
            attributes={"mlos.plugin": self.plugin, **attributes},
        )
        ids = span.get_span_context()
        trace_id = f"{ids.trace_id:032x}"
        token = _FIELDS.set(
            {"request_id": trace_id, "trace_id": trace_id, "span_id": f"{ids.span_id:016x}"}
        )
        try:
            return await work()
        except BaseException as exc:
            description = exc.message if isinstance(exc, MLOSError) else type(exc).__name__
            span.set_status(Status(StatusCode.ERROR, description))
            raise
        finally:
            _FIELDS.reset(token)
            span.end()

    def close(self) -> None:
        """Export the spans still waiting."""
        self.exporting.shutdown()
