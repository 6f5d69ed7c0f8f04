"""``axon completion bash|zsh|fish``: print a shell completion script."""

from __future__ import annotations

import argparse
from typing import Any

from axon.cli.context import Context
from axon.completion import SHELLS, script

__all__ = ["register"]


def cmd_completion(ctx: Context) -> int:
    """Print the completion script for a shell."""
    from axon.cli import build_parser

    print(script(ctx.args.shell, build_parser()), end="", file=ctx.output.out)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the command to the top-level subparsers."""
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh, fish)")
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=cmd_completion)
