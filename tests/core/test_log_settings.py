"""Log settings: Triton's names, applied to the loggers (a private logger stands for the root)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from mlos.core.log_settings import LogSettings, ServerLogHandler
from mlos.errors import InvalidArgument


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = ServerLogHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    other = logging.StreamHandler(io.StringIO())  # not the server's: left alone
    log = logging.getLogger("tests.core.log_settings")
    log.propagate = False
    log.addHandler(handler)
    log.addHandler(other)
    log.setLevel(logging.INFO)
    yield log, stream
    assert other.filters == [] and other.formatter is None
    log.removeHandler(handler)
    log.removeHandler(other)


def test_the_settings_start_from_the_server_level() -> None:
    assert LogSettings("info").get() == {
        "log_file": "",
        "log_info": True,
        "log_warning": True,
        "log_error": True,
        "log_verbose_level": 0,
        "log_format": "default",
    }
    assert LogSettings("debug").get()["log_verbose_level"] == 1
    warning = LogSettings("warning").get()
    assert (warning["log_info"], warning["log_warning"]) == (False, True)
    error = LogSettings("error").get()
    assert (error["log_info"], error["log_warning"], error["log_error"]) == (False, False, True)


def test_levels_are_turned_on_and_off(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    settings = LogSettings("info", root=log)
    settings.update({"log_info": False, "log_warning": None})
    log.info("hidden info")
    log.warning("shown warning")
    settings.update({"log_verbose_level": 2, "log_warning": False})
    assert log.level == logging.DEBUG
    log.debug("shown debug")
    log.warning("hidden warning")
    log.error("shown error")
    settings.update({"log_verbose_level": 0, "log_error": False, "log_info": False})
    assert log.level > logging.CRITICAL
    log.critical("hidden critical")
    assert stream.getvalue().splitlines() == [
        "WARNING shown warning",
        "DEBUG shown debug",
        "ERROR shown error",
    ]


def test_the_iso8601_format_writes_utc_times(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    settings = LogSettings("info", root=log)
    assert settings.update({"log_format": "ISO8601"})["log_format"] == "ISO8601"
    log.info("hello")
    line = stream.getvalue().strip()
    assert line.endswith("Z INFO tests.core.log_settings: hello"), line
    assert line[4] == "-" and line[10] == "T"


def test_the_json_format_writes_one_object_a_line(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    settings = LogSettings("info", root=log)
    assert settings.update({"log_format": "json"})["log_format"] == "json"
    log.info("hello %d", 1)
    line = json.loads(stream.getvalue())
    assert (line["message"], line["level"], line["logger"]) == (
        "hello 1", "INFO", "tests.core.log_settings",
    )  # fmt: skip
    settings.update({"log_format": "default"})
    log.info("plain")
    assert stream.getvalue().splitlines()[-1].endswith("INFO tests.core.log_settings: plain")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"log_info": "yes"}, "log_info must be true or false"),
        ({"log_verbose_level": -1}, "log_verbose_level must be an integer from 0"),
        ({"log_verbose_level": True}, "log_verbose_level must be an integer from 0"),
        ({"log_format": "yaml"}, "log_format must be default, ISO8601 or json"),
        ({"log_file": "/tmp/mlos.log"}, "log_file cannot be changed"),
        ({"log_colour": True}, "unknown log setting 'log_colour'"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(
    logger: tuple[logging.Logger, io.StringIO], changes: dict[str, object], message: str
) -> None:
    log, _ = logger
    settings = LogSettings("info", root=log)
    with pytest.raises(InvalidArgument, match=message):
        settings.update({"log_info": False, **changes})
    assert settings.get()["log_info"] is True and log.level == logging.INFO
