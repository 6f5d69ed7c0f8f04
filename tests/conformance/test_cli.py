"""`python -m mlos_conformance`: exit status, text and JSON output, one-line usage errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

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


def test_mlos_conformance_is_the_same_command(
    double_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlos.cli.main import main as mlos_main

    assert mlos_main(["conformance", "--list"]) == 0
    listed = capsys.readouterr().out
    assert main(["--list"]) == 0
    assert capsys.readouterr().out == listed

    with pytest.raises(SystemExit) as exited:
        mlos_main(["conformance", "--help"])
    assert exited.value.code == 0
    assert "--fixtures PATH" in capsys.readouterr().out

    args = ["--module", "tests.conformance.broken_plugins:BiasedPlugin", "--fixtures", str(double_fixtures), "--json", *FAST]
    assert mlos_main(["conformance", *args]) == EXIT_FAILED
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data["checks"] if c["outcome"] == "fail"] == ["infer.fixtures"]

    assert mlos_main(["conformance", "--module", "x:Y", "--cycles", "-1"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("mlos conformance: error: --cycles must be 0")


def test_junit_beside_text(double_fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "results.xml"
    code = main(
        ["--module", "tests.sdk.echo_plugin:EchoPlugin", "--fixtures", str(double_fixtures), "--junit", str(junit), *FAST]
    )
    out = capsys.readouterr().out

    assert code == EXIT_FAILED
    assert "FAIL  errors.load_garbage" in out
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(ALL_CHECKS)) and suite.get("failures") == "1"
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["errors.load_garbage"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--junit", "/nonexistent/dir/results.xml"], "/nonexistent/dir does not exist"),
        (["--fixtures", "/nonexistent"], "/nonexistent: no such file"),
    ],
)
def test_junit_and_fixture_mistakes_are_usage_errors(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--module", "tests.sdk.echo_plugin:EchoPlugin", *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert words in err


def test_a_bad_fixture_file_names_the_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fixtures.yaml").write_text("fixtures:\n  - {model: m.double, cases: [{outputs: {}}]}\n")
    (tmp_path / "m.double").write_text("double")

    assert main(["--module", "tests.sdk.echo_plugin:EchoPlugin", "--fixtures", str(tmp_path)]) == EXIT_USAGE
    assert "fixtures[0].cases[0].outputs: name at least one expected output" in capsys.readouterr().err
