"""Reading a model's `config` options in a plugin: the rules every plugin shares.

A model's config is a flat string → string map. Keys under `axon.` are written by `axon deploy`
for whoever needs them (a plugin may read `axon.manifest`); a plugin never rejects them. Any other
key a plugin does not know is a mistake to report, so that a typo such as `intra_op_thread` is
never silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from mlos.errors import InvalidArgument

__all__ = ["FOREIGN_PREFIX", "available_cpus", "check_known", "count_option"]

FOREIGN_PREFIX = "axon."
"""Config keys under this prefix belong to other components and pass through every plugin."""


def check_known(config: Mapping[str, str], known: Iterable[str], plugin: str) -> None:
    """InvalidArgument naming every key that is neither known nor under `FOREIGN_PREFIX`."""
    known = list(known)
    unknown = sorted(
        key for key in config if key not in known and not key.startswith(FOREIGN_PREFIX)
    )
    if unknown:
        raise InvalidArgument(
            f"unknown config option {', '.join(map(repr, unknown))} for the {plugin} plugin; "
            f"known options: {', '.join(known)}"
        )


def count_option(config: Mapping[str, str], key: str) -> int | None:
    """A non-negative whole number, or None when the key is absent or empty."""
    raw = config.get(key)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidArgument(f"config {key}={raw!r}: expected a whole number") from None
    if value < 0:
        raise InvalidArgument(f"config {key}={raw!r}: must not be negative")
    return value


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which the resource manager may narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
