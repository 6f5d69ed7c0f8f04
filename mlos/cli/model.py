"""`mlos model register | list | show | remove`."""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

from mlos.cli.context import AddAction, CommandGroup, Context, UsageError
from mlos.cli.output import Output, model_state, tensor_rows
from mlos.sandbox.limits import parse_size
from mlos_generated import smi_pb2

__all__ = ["GROUP", "parse_batching", "parse_config", "register"]


def parse_config(items: list[str] | None) -> dict[str, str]:
    """`["threads=1", "mode=fast"]` → `{"threads": "1", "mode": "fast"}`."""
    config: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config {item!r}: expected KEY=VALUE")
        config[key.strip()] = value
    return config


def parse_resources(
    memory: str | None, cpus: float | None, gpus: int | None
) -> smi_pb2.ModelResources | None:
    """The `resources` of a registration from `--memory 600MiB --cpus 2 --gpus 1` (None when
    none is given: the server estimates)."""
    if memory is None and cpus is None and gpus is None:
        return None
    try:
        memory_bytes = parse_size(memory) if memory is not None else 0
    except ValueError as exc:
        raise UsageError(f"--memory: {exc}") from None
    if cpus is not None and not 0 <= cpus <= 65536:
        raise UsageError(f"--cpus: {cpus:g} is not a number of cores from 0 to 65536")
    if gpus is not None and not 0 <= gpus <= 1024:
        raise UsageError(f"--gpus: {gpus} is not from 0 to 1024")
    return smi_pb2.ModelResources(memory_bytes=memory_bytes, cpus=cpus or 0.0, gpus=gpus or 0)


def parse_batching(args: Namespace) -> dict[str, Any] | None:
    """The `dynamic_batching` of a registration from its flags: on with `--dynamic-batching` or
    any of its fields (`--max-queue-delay-us 500 --preferred-batch-size 4 8 ...`), else None."""
    fields = {
        name: getattr(args, name)
        for name in ("preferred_batch_size", "max_queue_delay_us", "priority_levels",
                     "default_priority_level", "max_queue_size")
        if getattr(args, name) is not None
    }  # fmt: skip
    for name, value in fields.items():
        values = value if isinstance(value, list) else [value]
        if any(v < 0 for v in values):
            raise UsageError(f"--{name.replace('_', '-')}: must not be negative")
    if not fields and not args.dynamic_batching:
        return None
    return fields


def _batching_text(status: smi_pb2.ModelStatus) -> str:
    if not status.HasField("dynamic_batching"):
        return "off"
    batching = status.dynamic_batching
    parts = [f"max queue delay {batching.max_queue_delay_us} us"]
    if batching.preferred_batch_size:
        parts.append("preferred sizes " + ",".join(map(str, batching.preferred_batch_size)))
    if batching.priority_levels:
        parts.append(f"{batching.priority_levels} priority levels")
    if batching.max_queue_size:
        parts.append(f"queue bound {batching.max_queue_size}")
    return "on: " + ", ".join(parts)


def _version_fields(output: Output, status: smi_pb2.ModelStatus) -> None:
    config = ", ".join(f"{k}={v}" for k, v in sorted(status.config.items()))
    output.fields(
        [
            ("name", status.name),
            ("version", status.version),
            ("state", model_state(status.state)),
            ("plugin", status.plugin or "-"),
            ("path", status.path),
            ("platform", status.metadata.platform or "-"),
            ("max batch size", status.metadata.max_batch_size),
            ("instances", status.instance_count or 1),
            ("batching", _batching_text(status)),
            ("config", config or "-"),
            ("message", status.message or "-"),
        ]
    )
    rows = tensor_rows(status.metadata)
    if rows:
        output.line()
        output.table(["TENSOR", "NAME", "DATATYPE", "SHAPE"], rows)


def cmd_register(ctx: Context) -> int:
    """Register a model version and load it."""
    args = ctx.args
    resources = parse_resources(args.memory, args.cpus, args.gpus)
    config = parse_config(args.config)
    if args.max_batch_size is not None:
        if args.max_batch_size < 0:
            raise UsageError("--max-batch-size: must not be negative")
        config["max_batch_size"] = str(args.max_batch_size)
    if args.instance_count is not None and not 1 <= args.instance_count <= 64:
        raise UsageError(f"--instance-count: {args.instance_count} is not from 1 to 64")
    # An Axon reference (axon://ns/name@version) goes as it is; a path is made absolute.
    path = args.path if args.path.startswith("axon") and "://" in args.path else (
        os.path.abspath(os.path.expanduser(args.path))
    )
    status = ctx.client.register_model(
        args.name, path, plugin=args.plugin,
        version=args.version, config=config, resources=resources,
        dynamic_batching=parse_batching(args), instance_count=args.instance_count or 0,
    )
    ctx.output.message(status)
    ctx.output.line(
        f"registered model {status.name} version {status.version} with plugin "
        f"{status.plugin or '-'}: {model_state(status.state)}"
        + (f": {status.message}" if status.message else "")
    )
    rows = tensor_rows(status.metadata)
    if rows:
        ctx.output.table(["TENSOR", "NAME", "DATATYPE", "SHAPE"], rows)
    return 0


