"""Resource limits of a plugin process: the values, their parsing, and their words.

A :class:`Limits` holds what one plugin process may use. It comes from three places, later
ones winning field by field: the server's configured default (`plugin_limits: {"*": ...}`),
the plugin's registration (`PluginLimits` in smi.proto), and the configuration's entry for
that plugin (`plugin_limits: {onnx: ...}`). Only the configuration may name another `user`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlos.errors import InvalidArgument
from mlos_generated import smi_pb2

__all__ = [
    "LIMIT_KEYS",
    "Limits",
    "format_cpus",
    "format_size",
    "parse_cpus",
    "parse_size",
]

_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_CPU_RANGE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")

MAX_WEIGHT = 10_000
MAX_QUOTA = 65_536.0
MAX_COUNT = 2**22


def parse_size(value: Any) -> int:
    """A byte count from `67108864`, `"64MiB"` or `"64M"` (K, M, G, T are powers of 1024).

    ValueError for anything else, or for a size that is not positive.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a size in bytes (for example 67108864 or 64MiB)")
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2)[:1].lower()]
    if size <= 0:
        raise ValueError(f"{value!r} is not a positive size")
    return size


def format_size(size: int) -> str:
    """`536870912` → "512 MiB": the largest binary unit that divides the size exactly."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def parse_cpus(text: str) -> tuple[int, ...]:
    """CPU numbers from a list such as "0-3,6" (sorted, without repeats); ValueError if invalid."""
    cpus: set[int] = set()
    for part in text.split(","):
        match = _CPU_RANGE.match(part.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a CPU list (for example 0-3,6)")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"{text!r}: the range {part.strip()} runs backwards")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def format_cpus(cpus: tuple[int, ...]) -> str:
    """(0, 1, 2, 3, 6) → "0-3,6"."""
    parts: list[str] = []
    start = previous = None
    for cpu in sorted(cpus):
        if previous is not None and cpu == previous + 1:
            previous = cpu
            continue
        if start is not None:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        start = previous = cpu
    if start is not None:
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one plugin process may use; 0 or empty means no limit of its own."""

    memory_bytes: int = 0
    cpus: tuple[int, ...] = ()
    cpu_quota: float = 0.0
    cpu_weight: int = 0
    open_files: int = 0
    processes: int = 0
    user: str = ""
    """Run the process as this user (a name or a numeric uid); configuration only."""

    def over(self, base: Limits) -> Limits:
        """These limits, with every field left unset here taken from `base`."""
        values = {
            item.name: getattr(self, item.name) or getattr(base, item.name)
            for item in dataclasses.fields(self)
        }
        return Limits(**values)

    @property
    def empty(self) -> bool:
        """Whether no limit is set at all."""
        return self == Limits()

    # -- conversions ------------------------------------------------------------------------

    @classmethod
    def from_proto(cls, message: smi_pb2.PluginLimits) -> Limits:
        """Limits from a registration; InvalidArgument for values out of range."""
        try:
            cpus = parse_cpus(message.cpus) if message.cpus else ()
        except ValueError as exc:
            raise InvalidArgument(f"limits.cpus: {exc}") from None
        limits = cls(
            memory_bytes=message.memory_bytes,
            cpus=cpus,
            cpu_quota=message.cpu_quota,
            cpu_weight=message.cpu_weight,
            open_files=message.open_files,
            processes=message.processes,
        )
        try:
            limits.check()
        except ValueError as exc:
            raise InvalidArgument(f"limits.{exc}") from None
        return limits

    def to_proto(self) -> smi_pb2.PluginLimits:
        """As the SMI message (without `user`, which the API neither takes nor shows)."""
        return smi_pb2.PluginLimits(
            memory_bytes=self.memory_bytes,
            cpus=format_cpus(self.cpus),
            cpu_quota=self.cpu_quota,
            cpu_weight=self.cpu_weight,
            open_files=self.open_files,
            processes=self.processes,
        )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Limits:
        """Limits from a configuration entry such as `{memory: 512MiB, cpus: "0-1"}`.

        ValueError naming the key for an unknown key or a bad value.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{mapping!r} is not a mapping of limits")
        values: dict[str, Any] = {}
        for key, raw in mapping.items():
            if key not in LIMIT_KEYS:
                raise ValueError(f"unknown limit {key!r} (known: {', '.join(LIMIT_KEYS)})")
            try:
                values[LIMIT_KEYS[key]] = _PARSERS[key](raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{key}: {exc}") from None
        limits = cls(**values)
        limits.check()
        return limits

    def check(self) -> None:
        """ValueError, starting with the field's name, for a value no host could apply."""
        if self.memory_bytes < 0 or self.memory_bytes >= 2**63:
            raise ValueError(f"memory_bytes: {self.memory_bytes} is out of range")
        if not (0.0 <= self.cpu_quota <= MAX_QUOTA) or math.isnan(self.cpu_quota):
            raise ValueError(f"cpu_quota: {self.cpu_quota} is not from 0 to {MAX_QUOTA:g} CPUs")
        if self.cpu_quota and self.cpu_quota < 0.01:
            raise ValueError(f"cpu_quota: {self.cpu_quota} is below 0.01 CPUs")
        if not 0 <= self.cpu_weight <= MAX_WEIGHT:
            raise ValueError(f"cpu_weight: {self.cpu_weight} is not from 1 to {MAX_WEIGHT}")
        for name in ("open_files", "processes"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_COUNT:
                raise ValueError(f"{name}: {value} is out of range")
        if self.user and not _USER.match(self.user):
            raise ValueError(f"user: {self.user!r} is not a user name or uid")

    def describe(self) -> str:
        """"memory 512 MiB, cpus 0-1, open files 256" — or "none"."""
        shown = {
            "memory": self.memory_bytes and format_size(self.memory_bytes),
            "cpus": self.cpus and format_cpus(self.cpus),
            "cpu quota": self.cpu_quota and f"{self.cpu_quota:g}",
            "cpu weight": self.cpu_weight,
            "open files": self.open_files,
            "processes": self.processes,
            "user": self.user,
        }
        return ", ".join(f"{label} {value}" for label, value in shown.items() if value) or "none"


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive whole number")
    return number


def _quota(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number of CPUs")
    return float(value)


def _cpus(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a CPU list (for example 0-3,6)")
    return parse_cpus(value)


def _user(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a user name or uid")
    return value


LIMIT_KEYS: dict[str, str] = {
    "memory": "memory_bytes",
    "cpus": "cpus",
    "cpu_quota": "cpu_quota",
    "cpu_weight": "cpu_weight",
    "open_files": "open_files",
    "processes": "processes",
    "user": "user",
}
"""Configuration keys of a limits entry, and the :class:`Limits` field each sets."""

_PARSERS = {
    "memory": parse_size,
    "cpus": _cpus,
    "cpu_quota": _quota,
    "cpu_weight": _count,
    "open_files": _count,
    "processes": _count,
    "user": _user,
}
