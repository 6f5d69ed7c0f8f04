"""`mlos cluster status`: the nodes that share one registry, as `/v1/cluster` reports them.

`mlos cluster up` (a development cluster on loopback) is in :mod:`mlos.cli.cluster_up`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlos.cli.cluster_up import add_up
from mlos.cli.context import Context, add_remote_options

__all__ = ["register"]


def _models(node: dict[str, Any]) -> str:
    models = node.get("models", [])
    ready = [f"{m['name']}/{m['version']}" for m in models if m.get("state") == "ready"]
    others = [f"{m['name']}/{m['version']} ({m.get('state')})" for m in models
              if m.get("state") != "ready"]
    return ", ".join(ready + others) or "-"


def cmd_status(ctx: Context) -> int:
    """Every node: health, convergence, heartbeat age, models; exit 1 unless all are ready."""
    status = ctx.client.cluster_status()
    ctx.output.document(status)
    nodes = status.get("nodes", [])
    ctx.output.fields(
        [
            ("registry", status.get("database", "?")),
            ("asked", f"{status.get('node', '?')} at {ctx.client.url}"),
            ("notifications", "listening" if status.get("listening") else "polling only"),
            ("nodes", f"{sum(n.get('health') == 'ready' for n in nodes)} ready of {len(nodes)}"),
        ]
    )
    if nodes:
        ctx.output.line()
        ctx.output.table(
            ["NODE", "HEALTH", "CONVERGED", "HEARTBEAT", "ADDRESS", "MODELS"],
            [
                (
                    n["id"],
                    n["health"],
                    "yes" if n["converged"] else "no",
                    f"{n['heartbeat_age_seconds']:.1f}s ago",
                    n["address"] or "-",
                    _models(n),
                )
                for n in nodes
            ],
        )
    return 0 if nodes and all(n.get("health") == "ready" for n in nodes) else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mlos cluster status` and `mlos cluster up` to the command parser."""
    group = commands.add_parser(
        "cluster",
        help="the nodes sharing a registry; a development cluster",
        description="The nodes that share one registry (PostgreSQL): their health, "
        "convergence and models; and a development cluster on loopback.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status",
        help="every node sharing the server's registry (exit status 1 unless all are ready)",
        description="Every node sharing the server's registry, from GET /v1/cluster "
        "(exit status 1 unless all are ready).",
    )
    add_remote_options(status)
    status.set_defaults(func=cmd_status)
    add_up(actions)
