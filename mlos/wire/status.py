"""MLOS status codes on each transport: the one table per transport, shared by servers and clients.

An MLOS error carries a transport-neutral :class:`~mlos.errors.StatusCode`. REST answers it
with an HTTP status (:data:`HTTP_STATUS`), gRPC with a gRPC status (:data:`GRPC_STATUS`, as
the numbers of the gRPC status space, plus the exact code in the trailing metadata key
:data:`CODE_METADATA_KEY`), and IPC with an error frame whose `smi.v1.Error.code` is the code
itself (:data:`IPC_ERROR_CODE`). Clients read the same tables backwards.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlos.errors import StatusCode

__all__ = [
    "CODE_METADATA_KEY",
    "GRPC_STATUS",
    "HTTP_STATUS",
    "IPC_ERROR_CODE",
    "code_for_grpc_status",
    "code_for_http_status",
    "code_for_slug",
    "grpc_status_number",
    "http_status_for",
]

HTTP_STATUS: dict[StatusCode, int] = {
    StatusCode.INVALID_ARGUMENT: 400,
    StatusCode.NOT_FOUND: 404,
    StatusCode.ALREADY_EXISTS: 409,
    StatusCode.FAILED_PRECONDITION: 409,
    StatusCode.UNAVAILABLE: 503,
    StatusCode.RESOURCE_EXHAUSTED: 429,
    StatusCode.INCOMPATIBLE_VERSION: 409,
    StatusCode.DEADLINE_EXCEEDED: 504,
    StatusCode.UNAUTHENTICATED: 401,
    StatusCode.PERMISSION_DENIED: 403,
    StatusCode.UNIMPLEMENTED: 501,
    StatusCode.INTERNAL: 500,
    StatusCode.INSUFFICIENT_RESOURCES: 507,
}
"""The HTTP status of each MLOS status code."""

GRPC_STATUS: dict[StatusCode, int] = {
    StatusCode.INVALID_ARGUMENT: 3,
    StatusCode.NOT_FOUND: 5,
    StatusCode.ALREADY_EXISTS: 6,
    StatusCode.FAILED_PRECONDITION: 9,
    StatusCode.UNAVAILABLE: 14,
    StatusCode.RESOURCE_EXHAUSTED: 8,
    StatusCode.INCOMPATIBLE_VERSION: 9,
    StatusCode.DEADLINE_EXCEEDED: 4,
    StatusCode.UNAUTHENTICATED: 16,
    StatusCode.PERMISSION_DENIED: 7,
    StatusCode.UNIMPLEMENTED: 12,
    StatusCode.INTERNAL: 13,
    StatusCode.INSUFFICIENT_RESOURCES: 8,
}
"""The gRPC status (its number: 3 is INVALID_ARGUMENT) of each MLOS status code."""

IPC_ERROR_CODE: dict[StatusCode, int] = {code: int(code) for code in StatusCode}
"""The `smi.v1.ErrorCode` an IPC error frame carries: the code itself."""

CODE_METADATA_KEY = "mlos-error-code"
"""gRPC trailing metadata key of the MLOS status code's slug ("not_found")."""

# Errors raised by the HTTP layer itself (routing, media types, body size) carry these codes.
_CODE_OF_HTTP_STATUS: dict[int, StatusCode] = {
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.NOT_FOUND,
    409: StatusCode.ALREADY_EXISTS,
    413: StatusCode.RESOURCE_EXHAUSTED,
    429: StatusCode.RESOURCE_EXHAUSTED,
    501: StatusCode.UNIMPLEMENTED,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.DEADLINE_EXCEEDED,
    507: StatusCode.INSUFFICIENT_RESOURCES,
}

_CODE_OF_GRPC_STATUS: dict[int, StatusCode] = {
    number: code
    for code, number in GRPC_STATUS.items()
    if code not in (StatusCode.INCOMPATIBLE_VERSION, StatusCode.INSUFFICIENT_RESOURCES)
}
_CODE_OF_GRPC_STATUS[1] = StatusCode.UNAVAILABLE  # CANCELLED
_CODE_OF_GRPC_STATUS[11] = StatusCode.INVALID_ARGUMENT  # OUT_OF_RANGE
_CODE_OF_GRPC_STATUS[10] = StatusCode.UNAVAILABLE  # ABORTED

_BY_SLUG = {code.slug: code for code in StatusCode}


def http_status_for(code: StatusCode) -> int:
    """The HTTP status for an MLOS status code."""
    return HTTP_STATUS.get(code, 500)


def code_for_http_status(status: int) -> StatusCode:
    """The MLOS status code of an HTTP error status that carries no code of its own."""
    if status in _CODE_OF_HTTP_STATUS:
        return _CODE_OF_HTTP_STATUS[status]
    return StatusCode.INVALID_ARGUMENT if status < 500 else StatusCode.INTERNAL


def grpc_status_number(code: StatusCode) -> int:
    """The gRPC status number for an MLOS status code."""
    return GRPC_STATUS.get(code, 13)


def code_for_slug(slug: str | bytes) -> StatusCode | None:
    """The status code named by its slug ("not_found"), or None for an unknown slug."""
    return _BY_SLUG.get(slug.decode() if isinstance(slug, bytes) else slug)


def code_for_grpc_status(
    status: int, metadata: Iterable[tuple[str, str | bytes]] | None = None
) -> StatusCode:
    """The MLOS code of a failed gRPC call: from its trailing metadata, else from its status
    number."""
    for key, value in metadata or ():
        if key == CODE_METADATA_KEY:
            code = code_for_slug(value)
            if code is not None:
                return code
    return _CODE_OF_GRPC_STATUS.get(status, StatusCode.INTERNAL)
