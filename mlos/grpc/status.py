"""Errors as gRPC statuses: the one table from MLOS status codes to `grpc.StatusCode`.

Every failure the gRPC transport reports passes through :func:`abort`. Besides the gRPC status
and the message, the answer carries the exact MLOS code as trailing metadata
(:data:`CODE_METADATA_KEY`, for example ``incompatible_version``), so a client can tell apart
two MLOS codes that share a gRPC status.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
import grpc.aio

from mlos.errors import MLOSError, StatusCode

__all__ = ["CODE_METADATA_KEY", "GRPC_STATUS", "abort", "code_for_grpc_status", "grpc_status_for"]

CODE_METADATA_KEY = "mlos-error-code"
"""Trailing metadata key of the MLOS status code's slug ("not_found")."""

GRPC_STATUS: dict[StatusCode, grpc.StatusCode] = {
    StatusCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    StatusCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    StatusCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    StatusCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    StatusCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    StatusCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StatusCode.INCOMPATIBLE_VERSION: grpc.StatusCode.FAILED_PRECONDITION,
    StatusCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    StatusCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    StatusCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    StatusCode.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    StatusCode.INTERNAL: grpc.StatusCode.INTERNAL,
}
"""The gRPC status of each MLOS status code."""

_CODE_OF_GRPC_STATUS: dict[grpc.StatusCode, StatusCode] = {
    grpc_code: code
    for code, grpc_code in GRPC_STATUS.items()
    if code is not StatusCode.INCOMPATIBLE_VERSION
}
_CODE_OF_GRPC_STATUS[grpc.StatusCode.CANCELLED] = StatusCode.UNAVAILABLE
_CODE_OF_GRPC_STATUS[grpc.StatusCode.OUT_OF_RANGE] = StatusCode.INVALID_ARGUMENT
_CODE_OF_GRPC_STATUS[grpc.StatusCode.ABORTED] = StatusCode.UNAVAILABLE

_BY_SLUG = {code.slug: code for code in StatusCode}


def grpc_status_for(code: StatusCode) -> grpc.StatusCode:
    """The gRPC status for an MLOS status code."""
    return GRPC_STATUS.get(code, grpc.StatusCode.INTERNAL)


def code_for_grpc_status(
    status: grpc.StatusCode, metadata: tuple[tuple[str, str | bytes], ...] | None = None
) -> StatusCode:
    """The MLOS code of a failed call: from its trailing metadata, else from its gRPC status.

    For clients: `metadata` is the call's trailing metadata, when it has any.
    """
    for key, value in metadata or ():
        if key == CODE_METADATA_KEY:
            slug = value.decode() if isinstance(value, bytes) else value
            if slug in _BY_SLUG:
                return _BY_SLUG[slug]
    return _CODE_OF_GRPC_STATUS.get(status, StatusCode.INTERNAL)


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: MLOSError) -> NoReturn:
    """End the call with the status of `error` (raises, as `context.abort` does)."""
    await context.abort(
        grpc_status_for(error.code), error.message, ((CODE_METADATA_KEY, error.code.slug),)
    )
