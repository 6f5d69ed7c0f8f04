"""The names plugins and models are registered under.

A name is 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter or a digit: it is a
key of the registry database, a segment of REST paths and a label of metrics, so the registry,
the configuration file (`plugin_limits`) and every transport accept the same names.
"""

from __future__ import annotations

import re

from mlos.errors import InvalidArgument

__all__ = ["NAME", "check_name"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
"""A valid plugin or model name."""


def check_name(kind: str, name: str) -> None:
    """InvalidArgument unless `name` is a valid name for a `kind` ("plugin", "model")."""
    if not NAME.match(name):
        raise InvalidArgument(
            f"{kind} name {name!r} must be 1-128 letters, digits, '_', '.' or '-'"
        )
