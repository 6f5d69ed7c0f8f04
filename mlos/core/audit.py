"""The audit log: one JSON line for every management call and every refused call.

A line says when, who (principal, transport, peer), what (operation, model) and the outcome
(`ok`, or the error code and message). Tokens never appear: the principal of a token is its
public id. The stage runs first in the pipeline, so that calls refused by authentication or
rate limits are logged too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from mlos.core.pipeline import Call, Next, Transport
from mlos.errors import MLOSError, StatusCode

__all__ = ["AuditLog"]

logger = logging.getLogger("mlos.audit")

_REFUSALS = frozenset(
    (StatusCode.UNAUTHENTICATED, StatusCode.PERMISSION_DENIED, StatusCode.RESOURCE_EXHAUSTED)
)


class AuditLog:
    """The pipeline stage that writes the audit log (append-only, owner-only file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: TextIO = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def write(self, call: Call, outcome: str, message: str = "") -> None:
        """Append one line for `call`."""
        caller = call.caller
        now = time.time()  # one reading: seconds and milliseconds of the same instant
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            + f".{int(now * 1000) % 1000:03d}Z",
            "principal": caller.principal or "anonymous",
            "transport": caller.transport.value,
            "peer": caller.peer,
            "operation": call.operation.name,
            "outcome": outcome,
        }
        if call.model:
            entry["model"] = call.model
            if call.version:
                entry["version"] = call.version
        if message:
            entry["message"] = message[:500]
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            try:
                self._file.write(line + "\n")
            except (OSError, ValueError):
                logger.exception("cannot write the audit log %s", self.path)

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Log management calls with their outcome, and every call that was refused."""
        if call.caller.transport is Transport.INTERNAL:
            return await proceed(call, request)
        try:
            result = await proceed(call, request)
        except MLOSError as exc:
            if call.operation.changes_state or exc.code in _REFUSALS:
                self.write(call, exc.code.slug, exc.message)
            raise
        if call.operation.changes_state:
            self.write(call, "ok")
        return result
