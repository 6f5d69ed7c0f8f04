"""`mlos plugin register | list | show | load | unload | upgrade | default | remove | new`."""

from __future__ import annotations

import argparse
from typing import Any

from mlos.cli import plugin_new
from mlos.cli.context import AddAction, CommandGroup, Context
from mlos.cli.output import Output, plugin_state, source_text
from mlos.client.base import PluginSource
from mlos_generated import smi_pb2

__all__ = ["GROUP", "register"]


def _summary(status: smi_pb2.PluginStatus) -> str:
    """`onnx 1.0: ready (pid 1234)`."""
    text = f"{status.name} {status.version}".strip() + f": {plugin_state(status.state)}"
    if status.pid:
        text += f" (pid {status.pid})"
    if status.message:
        text += f": {status.message}"
    return text


def _status(output: Output, status: smi_pb2.PluginStatus, verb: str) -> int:
    output.message(status)
    output.line(f"{verb} plugin {_summary(status)}")
    return 0


def cmd_register(ctx: Context) -> int:
    """Register a plugin; with --load, also start its process."""
    args = ctx.args
    status = ctx.client.register_plugin(
        args.name, args.version, **_default(args.default), **_source(args)
    )
    if args.load:
        loaded = ctx.client.load_plugin(args.name, *_version(status.registered_version))
        return _status(ctx.output, loaded, "registered and loaded")
    return _status(ctx.output, status, "registered")


def _default(default: bool) -> dict[str, bool]:
    """The `default` argument of register_plugin, only when asked for (one version per name
    needs none)."""
    return {"default": True} if default else {}


def _version(version: str | None) -> tuple[str, ...]:
    """The optional version argument of the plugin calls: none names the default version."""
    return (version,) if version else ()


def _version_cell(status: smi_pb2.PluginStatus, names: dict[str, int]) -> str:
    """The VERSION column: the version, marked `(default)` when its name has several."""
    text = status.version or status.registered_version or "-"
    if names.get(status.name, 0) > 1 and status.default:
        text += " (default)"
    return text


def cmd_list(ctx: Context) -> int:
    """Every registered plugin, as a table."""
    plugins = ctx.client.list_plugins()
    ctx.output.message(smi_pb2.ListPluginsResponse(plugins=plugins))
    names: dict[str, int] = {}
    for p in plugins:
        names[p.name] = names.get(p.name, 0) + 1
    ctx.output.table(
        ["NAME", "VERSION", "STATE", "PID", "RESTARTS", "MODELS", "SOURCE"],
        [
            (p.name, _version_cell(p, names), plugin_state(p.state), p.pid or "-", p.restarts,
             len(p.models), source_text(p.source, p.python))
            for p in plugins
        ],
        empty="no plugins registered (add one with `mlos plugin register NAME`)",
    )
    return 0


def cmd_show(ctx: Context) -> int:
    """One plugin in detail."""
    status = ctx.client.get_plugin(ctx.args.name, *_version(ctx.args.version))
    ctx.output.message(status)
    info = status.info
    capabilities = info.capabilities
    smi = ", ".join(f"{v.major}.{v.minor}" for v in info.smi_versions)
    ctx.output.fields(
        [
            ("name", status.name),
            ("version", status.version or "-"),
            ("default", "yes" if status.default else "no"),
            ("state", plugin_state(status.state)),
            ("source", source_text(status.source, status.python)),
            ("pid", status.pid or "-"),
            ("restarts", status.restarts),
            ("message", status.message or "-"),
            ("smi versions", smi or "-"),
            ("formats", ", ".join(capabilities.formats) or "-"),
            ("file extensions", ", ".join(capabilities.file_extensions) or "-"),
            ("datatypes", ", ".join(capabilities.datatypes) or "-"),
            ("max batch size", capabilities.max_batch_size),
            ("max concurrency", capabilities.max_concurrency),
            ("gpu", "yes" if capabilities.gpu else "no"),
            ("models", ", ".join(status.models) or "-"),
        ]
    )
    return 0


def cmd_load(ctx: Context) -> int:
    """Start a registered plugin's process."""
    status = ctx.client.load_plugin(ctx.args.name, *_version(ctx.args.version))
    return _status(ctx.output, status, "loaded")


def cmd_unload(ctx: Context) -> int:
    """Stop a plugin's process, keeping its registration."""
    status = ctx.client.unload_plugin(ctx.args.name, *_version(ctx.args.version))
    return _status(ctx.output, status, "unloaded")


