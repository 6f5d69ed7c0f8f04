"""Errors as gRPC statuses: the one table from MLOS status codes to `grpc.StatusCode`.

Every failure the gRPC transport reports passes through :func:`abort`. Besides the gRPC status
(from the one table, :data:`mlos.wire.status.GRPC_STATUS`) and the message, the answer carries
the exact MLOS code as trailing metadata (:data:`CODE_METADATA_KEY`, for example
``incompatible_version``), so a client can tell apart two MLOS codes that share a gRPC status.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
import grpc.aio

from mlos.errors import MLOSError, StatusCode
from mlos.wire import status
from mlos.wire.status import CODE_METADATA_KEY

__all__ = ["CODE_METADATA_KEY", "GRPC_STATUS", "abort", "code_for_grpc_status", "grpc_status_for"]

_BY_NUMBER = {status.value[0]: status for status in grpc.StatusCode}

GRPC_STATUS: dict[StatusCode, grpc.StatusCode] = {
    code: _BY_NUMBER[number] for code, number in status.GRPC_STATUS.items()
}
"""The gRPC status of each MLOS status code (:data:`mlos.wire.status.GRPC_STATUS`)."""


def grpc_status_for(code: StatusCode) -> grpc.StatusCode:
    """The gRPC status for an MLOS status code."""
    return GRPC_STATUS.get(code, grpc.StatusCode.INTERNAL)


def code_for_grpc_status(
    grpc_status: grpc.StatusCode, metadata: tuple[tuple[str, str | bytes], ...] | None = None
) -> StatusCode:
    """The MLOS code of a failed call (see :func:`mlos.wire.status.code_for_grpc_status`)."""
    return status.code_for_grpc_status(grpc_status.value[0], metadata)


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: MLOSError) -> NoReturn:
    """End the call with the status of `error` (raises, as `context.abort` does)."""
    await context.abort(
        grpc_status_for(error.code), error.message, ((CODE_METADATA_KEY, error.code.slug),)
    )
