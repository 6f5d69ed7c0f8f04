"""Axon's error types: one root, split by who is at fault.

Every error carries an ``exit_code`` the CLI returns and a one-line message meant for a user.
Foreign errors (``requests``, ``OSError``, ``tarfile``) are translated at the seam and raised
``from`` their cause.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "AxonError",
    "ConfigError",
    "ConflictError",
    "IntegrityError",
    "NotFoundError",
    "OfflineError",
    "RegistryError",
    "ServerError",
    "UnsafePackageError",
    "UsageError",
    "clip",
    "shown",
]

MESSAGE_VALUE_LIMIT = 60
MESSAGE_LIMIT = 300


def shown(value: object, limit: int = MESSAGE_VALUE_LIMIT) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters with the length said.

    A manifest may hold a value of any size; a message quotes only its start.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str | bytes) else ""
    return text[:limit] + "…" + size


def clip(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message cut to ``limit`` characters (for texts made by other libraries)."""
    if len(message) <= limit:
        return message
    return message[:limit] + f"… ({len(message)} characters)"


class AxonError(Exception):
    """Root of all Axon errors; ``str(err)`` is one line a user can act on."""

    exit_code = 1


class UsageError(AxonError):
    """The user asked for something malformed (bad reference, bad option value)."""


class ConfigError(AxonError):
    """The configuration file or an environment override is wrong."""


class NotFoundError(AxonError):
    """A model, version, blob or registry does not exist."""


class ConflictError(AxonError):
    """A write clashes with what is there (e.g. republishing a version with other content)."""


class IntegrityError(AxonError):
    """Content does not match its declared size or digest; nothing was installed."""


class UnsafePackageError(IntegrityError):
    """A package tried to write outside its directory, hold links or devices, or is too large."""


class RegistryError(AxonError):
    """The registry could not be reached or answered something unexpected."""

    exit_code = 2


class AuthError(RegistryError):
    """The registry refused the credentials (missing token or missing write role)."""

    exit_code = 1


class ServerError(AxonError):
    """The MLOS server could not be reached, or failed (not a refusal of what was sent)."""

    exit_code = 2


class OfflineError(AxonError):
    """Offline mode is on and the answer is not in the cache."""
