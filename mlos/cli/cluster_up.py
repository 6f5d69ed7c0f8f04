"""`mlos cluster up`: a development cluster on this machine, until Ctrl-C.

PostgreSQL (the system's binaries, in a temporary directory), N nodes on it and HAProxy in
front, all on loopback (:class:`mlos.cluster.dev.DevCluster`). It prints the endpoints and the
admin token's file, then waits; Ctrl-C (or SIGTERM) stops everything and deletes the
directory unless `--dir` named one.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

from mlos.cli.context import Context, UsageError
from mlos.cluster.dev import DevCluster

__all__ = ["add_up", "cmd_up"]


def cmd_up(ctx: Context) -> int:
    """Start the cluster, print where it listens, wait for Ctrl-C, stop it."""
    args = ctx.args
    if not 1 <= args.nodes <= 16:
        raise UsageError("--nodes must be 1 to 16")
    keep = args.dir is not None
    directory = Path(args.dir) if keep else Path(tempfile.mkdtemp(prefix="mlos-cluster-"))
    settings = {"model_roots": [str(Path(p).resolve()) for p in args.model_root]}
    cluster = DevCluster(
        directory,
        args.nodes,
        settings=settings if args.model_root else None,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
    )
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ctx.output.line(f"starting PostgreSQL, {args.nodes} node(s) and HAProxy in {directory}")
        cluster.start()
        nodes = [
            {"id": n.name, "rest": n.url, "grpc": n.grpc_address, "log": str(n.home / "serve.log")}
            for n in cluster.nodes
        ]
        endpoints: dict[str, object] = {
            "rest": cluster.http_url,
            "grpc": cluster.grpc_address,
            "haproxy_stats": f"{cluster.haproxy.stats_url}/stats",
            "database_url": cluster.postgres.url,
            "token_file": str(cluster.token_file),
            "directory": str(directory),
            "nodes": nodes,
        }
        ctx.output.document(endpoints)
        ctx.output.fields(
            [
                ("REST", cluster.http_url),
                ("gRPC", cluster.grpc_address),
                ("HAProxy stats", endpoints["haproxy_stats"]),
                ("registry", cluster.postgres.url),
                ("admin token", f"{cluster.token_file} (good on every node)"),
            ]
        )
        ctx.output.line()
        ctx.output.table(
            ["NODE", "REST", "gRPC", "LOG"],
            [(n["id"], n["rest"], n["grpc"], n["log"]) for n in nodes],
        )
        ctx.output.line()
        ctx.output.line(
            f"try: MLOS_TOKEN=$(cat {cluster.token_file}) mlos cluster status --url "
            f"{cluster.http_url}"
        )
        ctx.output.line("Ctrl-C stops the cluster")
        while not stopping.wait(0.5):
            pass
        ctx.output.line("stopping ...")
    finally:
        cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


def add_up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `up` to the `mlos cluster` actions."""
    up = commands.add_parser(
        "up",
        help="a development cluster on loopback: PostgreSQL, N nodes, HAProxy (until Ctrl-C)",
        description="Start PostgreSQL in a temporary directory, N MLOS nodes sharing it and "
        "HAProxy in front of them, all on 127.0.0.1; print the endpoints; stop everything on "
        "Ctrl-C. Needs the postgresql and haproxy packages.",
    )
    up.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    up.add_argument("--dir", help="keep everything in DIR (default: a temporary directory, "
                    "deleted at the end)")
    up.add_argument("--http-port", type=int, default=8080,
                    help="HAProxy's REST port (default 8080; 0 picks a free one)")
    up.add_argument("--grpc-port", type=int, default=8081,
                    help="HAProxy's gRPC port (default 8081; 0 picks a free one)")
    up.add_argument("--model-root", action="append", default=[], metavar="DIR",
                    help="a directory the nodes may load models from (repeatable)")
    up.add_argument("--json", action="store_true", help="print the endpoints as JSON")
    up.set_defaults(func=cmd_up)
