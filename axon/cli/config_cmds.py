"""``axon config get/set/unset/list``."""

from __future__ import annotations

import argparse
from typing import Any

from axon.cli.context import Context
from axon.config import KEYS

__all__ = ["register"]


def cmd_get(ctx: Context) -> int:
    """Print one key's effective value."""
    value = ctx.config.get(ctx.args.key)
    ctx.output.data({"key": ctx.args.key, "value": value,
                     "source": ctx.config.source(ctx.args.key)})
    ctx.output.line("" if value is None else str(value))
    return 0


def cmd_set(ctx: Context) -> int:
    """Store a key in the config file."""
    ctx.config.set(ctx.args.key, ctx.args.value)
    ctx.output.data({"key": ctx.args.key, "value": ctx.config.get(ctx.args.key)})
    ctx.output.line(f"{ctx.args.key} = {ctx.config.get(ctx.args.key)}")
    if ctx.config.source(ctx.args.key) == "env":
        ctx.output.note(f"note: {KEYS[ctx.args.key].env} is set and overrides the file")
    return 0


def cmd_unset(ctx: Context) -> int:
    """Remove a key from the config file."""
    key = ctx.args.key
    ctx.config.unset(key)
    ctx.output.data({"key": key, "unset": True})
    ctx.output.line(f"{key} unset")
    return 0


def cmd_list(ctx: Context) -> int:
    """Every key, its value and where the value comes from."""
    rows = ctx.config.items()
    ctx.output.data([{"key": k, "value": v, "source": s, "env": KEYS[k].env,
                      "help": KEYS[k].help} for k, v, s in rows])
    ctx.output.table(["KEY", "VALUE", "SOURCE", "ENV"],
                     [(k, "" if v is None else v, s, KEYS[k].env) for k, v, s in rows])
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands to the top-level subparsers."""
    cfg = sub.add_parser("config", help="read and change ~/.axon/config.yaml")
    csub = cfg.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    p = csub.add_parser("get", parents=[common], help="print a key's effective value")
    p.add_argument("key", choices=sorted(KEYS))
    p.set_defaults(func=cmd_get)
    p = csub.add_parser("set", parents=[common], help="store a key")
    p.add_argument("key", choices=sorted(KEYS))
    p.add_argument("value")
    p.set_defaults(func=cmd_set)
    p = csub.add_parser("unset", parents=[common], help="remove a key from the file")
    p.add_argument("key", choices=sorted(KEYS))
    p.set_defaults(func=cmd_unset)
    p = csub.add_parser("list", parents=[common], help="every key with value and source")
    p.set_defaults(func=cmd_list)
