"""`mlos bench`: the latency and throughput benchmark (mlos.bench.runner)."""

from __future__ import annotations

import argparse

from mlos.cli.context import Context

__all__ = ["register"]


def cmd_bench(ctx: Context) -> int:
    """Run the benchmark with the parsed options."""
    from mlos.bench.runner import run_from_args

    return run_from_args(ctx.args)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mlos bench` to the command parser."""
    from mlos.bench.runner import __doc__ as description
    from mlos.bench.runner import add_arguments

    parser = commands.add_parser(
        "bench",
        help="measure latency and throughput per protocol",
        description=(description or "").split("\n\n")[0],
    )
    add_arguments(parser)
    parser.set_defaults(func=cmd_bench)
