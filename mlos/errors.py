"""The one error hierarchy of MLOS.

Every failure the core, a plugin or a transport reports is an :class:`MLOSError` carrying a
transport-neutral :class:`StatusCode`. Transports translate codes through their own single
table (HTTP status, gRPC status, IPC error frame); nothing here knows about any of them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar

from mlos_generated import smi_pb2

__all__ = [
    "RELAY_DETAIL",
    "AlreadyExists",
    "DeadlineExceeded",
    "FailedPrecondition",
    "IncompatibleVersion",
    "InsufficientResources",
    "InternalError",
    "InvalidArgument",
    "MLOSError",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "StatusCode",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]

RELAY_DETAIL = "relay"
"""Error detail of a direct channel's refusal: its share of a server limit is spent ("rate" or
"in_flight"), and the client is to send the call through the server, which decides it."""


class StatusCode(enum.IntEnum):
    """Transport-neutral error codes; the values equal `smi.v1.ErrorCode`."""

    INVALID_ARGUMENT = smi_pb2.ERROR_CODE_INVALID_ARGUMENT
    NOT_FOUND = smi_pb2.ERROR_CODE_NOT_FOUND
    ALREADY_EXISTS = smi_pb2.ERROR_CODE_ALREADY_EXISTS
    FAILED_PRECONDITION = smi_pb2.ERROR_CODE_FAILED_PRECONDITION
    UNAVAILABLE = smi_pb2.ERROR_CODE_UNAVAILABLE
    RESOURCE_EXHAUSTED = smi_pb2.ERROR_CODE_RESOURCE_EXHAUSTED
    INCOMPATIBLE_VERSION = smi_pb2.ERROR_CODE_INCOMPATIBLE_VERSION
    DEADLINE_EXCEEDED = smi_pb2.ERROR_CODE_DEADLINE_EXCEEDED
    UNAUTHENTICATED = smi_pb2.ERROR_CODE_UNAUTHENTICATED
    PERMISSION_DENIED = smi_pb2.ERROR_CODE_PERMISSION_DENIED
    UNIMPLEMENTED = smi_pb2.ERROR_CODE_UNIMPLEMENTED
    INTERNAL = smi_pb2.ERROR_CODE_INTERNAL
    INSUFFICIENT_RESOURCES = smi_pb2.ERROR_CODE_INSUFFICIENT_RESOURCES

    @property
    def slug(self) -> str:
        """The lowercase name used in problem bodies and CLI output ("not_found")."""
        return self.name.lower()


class MLOSError(Exception):
    """Root of every error MLOS reports on purpose."""

    code: ClassVar[StatusCode] = StatusCode.INTERNAL

    def __init__(self, message: str, *, details: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = dict(details or {})

    def to_proto(self) -> smi_pb2.Error:
        """This error as the SMI `Error` message."""
        return smi_pb2.Error(
            code=smi_pb2.ErrorCode.ValueType(self.code), message=self.message, details=self.details
        )

    @staticmethod
    def from_proto(error: smi_pb2.Error) -> MLOSError:
        """The typed error for an SMI `Error` message (unknown codes become internal)."""
        try:
            cls = _BY_CODE[StatusCode(error.code)]
        except ValueError:
            cls = InternalError
        return cls(error.message or "unknown error", details=dict(error.details))

    @staticmethod
    def for_code(code: StatusCode, message: str) -> MLOSError:
        """The typed error class for `code`, instantiated with `message`."""
        return _BY_CODE[code](message)


class InvalidArgument(MLOSError):
    """The request is malformed or does not match what the model expects."""

    code = StatusCode.INVALID_ARGUMENT


class NotFound(MLOSError):
    """A plugin, model or version does not exist."""

    code = StatusCode.NOT_FOUND


class AlreadyExists(MLOSError):
    """Something with that identity is registered already."""

    code = StatusCode.ALREADY_EXISTS


class FailedPrecondition(MLOSError):
    """The operation is not allowed in the current state (for example, a plugin still in use)."""

    code = StatusCode.FAILED_PRECONDITION


class Unavailable(MLOSError):
    """A plugin process is not running or died while serving the request."""

    code = StatusCode.UNAVAILABLE


class ResourceExhausted(MLOSError):
    """A limit (memory, size, rate) was reached."""

    code = StatusCode.RESOURCE_EXHAUSTED


class IncompatibleVersion(MLOSError):
    """A plugin speaks an SMI version the core cannot use."""

    code = StatusCode.INCOMPATIBLE_VERSION


class DeadlineExceeded(MLOSError):
    """The call did not finish before its deadline."""

    code = StatusCode.DEADLINE_EXCEEDED


class Unauthenticated(MLOSError):
    """The caller did not prove who it is."""

    code = StatusCode.UNAUTHENTICATED


class PermissionDenied(MLOSError):
    """The caller may not do this."""

    code = StatusCode.PERMISSION_DENIED


class Unimplemented(MLOSError):
    """The operation is not supported by this server or plugin."""

    code = StatusCode.UNIMPLEMENTED


class InsufficientResources(MLOSError):
    """The server's resource budget cannot hold what a load asks for (memory, CPU cores,
    GPUs); the message names what is short. Nothing else is unloaded to make room."""

    code = StatusCode.INSUFFICIENT_RESOURCES


class InternalError(MLOSError):
    """A bug or an unexpected failure; the message never carries a traceback."""

    code = StatusCode.INTERNAL


_BY_CODE: dict[StatusCode, type[MLOSError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Unavailable,
        ResourceExhausted,
        IncompatibleVersion,
        DeadlineExceeded,
        Unauthenticated,
        PermissionDenied,
        Unimplemented,
        InternalError,
        InsufficientResources,
    )
}
