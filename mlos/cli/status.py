"""`mlos health` and `mlos resources`: the state of a running server."""

from __future__ import annotations

import argparse

from mlos.cli.context import Context, add_remote_options
from mlos.cli.output import plugin_state
from mlos.columns import human_bytes

__all__ = ["register"]


def cmd_health(ctx: Context) -> int:
    """Liveness and readiness; exit status 1 when the server is not ready."""
    health = ctx.client.health()
    ctx.output.message(health)
    yes_no = {True: "yes", False: "no"}
    ctx.output.fields(
        [("server", ctx.client.url), ("live", yes_no[health.live]), ("ready", yes_no[health.ready])]
    )
    if health.plugins:
        ctx.output.line()
        ctx.output.table(
            ["PLUGIN", "STATE", "PID", "RESTARTS", "MESSAGE"],
            [
                (p.name, plugin_state(p.state), p.pid or "-", p.restarts, p.message or "-")
                for p in health.plugins
            ],
        )
    return 0 if health.ready else 1


def cmd_resources(ctx: Context) -> int:
    """CPU, memory and GPU of the host and of each plugin process."""
    resources = ctx.client.resources()
    ctx.output.message(resources)
    host = resources.host
    ctx.output.fields(
        [
            ("cpus", host.cpu_count),
            ("cpu", f"{host.cpu_percent:.1f}%"),
            ("memory", f"{human_bytes(host.memory_available_bytes)} available of "
                       f"{human_bytes(host.memory_total_bytes)}"),
            ("gpus", len(host.gpus) or "none"),
        ]
    )
    if host.gpus:
        ctx.output.line()
        ctx.output.table(
            ["GPU", "NAME", "MEMORY USED", "MEMORY TOTAL", "UTILIZATION"],
            [
                (g.index, g.name, human_bytes(g.memory_used_bytes),
                 human_bytes(g.memory_total_bytes), f"{g.utilization_percent}%")
                for g in host.gpus
            ],
        )
    if resources.HasField("budget"):
        budget = resources.budget
        ctx.output.line()
        ctx.output.fields(
            [
                ("budget memory", f"{human_bytes(budget.memory_granted_bytes)} granted of "
                                  f"{human_bytes(budget.memory_bytes)}, "
                                  f"{human_bytes(budget.memory_free_bytes)} free"),
                ("budget cpus", f"{budget.cpu_set} ({budget.cpus_granted:g} of {budget.cpus:g} "
                                f"cores reserved; dedicated: {budget.cpus_dedicated or '-'})"),
                ("budget gpus", f"{budget.gpus_granted} of {len(budget.gpus)} assigned "
                                f"({budget.gpu_source}"
                                + (", shared" if budget.gpu_sharing else "") + ")"),
            ]
        )
    if resources.plugins:
        ctx.output.line()
        ctx.output.table(
            ["PLUGIN", "PID", "RSS", "GRANTED", "CPU", "THREADS", "FDS", "CPUS", "GPUS"],
            [
                (p.plugin, p.pid, human_bytes(p.rss_bytes), human_bytes(p.memory_granted_bytes),
                 f"{p.cpu_percent:.1f}%", p.num_threads, p.num_fds, p.cpus_granted or "-",
                 ",".join(str(i) for i in p.gpus_granted) or "-")
                for p in resources.plugins
            ],
        )
    if resources.models:
        ctx.output.line()
        ctx.output.table(
            ["MODEL", "VERSION", "PLUGIN", "GRANTED", "USED", "BASIS", "CORES", "GPUS"],
            [
                (m.name, m.version, m.plugin, human_bytes(m.memory_granted_bytes),
                 human_bytes(m.memory_used_bytes), m.basis, f"{m.cpus_granted:g}",
                 m.gpus_granted)
                for m in resources.models
            ],
        )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mlos health` and `mlos resources` to the command parser."""
    for name, func, summary, description in (
        ("health", cmd_health, "is the server live and ready?",
         "Liveness and readiness of the server and its plugins (exit status 1 when not ready)."),
        ("resources", cmd_resources, "CPU, memory and GPU of the host, the budget and its grants",
         "CPU, memory and GPU of the host, the server's resource budget, and per plugin process "
         "and model version what is used against what was granted."),
    ):  # fmt: skip
        parser = commands.add_parser(name, help=summary, description=description)
        add_remote_options(parser)
        parser.set_defaults(func=func)
