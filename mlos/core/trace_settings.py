"""Trace settings, server-wide and per model, as Triton's trace extension defines them.

    settings = TraceSettings()
    settings.update("", {"trace_level": ["TIMESTAMPS"], "trace_rate": "100"})
    settings.update("mlp", {"trace_rate": "1"})    # mlp overrides the rate, follows the rest
    settings.get("mlp")  # {"trace_level": ["TIMESTAMPS"], "trace_rate": "1", ...}
    settings.sample("mlp")                           # trace this request?

The settings are Triton's (`GET/POST /v2[/models/{name}]/trace/setting`, gRPC `TraceSetting`):

* `trace_level` — `["OFF"]`, or any of `TIMESTAMPS` and `TENSORS`;
* `trace_rate` — one request in `trace_rate` is traced;
* `trace_count` — how many more requests to trace; `-1` without a limit; each traced request
  takes one, down to `0`, where tracing stops;
* `log_frequency` — how many traces are collected before their spans are exported at once;
  `0` exports them on the exporter's own schedule (within a second of their end);
* `trace_mode` — `opentelemetry`: traces are OpenTelemetry spans (read-only).

A model's settings follow the server-wide ones except those set for the model itself; clearing a
setting (a JSON `null`, or a gRPC setting with no value) makes a model follow the server-wide
value again, and puts a server-wide setting back to its default. Triton's `trace_file` has no
meaning where traces are spans and is refused, like any setting this module does not know.
Every update is checked whole before any of it applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlos.errors import InvalidArgument

__all__ = ["DEFAULTS", "LEVELS", "TraceSettings", "TraceValue"]

LEVELS = ("TIMESTAMPS", "TENSORS")
"""Trace levels besides OFF, in the order they are reported."""

TRACE_MODE = "opentelemetry"

DEFAULTS: dict[str, Any] = {
    "trace_level": ("OFF",),
    "trace_rate": 1000,
    "trace_count": -1,
    "log_frequency": 0,
}
"""The server-wide settings until changed."""

_UINT32 = 2**32 - 1
_INT32 = 2**31 - 1
_REFUSED = {
    "trace_file": "trace_file cannot be set: MLOS traces are OpenTelemetry spans, not files",
    "trace_mode": f"trace_mode cannot be changed: it is {TRACE_MODE}",
}

TraceValue = Sequence[str] | str | int | None
"""A setting as a transport hands it over: strings (gRPC always sends a list), a JSON number,
or None to clear it."""


def _scalar(name: str, value: TraceValue) -> str | int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON has one number type: 5.0 is 5
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    if isinstance(value, Sequence) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    raise InvalidArgument(f"{name} takes one value, got {value!r}")


def _integer(name: str, value: TraceValue, low: int, high: int) -> int:
    raw = _scalar(name, value)
    try:
        number = int(raw) if isinstance(raw, int) else int(raw.strip(), 10)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer, got {raw!r}") from None
    if not low <= number <= high:
        raise InvalidArgument(f"{name} must be from {low} to {high}, got {number}")
    return number


def _level(value: TraceValue) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"trace_level takes a list of levels, got {value!r}")
    levels = {v.strip().upper() for v in value}
    unknown = levels - {"OFF", *LEVELS}
    if unknown:
        raise InvalidArgument(
            f"unknown trace level {sorted(unknown)[0]!r}: use OFF, TIMESTAMPS or TENSORS"
        )
    if "OFF" in levels:
        if len(levels) > 1:
            raise InvalidArgument("trace level OFF cannot be combined with another level")
        return ("OFF",)
    return tuple(level for level in LEVELS if level in levels)


def _parse(name: str, value: TraceValue) -> Any:
    """The stored form of one setting (None: clear it)."""
    if name in _REFUSED:
        raise InvalidArgument(_REFUSED[name])
    if name not in DEFAULTS:
        known = ", ".join([*DEFAULTS, "trace_mode"])
        raise InvalidArgument(f"unknown trace setting {name!r} (known: {known})")
    if value is None or (isinstance(value, Sequence) and not isinstance(value, str) and not value):
        return None
    if name == "trace_level":
        return _level(value)
    if name == "trace_rate":
        return _integer(name, value, 1, _UINT32)
    if name == "log_frequency":
        return _integer(name, value, 0, _UINT32)
    return _integer(name, value, -1, _INT32)


class TraceSettings:
    """The server-wide trace settings and each model's own (see the module documentation)."""

    def __init__(self) -> None:
        self._global: dict[str, Any] = dict(DEFAULTS)
        self._models: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, int] = {}

    def get(self, model: str = "") -> dict[str, list[str] | str]:
        """The settings in force for `model` (server-wide for ""), as Triton reports them."""
        settings = self._effective(model)
        return {
            "trace_level": list(settings["trace_level"]),
            "trace_rate": str(settings["trace_rate"]),
            "trace_count": str(settings["trace_count"]),
            "log_frequency": str(settings["log_frequency"]),
            "trace_mode": TRACE_MODE,
        }

    def update(self, model: str, changes: Mapping[str, TraceValue]) -> dict[str, list[str] | str]:
        """Apply `changes` to `model`'s settings (server-wide for ""); the settings after."""
        parsed = {name: _parse(name, value) for name, value in changes.items()}
        target = self._models.setdefault(model, {}) if model else self._global
        for name, value in parsed.items():
            if value is not None:
                target[name] = value
            elif model:
                target.pop(name, None)
            else:
                target[name] = DEFAULTS[name]
        if model and not target:
            del self._models[model]
        return self.get(model)

    def enabled(self) -> bool:
        """Whether any request may be traced: a trace level other than OFF server-wide or for
        some model."""
        if self._global["trace_level"] != ("OFF",):
            return True
        return any(own.get("trace_level", ("OFF",)) != ("OFF",) for own in self._models.values())

    def level(self, model: str) -> tuple[str, ...]:
        """The trace levels in force for `model`."""
        return tuple(self._effective(model)["trace_level"])

    def log_frequency(self, model: str) -> int:
        """The `log_frequency` in force for `model`."""
        return int(self._effective(model)["log_frequency"])

    def forget(self, model: str) -> None:
        """Drop a removed model's own settings."""
        self._models.pop(model, None)
        self._seen.pop(model, None)

    def sample(self, model: str) -> bool:
        """Whether to trace the next request of `model`: tracing is on, this is one request in
        `trace_rate`, and `trace_count` is not used up (a traced request takes one)."""
        settings = self._effective(model)
        if settings["trace_level"] == ("OFF",) or settings["trace_count"] == 0:
            return False
        seen = self._seen.get(model, 0) + 1
        self._seen[model] = seen
        if seen % settings["trace_rate"]:
            return False
        if settings["trace_count"] > 0:
            owner = self._models.get(model, {})
            scope = owner if "trace_count" in owner else self._global
            scope["trace_count"] -= 1
        return True

    def _effective(self, model: str) -> dict[str, Any]:
        own = self._models.get(model) if model else None
        return {**self._global, **own} if own else self._global