def cmd_upgrade(ctx: Context) -> int:
    """Hot swap a running plugin to a new version; nothing switches when it fails."""
    args = ctx.args
    before = ctx.client.get_plugin(args.name)
    status = ctx.client.upgrade_plugin(
        args.name, version=args.version, drain_timeout=args.drain_timeout, **_source(args)
    )
    ctx.output.message(status)
    old = before.version or "-"
    ctx.output.line(f"upgraded plugin {status.name} {old} -> {_summary(status).split(' ', 1)[1]}")
    return 0


def cmd_default(ctx: Context) -> int:
    """Make a registered version the plugin's default."""
    status = ctx.client.set_default_plugin(ctx.args.name, ctx.args.version)
    return _status(ctx.output, status, "default is now")


def cmd_remove(ctx: Context) -> int:
    """Stop a plugin's process and forget it."""
    args = ctx.args
    ctx.client.remove_plugin(args.name, *_version(args.version))
    document: dict[str, object] = {"name": args.name, "removed": True}
    if args.version:
        document["version"] = args.version
    ctx.output.document(document)
    which = f" version {args.version}" if args.version else ""
    ctx.output.line(f"removed plugin {args.name}{which}")
    return 0


def _source(args: argparse.Namespace) -> PluginSource:
    """The plugin source options given on the command line."""
    return PluginSource(
        entry_point=args.entry_point, module=args.module, executable=args.executable,
        python=args.python,
    )  # fmt: skip


def _add_source(parser: argparse.ArgumentParser, *, upgrade: bool) -> None:
    """The options naming a plugin's source, shared by `register` and `upgrade`."""
    which = "the new one" if upgrade else "the plugin"
    parser.add_argument("--version", metavar="V", help=f"fail unless {which} reports this version")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--entry-point", metavar="E", help="entry point in group mlos.plugins")
    source.add_argument("--module", metavar="M", help="plugin class as package.module:Class")
    source.add_argument("--executable", metavar="X", help="executable that speaks SMI")
    python_help = (
        "interpreter or virtual environment of the new version (default: the current one when "
        "no source is given)"
        if upgrade
        else "interpreter or virtual environment to run the plugin host in (allowed by the "
        "server's plugin_executables)"
    )
    parser.add_argument("--python", metavar="PY", help=python_help)


_A_VERSION: dict[str, Any] = {"help": "a registered version"}
_ANY_VERSION: dict[str, Any] = {
    "nargs": "?",
    "help": "one registered version of the plugin (default: its default version)",
}
"""The VERSION argument of the commands on one plugin: required, or optional."""


def _add_actions(action: AddAction) -> None:
    reg = action(
        "register", "Register a plugin (its process starts with `load`, or --load).", cmd_register
    )
    reg.add_argument("name", metavar="NAME", help="plugin name (an installed one: its entry point)")
    _add_source(reg, upgrade=False)
    reg.add_argument("--load", action="store_true", help="also start the plugin's process")
    reg.add_argument(
        "--default", action="store_true",
        help="make this version the default of its name (a name registered already takes the "
        "new --version beside its other versions; models naming no version follow the default)",
    )  # fmt: skip

    up = action(
        "upgrade",
        "Hot swap a running plugin to a new version: its models load and warm up in the new "
        "process before calls move to it; on failure nothing switches.",
        cmd_upgrade,
    )
    up.add_argument("name", metavar="NAME", help="plugin name")
    _add_source(up, upgrade=True)
    up.add_argument(
        "--drain-timeout", metavar="S", type=float,
        help="seconds the old process may take to finish its calls (default: the server's)",
    )  # fmt: skip

    action("list", "List the registered plugins (every version; the default is marked).", cmd_list)
    for name, help_text, func, version in (
        (
            "default",
            "Make a registered version the plugin's default: models registered with the bare "
            "plugin name move to it.",
            cmd_default,
            _A_VERSION,
        ),
        ("show", "Show one plugin in detail.", cmd_show, _ANY_VERSION),
        ("load", "Start a registered plugin's process.", cmd_load, _ANY_VERSION),
        ("unload", "Stop a plugin's process, keeping its registration.", cmd_unload, _ANY_VERSION),
        ("remove", "Stop a plugin's process and forget it.", cmd_remove, _ANY_VERSION),
    ):
        parser = action(name, help_text, func)
        parser.add_argument("name", metavar="NAME", help="plugin name")
        parser.add_argument("version", metavar="VERSION", **version)
    plugin_new.register(action)


GROUP = CommandGroup(
    "plugin", "register, list, load, unload and remove plugins",
    "Manage the plugins of a running MLOS server.", _add_actions,
)
register = GROUP.register
