"""The server's log settings, as Triton's logging extension defines them, applied to its loggers.

    settings = LogSettings("info")
    settings.update({"log_verbose_level": 1, "log_format": "ISO8601"})   # debug lines, ISO times

The settings (`GET/POST /v2/logging`, gRPC `LogSettings`):

* `log_info`, `log_warning`, `log_error` — whether INFO, WARNING and ERROR (with CRITICAL)
  records are written;
* `log_verbose_level` — 0 writes no DEBUG record, 1 and more write them all (Python's logging
  has one debug level);
* `log_format` — `default` (`2026-12-04 17:05:00,123 INFO mlos.server: ...`), `ISO8601`
  (`2026-12-04T17:05:00Z INFO mlos.server: ...`, UTC) or `json` (one JSON object a line, with
  the request id and trace of the call a line belongs to: :mod:`mlos.core.log_format`);
* `log_file` — where the log goes: `""`, the server's stderr. Read-only, as in Triton.

They start from the server's `log_level` and `log_format`, and apply to the server process's
log: the level of the root logger (every `mlos.*` logger writes through it) and of
`uvicorn.error` (whose level uvicorn sets itself), and the filter and format of the root
logger's :class:`ServerLogHandler` (`mlos serve` logs through one; handlers of other kinds, a
test runner's say, are left alone).
Plugin processes keep the level they were started with. A `null` value leaves its setting as it
is; every update is checked whole before any of it applies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from mlos.core.log_format import JsonFormatter
from mlos.errors import InvalidArgument

__all__ = ["DEFAULT_FORMAT", "FORMATS", "LogSettings", "ServerLogHandler", "formatter"]

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The server's log line."""

FORMATS = ("default", "ISO8601", "json")
OWN_LEVEL_LOGGERS = ("uvicorn.error",)
"""Loggers with a level of their own (uvicorn sets it), set with the root logger's."""

_FLAGS = ("log_info", "log_warning", "log_error")
_UINT32 = 2**32 - 1


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of one `log_format`."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "ISO8601":
        iso = logging.Formatter(DEFAULT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%SZ")
        iso.converter = time.gmtime
        return iso
    return logging.Formatter(DEFAULT_FORMAT)


class ServerLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The server's log handler (stderr unless told otherwise): the handler the log settings
    filter and format."""

    def __init__(self, stream: Any = None, log_format: str = "default") -> None:
        super().__init__(stream)
        self.setFormatter(formatter(log_format))


class _Filter(logging.Filter):
    """Drops the records of the levels the settings turn off."""

    def __init__(self, settings: LogSettings) -> None:
        super().__init__("mlos.log_settings")
        self._settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        values = self._settings.values
        if record.levelno >= logging.ERROR:
            return bool(values["log_error"])
        if record.levelno >= logging.WARNING:
            return bool(values["log_warning"])
        if record.levelno >= logging.INFO:
            return bool(values["log_info"])
        return int(values["log_verbose_level"]) > 0


def _parse(name: str, value: Any) -> Any:
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise InvalidArgument(f"{name} must be true or false, got {value!r}")
        return value
    if name == "log_verbose_level":
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type: 1.0 is 1
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32:
            raise InvalidArgument(f"log_verbose_level must be an integer from 0, got {value!r}")
        return value
    if name == "log_format":
        if value not in FORMATS:
            raise InvalidArgument(f"log_format must be default, ISO8601 or json, got {value!r}")
        return value
    if name == "log_file":
        raise InvalidArgument("log_file cannot be changed through the API")
    known = ", ".join(["log_file", *_FLAGS, "log_verbose_level", "log_format"])
    raise InvalidArgument(f"unknown log setting {name!r} (known: {known})")


class LogSettings:
    """The log settings of one server process (see the module documentation)."""

    def __init__(
        self, level: str = "info", root: logging.Logger | None = None, log_format: str = "default"
    ) -> None:
        number = logging.getLevelName(level.upper())
        number = number if isinstance(number, int) else logging.INFO
        self.values: dict[str, bool | int | str] = {
            "log_file": "",
            "log_info": number <= logging.INFO,
            "log_warning": number <= logging.WARNING,
            "log_error": True,
            "log_verbose_level": 1 if number <= logging.DEBUG else 0,
            "log_format": log_format if log_format in FORMATS else "default",
        }
        self._root = root if root is not None else logging.getLogger()
        self._filter = _Filter(self)

    def get(self) -> dict[str, bool | int | str]:
        """The settings, as Triton reports them."""
        return dict(self.values)

    def update(self, changes: Mapping[str, Any]) -> dict[str, bool | int | str]:
        """Check and apply `changes` (None values leave their setting as it is); the settings
        after."""
        parsed = {
            name: _parse(name, value) for name, value in changes.items() if value is not None
        }
        if not parsed:
            return self.get()
        format_changed = parsed.get("log_format", self.values["log_format"]) != (
            self.values["log_format"]
        )
        self.values.update(parsed)
        self._apply(format_changed)
        return self.get()

    def level(self) -> int:
        """The lowest level the settings let through (above CRITICAL when none)."""
        values = self.values
        if int(values["log_verbose_level"]) > 0:
            return logging.DEBUG
        for flag, level in zip(_FLAGS, (logging.INFO, logging.WARNING, logging.ERROR), strict=True):
            if values[flag]:
                return level
        return logging.CRITICAL + 1

    def _apply(self, format_changed: bool) -> None:
        level = self.level()
        self._root.setLevel(level)
        if self._root is logging.getLogger():
            for name in OWN_LEVEL_LOGGERS:
                logging.getLogger(name).setLevel(level)
        for handler in self._root.handlers:
            if not isinstance(handler, ServerLogHandler):
                continue
            if self._filter not in handler.filters:
                handler.addFilter(self._filter)
            if format_changed:
                handler.setFormatter(formatter(str(self.values["log_format"])))
