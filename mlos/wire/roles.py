"""The roles a token or a local user can have, by number and by name.

The numbers are the SMI `Role` enum (spec/smi.proto); the names are the enum's names without the
`ROLE_` prefix, lower case (`viewer`, `inference`, `operator`, `admin`), as the CLI, the
configuration, REST bodies and the audit log write them. Everything that lists the roles reads
them from here, so that a role added to the enum is known everywhere at once.
"""

from __future__ import annotations

from mlos.errors import InvalidArgument
from mlos_generated import smi_pb2

__all__ = ["ROLES", "ROLE_NAMES", "role_by_name", "roles_text"]

ROLE_NAMES: dict[int, str] = {
    number: name.removeprefix("ROLE_").lower()
    for name, number in smi_pb2.Role.items()
    if number != smi_pb2.ROLE_UNSPECIFIED
}
"""Role number → name, lowest access first."""

ROLES: tuple[str, ...] = tuple(ROLE_NAMES.values())
"""The role names, lowest access first."""


def roles_text() -> str:
    """The role names as a sentence lists them: `viewer, inference, operator or admin`."""
    return f"{', '.join(ROLES[:-1])} or {ROLES[-1]}"


def role_by_name(name: str) -> int:
    """The role called `name` ("operator", any case); InvalidArgument for any other word."""
    for role, role_name in ROLE_NAMES.items():
        if role_name == name.lower():
            return role
    raise InvalidArgument(f"unknown role {name!r}: use {roles_text()}")
