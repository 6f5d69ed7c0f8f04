"""The `mlos` parser, exit statuses and error lines."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mlos.cli.main import build_parser, main
from mlos.client import Unreachable
from mlos.errors import InvalidArgument, NotFound, Unavailable
from tests.cli.conftest import Run
from tests.cli.fake_client import FakeClient


def test_every_command_parses() -> None:
    parser = build_parser()
    for argv in (
        ["serve", "--demo"],
        ["plugin", "register", "onnx", "--module", "a:B"],
        ["plugin", "list"], ["plugin", "show", "x"], ["plugin", "load", "x"],
        ["plugin", "unload", "x"], ["plugin", "remove", "x"],
        ["model", "register", "m", "p.onnx", "--config", "a=1", "b=2"],
        ["model", "list"], ["model", "show", "m", "--version", "2"],
        ["model", "remove", "m"],
        ["infer", "m", "-i", "x=[1]"], ["health"], ["resources", "--json"],
    ):
        assert callable(parser.parse_args(argv).func)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["plugin"], "the following arguments are required: ACTION"),
        (["plugin", "register"], "the following arguments are required: NAME"),
        (["plugin", "register", "x", "--module", "a:B", "--executable", "/x"], "not allowed with"),
        (["infer", "m"], "the following arguments are required: --input"),
        (["infer", "m", "-i", "novalue"], "expected NAME=VALUE"),
        (["health", "--timeout", "soon"], "invalid float value"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, env={})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mlos: error: ") and err.count("\n") == 1
    assert message in err and "--help" in err


def test_url_comes_from_flag_then_env_then_default(run: Run, fake: FakeClient) -> None:
    run("health")
    assert fake.url == "http://127.0.0.1:8080"
    run("health", env={"MLOS_URL": "http://10.0.0.1:9"})
    assert fake.url == "http://10.0.0.1:9"
    run("health", "--url", "http://h:1", "--timeout", "5", env={"MLOS_URL": "http://10.0.0.1:9"})
    assert (fake.url, fake.options) == ("http://h:1", {"timeout": 5.0, "token": None})


def test_token_comes_from_flag_then_env(run: Run, fake: FakeClient) -> None:
    run("health", env={"MLOS_TOKEN": "mlos_env_token"})
    assert fake.options["token"] == "mlos_env_token"
    run("health", "--token", "mlos_flag_token", env={"MLOS_TOKEN": "mlos_env_token"})
    assert fake.options["token"] == "mlos_flag_token"


def test_server_errors_exit_1(run: Run, fake: FakeClient) -> None:
    fake.fail = NotFound("no plugin 'x'")
    result = run("plugin", "show", "x")
    assert (result.code, result.out) == (1, "")
    assert result.err == "mlos: error: no plugin 'x' (not_found)\n"
    fake.fail = Unavailable("plugin 'onnx' is not running")  # from the server: still status 1
    assert run("model", "list").code == 1


def test_unreachable_exits_3_with_a_hint(run: Run, fake: FakeClient) -> None:
    fake.fail = Unreachable("no MLOS server is reachable at http://127.0.0.1:8080 (refused)")
    result = run("plugin", "list")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert "mlos serve" in result.err and "MLOS_URL" in result.err


def test_bad_timeout_is_a_usage_error(run: Run) -> None:
    result = run("health", "--timeout", "0")
    assert (result.code, result.err) == (2, "mlos: error: --timeout must be a positive number "
                                             "of seconds\n")


def test_server_side_invalid_argument_exits_1(run: Run, fake: FakeClient) -> None:
    fake.fail = InvalidArgument("input 'input' has shape [1], the model expects [-1, 4]")
    result = run("infer", "demo", "-i", "input=[1]", "-d", "FP32")
    assert result.code == 1 and "(invalid_argument)" in result.err


def test_docs_cover_every_command() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        actions = list(nested[0].choices) if nested else [""]
        for action in actions:
            usage = f"mlos {name} {action}".strip()
            assert usage in text, f"docs/cli.md does not show `{usage}`"
