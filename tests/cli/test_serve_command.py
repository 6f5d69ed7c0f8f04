"""`mlos serve` flags become Settings (the server itself is tested end to end in test_serve.py)."""

from __future__ import annotations

import io
from pathlib import Path

from mlos.cli.context import Context
from mlos.cli.main import build_parser, main
from mlos.cli.output import Output
from mlos.cli.serve import settings_from


def settings_for(argv: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(["serve", *argv])
    return settings_from(Context(args, Output(), env))


def test_flags_override_environment(tmp_path: Path) -> None:
    env = {"MLOS_HTTP_PORT": "9001", "MLOS_LOG_LEVEL": "debug", "MLOS_DEMO": "true",
           "MLOS_HOME": str(tmp_path / "env-home")}
    settings = settings_for(["--http-port", "9002", "--home", str(tmp_path / "flag-home")], env)
    assert settings.http_port == 9002
    assert settings.home == tmp_path / "flag-home"
    assert settings.log_level == "debug"  # no flag: the environment's
    assert settings.demo is True  # --demo absent does not mean false


def test_every_listed_flag(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text("max_body_bytes: 1KiB\n")
    settings = settings_for([
        "--home", str(tmp_path), "--host", "::1", "--http-port", "0", "--grpc-port", "0",
        "--ipc-socket", str(tmp_path / "s.sock"), "--config", str(conf), "--log-level", "error",
        "--demo",
    ], {})
    assert (settings.host, settings.http_port, settings.grpc_port) == ("::1", 0, 0)
    assert settings.ipc_socket == tmp_path / "s.sock"
    assert (settings.log_level, settings.demo, settings.max_body_bytes) == ("error", True, 1024)


def test_config_error_exits_2_without_starting() -> None:
    err = io.StringIO()
    code = main(["serve", "--log-level", "loud"], env={}, output=Output(err=err))
    assert code == 2
    assert err.getvalue() == (
        "mlos: error: --log-level: 'loud' is not a log level "
        "(one of debug, info, warning, error, critical)\n"
    )
