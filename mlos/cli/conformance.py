"""`mlos conformance`: the conformance kit (`mlos-conformance`) as a subcommand.

Every argument after `conformance` goes to the kit unchanged, so `mlos conformance ...` and
`mlos-conformance ...` are the same command with the same options, output and exit status
(docs/conformance.md). The kit is imported only when the subcommand runs.
"""

from __future__ import annotations

import argparse

from mlos.cli.context import Context, UsageError

__all__ = ["register"]

PROG = "mlos conformance"


def cmd_conformance(ctx: Context) -> int:
    """Run the kit with the arguments that followed `conformance`."""
    try:
        from mlos_conformance.cli import main
    except ImportError as exc:
        raise UsageError(
            f"the conformance kit is not installed ({exc}); install the MLOS conformance kit "
            "distribution into this environment"
        ) from None
    return main(ctx.args.kit_args, prog=PROG)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mlos conformance` to the command parser."""
    parser = commands.add_parser(
        "conformance",
        help="prove a plugin keeps the SMI contract (the conformance kit)",
        description="The conformance kit; see `mlos conformance --help`.",
        add_help=False,
        # No option is this parser's own: `--help` and the rest are the kit's.
        prefix_chars="\0",
    )
    parser.add_argument("kit_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_conformance)
