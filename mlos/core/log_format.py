"""JSON-lines log records: one JSON object a line, for log pipelines to parse.

    {"timestamp": "2026-12-04T17:05:00.123Z", "level": "INFO", "logger": "mlos.server",
     "message": "...", "request_id": "4bf92f3577b34da6a3ce929d0e0e4736",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}

Every line has `timestamp` (UTC, ISO 8601, milliseconds), `level`, `logger` and `message`; a
line written inside a request also has its `request_id` (:mod:`mlos.core.request_context`),
and, while the request is traced, the `trace_id` (equal to the request id) and the `span_id` of
the core's span; a record with an exception has `exception` (the formatted traceback).
"""

from __future__ import annotations

import logging
import time

import orjson

from mlos.core import request_context

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (see the module documentation)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        seconds = time.gmtime(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(record.msecs):03d}Z"
        line: dict[str, str] = {
            "timestamp": stamp,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = request_context.current()
        if context is not None:
            line["request_id"] = context.request_id
            if context.span_id:
                line["trace_id"] = context.request_id
                line["span_id"] = context.span_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line).decode()
