"""The ``axon`` command line: parse, call the library, print.

User mistakes and refused operations print one ``axon: error: ...`` line and exit non-zero
(the error's ``exit_code``); ``--json`` prints machine-readable output on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from axon import __version__
from axon.cli import (
    cache_cmds,
    completion_cmds,
    config_cmds,
    key_cmds,
    package_cmds,
    registry_cmds,
    run_cmds,
)
from axon.cli.context import Context
from axon.cli.output import Output
from axon.errors import AxonError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser = argparse.ArgumentParser(
        prog="axon", description="Axon: package, publish, install and deploy models for MLOS.")
    parser.add_argument("--version", action="version", version=f"axon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (package_cmds, registry_cmds, cache_cmds, run_cmds, key_cmds, config_cmds,
                   completion_cmds):
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)
    output = Output(json=bool(getattr(args, "json", False)),
                    progress=not getattr(args, "no_progress", False))
    ctx = Context(args, output)
    try:
        if output.progress:
            output.progress = bool(ctx.config.get("progress"))
        code: int = args.func(ctx)
    except AxonError as exc:
        output.note(f"axon: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        output.note("axon: interrupted")
        return 130
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        output.note(f"axon: error: {where}{exc.strerror or exc}")
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
