"""Errors as HTTP responses: the status (from :data:`mlos.wire.status.HTTP_STATUS`) and the bodies.

/v1 answers with RFC 9457 problem details (`application/problem+json`) that carry the MLOS
error code; /v2 answers `{"error": "..."}` as the Open Inference Protocol says. Every failure
the REST transport sees passes through :func:`error_response`, so the two shapes and the
status table live only here.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from mlos.errors import MLOSError, StatusCode
from mlos.wire.encoding import dumps
from mlos.wire.status import HTTP_STATUS, code_for_http_status, http_status_for

__all__ = [
    "HTTP_STATUS",
    "BodyTooLarge",
    "code_for_http_status",
    "error_response",
    "handle_exception",
    "http_status_for",
]

logger = logging.getLogger("mlos.rest")

PROBLEM_TYPE = "urn:mlos:error:"
"""Problem `type` URIs are this prefix followed by the lowercase code ("...:not_found")."""


class BodyTooLarge(Exception):
    """A request body exceeds the configured limit (answered with 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(
    path: str,
    status: int,
    detail: str,
    code: StatusCode | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error response for `path`: `{"error": ...}` under /v2, problem details elsewhere."""
    if path == "/v2" or path.startswith("/v2/"):
        return Response(
            dumps({"error": detail}), status, headers=headers, media_type="application/json"
        )
    code = code if code is not None else code_for_http_status(status)
    problem = {
        "type": PROBLEM_TYPE + code.slug,
        "title": _title(status),
        "status": status,
        "detail": detail,
        "code": code.slug,
    }
    return Response(dumps(problem), status, headers=headers, media_type="application/problem+json")


def _problem_detail(exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    """Status, detail and headers of an error raised by connexion or starlette."""
    from connexion.exceptions import ProblemException

    if isinstance(exc, ProblemException):
        detail = exc.detail or exc.title or _title(exc.status)
        return exc.status, str(detail), dict(exc.headers or {}) or None
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return exc.status_code, str(exc.detail or _title(exc.status_code)), headers


def _headers_for(error: MLOSError) -> dict[str, str] | None:
    """`WWW-Authenticate` on 401, `Retry-After` (whole seconds) when the core says when."""
    if error.code is StatusCode.UNAUTHENTICATED:
        return {"WWW-Authenticate": 'Bearer realm="mlos"'}
    retry_after = error.details.get("retry_after")
    if retry_after:
        return {"Retry-After": str(max(1, math.ceil(float(retry_after))))}
    return None


def handle_exception(scope: Scope, exc: Exception) -> Response:
    """Answer any exception that escaped a handler or the middleware below it.

    MLOSError → its status through :data:`HTTP_STATUS`; connexion and starlette HTTP errors
    (validation, routing, media type) → their status; an oversize body → 413; a body that is
    not valid UTF-8 → 400; anything else → 500 with a fixed message (the traceback goes to the
    log, never to the client).
    """
    from connexion.exceptions import ProblemException

    path: str = scope.get("path", "")
    method: str = scope.get("method", "")
    if isinstance(exc, MLOSError):
        return error_response(
            path, http_status_for(exc.code), exc.message, exc.code, _headers_for(exc)
        )
    if isinstance(exc, ProblemException | HTTPException):
        status, detail, headers = _problem_detail(exc)
        if status >= 500:
            logger.error("request failed: %s %s: %s", method, path, detail)
        return error_response(path, status, detail, headers=headers)
    if isinstance(exc, BodyTooLarge):
        return error_response(path, 413, str(exc), StatusCode.RESOURCE_EXHAUSTED)
    if isinstance(exc, UnicodeDecodeError):
        return error_response(path, 400, f"request is not valid UTF-8: {exc.reason}")
    logger.error("unexpected error in %s %s", method, path, exc_info=exc)
    return error_response(path, 500, "internal error", StatusCode.INTERNAL)