def cmd_list(ctx: Context) -> int:
    """Every registered model version, as a table."""
    models = ctx.client.list_models()
    ctx.output.message(smi_pb2.ListModelsResponse(models=models))
    ctx.output.table(
        ["NAME", "VERSION", "PLUGIN", "STATE", "PATH"],
        [(m.name, m.version, m.plugin or "-", model_state(m.state), m.path) for m in models],
        empty="no models registered (add one with `mlos model register NAME PATH`)",
    )
    return 0


def cmd_show(ctx: Context) -> int:
    """A model's versions in detail."""
    model = ctx.client.get_model(ctx.args.name, ctx.args.version)
    ctx.output.message(model)
    for index, status in enumerate(model.versions):
        if index:
            ctx.output.line()
        _version_fields(ctx.output, status)
    return 0


def cmd_remove(ctx: Context) -> int:
    """Unload and forget a model, or one of its versions."""
    removed = ctx.client.remove_model(ctx.args.name, ctx.args.version)
    ctx.output.message(smi_pb2.RemoveModelResponse(removed=removed))
    versions = ", ".join(s.version for s in removed) or "none"
    noun = "version" if len(removed) == 1 else "versions"
    ctx.output.line(f"removed model {ctx.args.name} {noun} {versions}")
    return 0


def _add_actions(action: AddAction) -> None:
    reg = action("register", "Register a model version and load it.", cmd_register)
    reg.add_argument("name", metavar="NAME", help="model name")
    reg.add_argument(
        "path",
        metavar="PATH",
        help="model file or directory on the server, or an Axon reference "
        "(axon://NS/NAME@VERSION) each node installs",
    )
    reg.add_argument("--plugin", metavar="P", help="plugin to serve it (default: by extension)")
    reg.add_argument("--version", metavar="V", help="version (default: one more than the last)")
    reg.add_argument(
        "--config", metavar="KEY=VALUE", nargs="+", action="extend",
        help="plugin option for this model (repeatable)",
    )
    reg.add_argument(
        "--memory", metavar="SIZE",
        help="memory to reserve in the server's resource budget (600MiB; default: estimated "
             "from the file size, then measured)",
    )
    reg.add_argument("--cpus", metavar="N", type=float, help="CPU cores to reserve")
    reg.add_argument("--gpus", metavar="N", type=int,
                     help="GPUs the model's plugin must hold")
    sched = reg.add_argument_group("scheduling (Triton's instance_group and dynamic_batching)")
    sched.add_argument(
        "--instance-count", "--instances", metavar="N", type=int, dest="instance_count",
        help="serve the model as N instances, requests spread over them (1-64)",
    )
    sched.add_argument(
        "--max-batch-size", metavar="N", type=int,
        help="largest batch (the plugin option max_batch_size; 0: no batch dimension)",
    )
    sched.add_argument(
        "--dynamic-batching", action="store_true",
        help="gather concurrent requests into batches (implied by the options below)",
    )
    sched.add_argument("--max-queue-delay-us", metavar="US", type=int,
                       help="longest wait for a batch to fill, in microseconds")
    sched.add_argument("--preferred-batch-size", metavar="N", type=int, nargs="+",
                       action="extend", help="batch sizes dispatched as soon as gathered")
    sched.add_argument("--priority-levels", metavar="N", type=int,
                       help="priority levels (1 the highest; requests name theirs)")
    sched.add_argument("--default-priority-level", metavar="N", type=int,
                       help="level of a request that names none (default: the lowest)")
    sched.add_argument("--max-queue-size", metavar="N", type=int,
                       help="requests a level's queue holds before refusing (0: no bound)")

    action("list", "List the registered model versions.", cmd_list)
    for name, help_text, handler in (
        ("show", "Show a model's versions in detail.", cmd_show),
        ("remove", "Unload and forget a model or one version.", cmd_remove),
    ):
        parser = action(name, help_text, handler)
        parser.add_argument("name", metavar="NAME", help="model name")
        parser.add_argument("--version", metavar="V", help="only this version")


GROUP = CommandGroup(
    "model", "register, list, show and remove models",
    "Manage the models of a running MLOS server.", _add_actions,
)
register = GROUP.register
