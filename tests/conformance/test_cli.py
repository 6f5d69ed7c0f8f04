"""`python -m mlos_conformance`: exit status, text and JSON output, one-line usage errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlos.core.supervisor import PluginLaunch
from mlos_conformance import ALL_CHECKS
from mlos_conformance.cli import EXIT_FAILED, EXIT_USAGE, main
from tests.conformance.conftest import OPTIONS

FAST = ["--cycles", "2"]


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins started by the CLI import the test plugins from this checkout."""
    monkeypatch.setenv("PYTHONPATH", OPTIONS.env["PYTHONPATH"])


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [c.name for c in ALL_CHECKS]


def test_a_conformant_plugin_exits_0(double_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--module", "tests.conformance.broken_plugins:StrictPlugin", "--model", str(double_model), *FAST])
    out = capsys.readouterr().out

    assert code == 0, out
    assert "PASS  lifecycle.cycles" in out
    assert out.rstrip().endswith("CONFORMANT")


def test_json_and_a_failing_plugin_exits_1(
    broken_host: Callable[[str], PluginLaunch],
    double_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.ones((1, 4), np.float32))
    launch = broken_host("smi2")
    code = main(
        ["--executable", launch.source, "--model", str(double_model), "--input", f"x=@{x}", "--json", *FAST]
    )
    data = json.loads(capsys.readouterr().out)

    assert code == EXIT_FAILED
    assert data["ok"] is False
    assert [c["name"] for c in data["checks"] if c["outcome"] == "fail"] == ["describe.smi_version"]


def test_check_patterns_select_checks(double_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--module", "tests.sdk.echo_plugin:EchoPlugin", "--check", "describe.*", "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert [c["name"] for c in data["checks"]] == [
        "describe.identity",
        "describe.smi_version",
        "describe.capabilities",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "name the plugin"),
        (["--entry-point", "no-such-plugin"], "no installed plugin provides the entry point"),
        (["--module", "tests.sdk.echo_plugin:EchoPlugin", "--model", "/nonexistent.double"], "no such file"),
        (["--module", "tests.sdk.echo_plugin:EchoPlugin", "--input", "x=1"], "expected NAME=@FILE.npy"),
        (["--module", "tests.sdk.echo_plugin:EchoPlugin", "--input", "x=@/nonexistent.npy"], "cannot read"),
        (["--module", "tests.sdk.echo_plugin:EchoPlugin", "--check", "nope.*"], "no check matches"),
        (["--module", "tests.sdk.echo_plugin:EchoPlugin", "--cycles", "-1"], "--cycles"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert words in captured.err


def test_the_subcommand_hook_runs_the_kit(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    from types import SimpleNamespace

    from mlos_conformance.cli import register

    parser = argparse.ArgumentParser(prog="mlos")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["conformance", "--module", "tests.sdk.echo_plugin:EchoPlugin", "--check", "describe.identity"])

    assert args.func(SimpleNamespace(args=args)) == 0
    assert "PASS  describe.identity" in capsys.readouterr().out
