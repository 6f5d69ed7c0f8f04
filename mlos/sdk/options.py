"""Reading a model's `config` options in a plugin: the rules every plugin shares.

A model's config is a flat string → string map. Keys under `axon.` are written by `axon deploy`
for whoever needs them (a plugin may read `axon.manifest`); a plugin never rejects them. Any other
key a plugin does not know is a mistake to report, so that a typo such as `intra_op_thread` is
never silently ignored.

Two options mean the same in every plugin that takes them, and are read here: ``device``
(`device_option`: ``cpu``, ``cuda`` or ``cuda:N``) and ``max_batch_size`` (`max_batch_size`:
the batch reported for a model whose tensors all lead with a dynamic dimension).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mlos.errors import InvalidArgument
from mlos.sdk.base import TensorSpec, available_cpus

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "FOREIGN_PREFIX",
    "OPTION_HELP",
    "available_cpus",
    "batchable",
    "check_known",
    "count_option",
    "device_option",
    "max_batch_size",
]

FOREIGN_PREFIX = "axon."
"""Config keys under this prefix belong to other components and pass through every plugin."""

DEFAULT_MAX_BATCH_SIZE = 65536
"""The batch reported for a batchable model when `max_batch_size` is not given."""

OPTION_HELP: dict[str, str] = {
    "device": "cpu (default) | cuda | cuda:N",
    "max_batch_size": f"largest batch for a batchable model (default {DEFAULT_MAX_BATCH_SIZE})",
}
"""What the options read here mean, by name, for a plugin's table of options."""


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


def device_option(config: Mapping[str, str]) -> tuple[str, int]:
    """The ``device`` option as ("cpu", 0) or ("cuda", N); ``gpu`` is read as ``cuda``."""
    raw = (config.get("device") or "cpu").strip().lower()
    kind, _, index = raw.partition(":")
    if kind == "cpu" and not index:
        return "cpu", 0
    if kind in ("cuda", "gpu") and (not index or index.isdigit()):
        return "cuda", int(index or 0)
    raise InvalidArgument(f"config device={raw!r}: expected cpu, cuda or cuda:N")


def batchable(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bool:
    """Whether every input and output leads with a dynamic (-1) dimension."""
    return all(spec.shape[:1] == (-1,) for spec in (*inputs, *outputs))


def max_batch_size(
    inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], configured: int | None
) -> int:
    """The max batch size a model reports, from its tensors and its ``max_batch_size`` option.

    `configured` is the option as `count_option` read it: None (not given) reports
    `DEFAULT_MAX_BATCH_SIZE` for a batchable model and 0 for any other; 0 turns batching off;
    a positive number is reported as given, and is an InvalidArgument for a model that
    cannot batch.
    """
    can_batch = batchable(inputs, outputs)
    if configured is None:
        return DEFAULT_MAX_BATCH_SIZE if can_batch else 0
    if configured > 0 and not can_batch:
        raise InvalidArgument(
            "config max_batch_size: the model cannot batch (not every input and output "
            "leads with a dynamic dimension)"
        )
    return configured
