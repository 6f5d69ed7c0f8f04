"""The server's JSON log lines (`log_format: json`): :class:`mlos.json_log.JsonFormatter` with
the request each line is written for.

    {"timestamp": "2026-12-04T17:05:00.123Z", "level": "INFO", "logger": "mlos.core.models",
     "message": "...", "request_id": "4bf92f3577b34da6a3ce929d0e0e4736",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}

A line written inside a request has its `request_id` (:mod:`mlos.core.request_context`) and,
while the request is traced, the `trace_id` (equal to the request id) and the `span_id` of the
core's span.
"""

from __future__ import annotations

from mlos import json_log
from mlos.core import request_context

__all__ = ["JsonFormatter", "request_fields"]


def request_fields() -> dict[str, str] | None:
    """The log fields of the request being served, if any."""
    context = request_context.current()
    if context is None:
        return None
    if not context.span_id:
        return {"request_id": context.request_id}
    return {
        "request_id": context.request_id,
        "trace_id": context.request_id,
        "span_id": context.span_id,
    }


class JsonFormatter(json_log.JsonFormatter):
    """JSON lines with the fields of the request being served."""

    def __init__(self) -> None:
        super().__init__(context=request_fields)
