"""Trace settings: Triton's names and values, server-wide and per model, and sampling."""

from __future__ import annotations

import pytest

from mlos.core.trace_settings import TraceSettings
from mlos.errors import InvalidArgument

DEFAULT = {
    "trace_level": ["OFF"],
    "trace_rate": "1000",
    "trace_count": "-1",
    "log_frequency": "0",
    "trace_mode": "opentelemetry",
}


def test_defaults_and_server_wide_updates() -> None:
    settings = TraceSettings()
    assert settings.get() == DEFAULT
    after = settings.update("", {"trace_level": ["tensors", "TIMESTAMPS"], "trace_rate": 10})
    assert after == {**DEFAULT, "trace_level": ["TIMESTAMPS", "TENSORS"], "trace_rate": "10"}
    assert settings.update("", {"trace_count": ["5"]})["trace_count"] == "5"
    cleared = settings.update("", {"trace_rate": None, "trace_level": []})
    assert cleared == {**DEFAULT, "trace_count": "5"}


def test_a_model_follows_the_server_except_what_it_sets() -> None:
    settings = TraceSettings()
    settings.update("mlp", {"trace_rate": "1"})
    settings.update("", {"trace_level": ["TIMESTAMPS"], "trace_rate": "50"})
    assert settings.get("mlp") == {**DEFAULT, "trace_level": ["TIMESTAMPS"], "trace_rate": "1"}
    assert settings.get("other")["trace_rate"] == "50"
    settings.update("mlp", {"trace_rate": None})
    assert settings.get("mlp")["trace_rate"] == "50"
    settings.update("mlp", {"trace_level": "OFF"})
    settings.forget("mlp")
    assert settings.get("mlp")["trace_level"] == ["TIMESTAMPS"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trace_level": ["OFF", "TENSORS"]}, "cannot be combined"),
        ({"trace_level": ["LOUD"]}, "unknown trace level 'LOUD'"),
        ({"trace_level": 3}, "takes a list of levels"),
        ({"trace_rate": "0"}, "trace_rate must be from 1"),
        ({"trace_rate": "ten"}, "trace_rate must be an integer"),
        ({"trace_rate": ["1", "2"]}, "trace_rate takes one value"),
        ({"trace_rate": True}, "trace_rate takes one value"),
        ({"trace_count": "-2"}, "trace_count must be from -1"),
        ({"trace_count": str(2**31)}, "trace_count must be from -1 to 2147483647"),
        ({"trace_file": "/tmp/t.json"}, "trace_file cannot be set"),
        ({"log_frequency": "-1"}, "log_frequency must be from 0"),
        ({"trace_mode": "triton"}, "trace_mode cannot be changed"),
        ({"trace_colour": "red"}, "unknown trace setting 'trace_colour'"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(changes: dict[str, object], message: str) -> None:
    settings = TraceSettings()
    with pytest.raises(InvalidArgument, match=message):
        settings.update("", {"trace_rate": "7", **changes})  # type: ignore[dict-item]
    assert settings.get() == DEFAULT


def test_sampling_follows_level_rate_and_count() -> None:
    settings = TraceSettings()
    assert not any(settings.sample("m") for _ in range(5))  # OFF
    settings.update("", {"trace_level": ["TIMESTAMPS"], "trace_rate": "3", "trace_count": "2"})
    picks = [settings.sample("m") for _ in range(12)]
    assert picks == [False, False, True, False, False, True] + [False] * 6
    assert settings.get()["trace_count"] == "0"
    settings.update("m", {"trace_count": "-1", "trace_rate": "1"})
    assert all(settings.sample("m") for _ in range(4))
    assert settings.get("m")["trace_count"] == "-1" and settings.get()["trace_count"] == "0"
