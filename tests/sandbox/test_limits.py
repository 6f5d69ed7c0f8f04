"""Limits: parsing, layering, the SMI message and the words they are shown in."""

from __future__ import annotations

import pytest

from mlos.errors import InvalidArgument
from mlos.sandbox.limits import Limits, format_cpus, format_size, parse_cpus, parse_size
from mlos_generated import smi_pb2


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0", (0,)), ("0-3,6", (0, 1, 2, 3, 6)), ("3,1,1-2", (1, 2, 3)), (" 4 - 5 ".replace(" ", ""), (4, 5))],
)
def test_cpu_lists_parse_and_format_back(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_cpus(text) == cpus
    assert parse_cpus(format_cpus(cpus)) == cpus


def test_cpu_lists_are_compact() -> None:
    assert format_cpus((0, 1, 2, 3, 6, 8, 9)) == "0-3,6,8-9"
    assert format_cpus(()) == ""


@pytest.mark.parametrize("text", ["", "a", "1-", "3-1", "1,,2", "-1", "0x1"])
def test_bad_cpu_lists(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpus(text)


def test_sizes() -> None:
    assert parse_size("512MiB") == parse_size("512M") == 512 * 2**20
    assert parse_size(4096) == 4096
    assert format_size(512 * 2**20) == "512 MiB"
    assert format_size(3 * 2**30) == "3 GiB"
    assert format_size(1536 * 2**20) == "1536 MiB"
    assert format_size(1000) == "1000 bytes"
    for bad in ("0", "-1", "lots", True):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_layering_takes_each_field_from_the_first_that_sets_it() -> None:
    default = Limits(memory_bytes=4 * 2**30, open_files=4096)
    registered = Limits(memory_bytes=2**30, cpus=(0,))
    assert registered.over(default) == Limits(memory_bytes=2**30, cpus=(0,), open_files=4096)
    assert Limits().over(default) == default
    assert Limits().empty and not default.empty


def test_from_and_to_the_smi_message() -> None:
    message = smi_pb2.PluginLimits(memory_bytes=2**29, cpus="0-1", cpu_quota=0.5, open_files=64)
    limits = Limits.from_proto(message)
    assert limits == Limits(memory_bytes=2**29, cpus=(0, 1), cpu_quota=0.5, open_files=64)
    assert limits.to_proto() == message
    # `user` is configuration only: the message neither carries nor shows it
    assert Limits(user="nobody").to_proto() == smi_pb2.PluginLimits()


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (smi_pb2.PluginLimits(cpus="2-1"), "limits.cpus"),
        (smi_pb2.PluginLimits(cpu_weight=10_001), "limits.cpu_weight"),
        (smi_pb2.PluginLimits(cpu_quota=float("nan")), "limits.cpu_quota"),
        (smi_pb2.PluginLimits(cpu_quota=0.001), "below 0.01"),
        (smi_pb2.PluginLimits(memory_bytes=2**63), "limits.memory_bytes"),
    ],
)
def test_bad_registration_limits_are_invalid_arguments(
    message: smi_pb2.PluginLimits, words: str
) -> None:
    with pytest.raises(InvalidArgument, match=words):
        Limits.from_proto(message)


def test_configuration_entries() -> None:
    limits = Limits.from_mapping(
        {"memory": "1GiB", "cpus": "0-1", "cpu_quota": 2, "cpu_weight": "50",
         "open_files": 256, "processes": 32, "user": 65534}
    )
    assert limits == Limits(2**30, (0, 1), 2.0, 50, 256, 32, "65534")
    assert limits.describe() == (
        "memory 1 GiB, cpus 0-1, cpu quota 2, cpu weight 50, open files 256, processes 32, "
        "user 65534"
    )
    assert Limits().describe() == "none"
    with pytest.raises(ValueError, match="unknown limit 'mem'"):
        Limits.from_mapping({"mem": 1})
    with pytest.raises(ValueError, match="open_files: True is not a whole number"):
        Limits.from_mapping({"open_files": True})
    with pytest.raises(ValueError, match="user"):
        Limits.from_mapping({"user": "a b"})
