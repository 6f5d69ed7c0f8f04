"""JSON-lines log records: one JSON object a line, for log pipelines to parse.

    handler.setFormatter(JsonFormatter(context=lambda: {"request_id": "4bf9..."}))
    # {"timestamp":"2026-12-04T17:05:00.123Z","level":"INFO","logger":"mlos.server",
    #  "message":"...","request_id":"4bf9..."}

Every line has `timestamp` (UTC, ISO 8601, milliseconds), `level`, `logger` and `message`, then
the fields `extra` gives (the same on every line: a plugin process's name and pid), then those
`context` returns for the record (the request being served), and `exception` (the formatted
traceback) for a record with one. The server's formatter is :mod:`mlos.core.log_format`'s.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (see the module documentation)."""

    def __init__(
        self,
        context: Callable[[], Mapping[str, str] | None] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._context = context
        self._extra = dict(extra or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        seconds = time.gmtime(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(record.msecs):03d}Z"
        line: dict[str, str] = {
            "timestamp": stamp,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._extra,
        }
        if self._context is not None:
            fields = self._context()
            if fields:
                line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)
