"""The `mlos` command: parse, call the client (or run the server), print.

    mlos serve [--demo]                     run the server
    mlos plugin register onnx               manage plugins
    mlos model register demo model.onnx     manage models
    mlos infer demo -i 'input=@x.npy'       run inference
    mlos health | resources                 look at a running server
    mlos bench                              measure latency per protocol
    mlos conformance --entry-point NAME     prove a plugin keeps the SMI contract

Exit status: 0 on success; 1 when the server refuses or fails a request (or `mlos health` finds
it not ready); 2 for a mistake on the command line or in the configuration; 3 when no server
answers at the address. Errors print one `mlos: error: ...` line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from mlos import __version__
from mlos.cli import bench, cluster, conformance, infer, model, plugin, serve, status, token
from mlos.cli.context import URL_ENV, Context, UsageError
from mlos.cli.output import Output
from mlos.client import Client, Unreachable, connect
from mlos.config import ConfigError
from mlos.errors import MLOSError

__all__ = [
    "EXIT_SERVER_ERROR",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "ArgumentParser",
    "build_parser",
    "main",
]

EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with usage errors as one `mlos: error: ...` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mlos: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> ArgumentParser:
    """The parser of every `mlos` command."""
    parser = ArgumentParser(
        prog="mlos",
        description="MLOS: a model-serving runtime with plugins. Run `mlos serve`, then manage "
        f"it with the other commands (they talk to --url, ${URL_ENV} or "
        "http://127.0.0.1:8080).",
    )
    parser.add_argument("--version", action="version", version=f"mlos {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=ArgumentParser
    )
    for module in (serve, plugin, model, infer, status, token, bench, conformance, cluster):
        module.register(commands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    output: Output | None = None,
    connector: Callable[..., Client] = connect,
) -> int:
    """Run one `mlos` command and return its exit status.

    `env`, `output` and `connector` default to the process environment, stdout/stderr and
    :func:`mlos.client.connect`; tests pass their own.
    """
    args = build_parser().parse_args(argv)
    output = output or Output()
    output.json = bool(getattr(args, "json", False))
    ctx = Context(args, output, os.environ if env is None else env, connector)
    try:
        code: int = args.func(ctx)
    except Unreachable as exc:
        output.error(
            f"{exc.message}; start it with `mlos serve`, or point --url or ${URL_ENV} at it"
        )
        return EXIT_UNREACHABLE
    except (UsageError, ConfigError) as exc:
        output.error(exc.message)
        return EXIT_USAGE
    except MLOSError as exc:
        output.error(f"{exc.message} ({exc.code.slug})")
        return EXIT_SERVER_ERROR
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`mlos model list | head -1`); say nothing more.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed stdout for good
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
