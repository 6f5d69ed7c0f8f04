"""`mlos serve`: run the MLOS server until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import warnings

from mlos.cli.context import Context
from mlos.config import CONFIG_ENV, KEYS, Settings

__all__ = ["register", "settings_from"]

# `mlos serve` flags: setting name → (metavar, help). Each flag's value goes through Settings.
_FLAGS: dict[str, str] = {
    "home": "DIR",
    "host": "HOST",
    "http_port": "PORT",
    "grpc_port": "PORT",
    "metrics_port": "PORT",
    "ipc_socket": "PATH",
    "database_url": "URL",
    "log_level": "LEVEL",
    "log_format": "FORMAT",
    "models": "NAME[@PLUGIN]=PATH,...",
}

# What the help says for the settings whose default follows `home`, or is empty.
_DEFAULTS_SHOWN: dict[str, str] = {
    "ipc_socket": "<home>/mlos.sock",
    "database_url": "sqlite:///<home>/registry.db",
    "models": "none",
}


def settings_from(ctx: Context) -> Settings:
    """The server settings from the command line, the environment and the config file."""
    flags = {name: getattr(ctx.args, name, None) for name in (*_FLAGS, "demo", "config")}
    if getattr(ctx.args, "no_auth", False):
        flags["auth"] = False
    return Settings.load(flags, ctx.env)


def cmd_serve(ctx: Context) -> int:
    """Start the server and block until it stops."""
    settings = settings_from(ctx)
    # connexion imports starlette's test client, which warns about httpx on every start.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    # The server pulls in uvicorn, connexion and the engine; the other commands never need them.
    from mlos.loop import run
    from mlos.server import configure_logging, serve

    configure_logging(settings.log_level, settings.log_format)
    run(serve(settings), busy_poll=settings.busy_poll_us / 1e6)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mlos serve` to the command parser."""
    parser = commands.add_parser(
        "serve", help="run the MLOS server",
        description="Run the MLOS server: REST on --host:--http-port, gRPC on --host:--grpc-port "
        "and IPC on --ipc-socket (and /metrics alone on --host:--metrics-port when given), "
        "until SIGTERM or Ctrl-C. "
        "Each flag overrides its MLOS_* environment variable, which overrides the config file "
        "(docs/configuration.md).",
    )
    for name, metavar in _FLAGS.items():
        key = KEYS[name]
        default = _DEFAULTS_SHOWN.get(name, key.default)
        parser.add_argument(
            key.flag or f"--{name.replace('_', '-')}", dest=name, metavar=metavar,
            help=f"{key.help} [{key.env}; default: {default}]".replace("%", "%%"),
        )
    parser.add_argument(
        "--config", metavar="FILE",
        help=f"YAML config file [{CONFIG_ENV}; default: <home>/config.yaml if present]",
    )
    parser.add_argument(
        "--demo", action="store_true", default=None,
        help=f"{KEYS['demo'].help} [{KEYS['demo'].env}]",
    )
    parser.add_argument(
        "--no-auth", action="store_true", dest="no_auth",
        help="serve without authentication, for local development: refused on any address "
        f"but loopback [{KEYS['auth'].env}=false]",
    )
    parser.set_defaults(func=cmd_serve)
