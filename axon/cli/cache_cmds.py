"""``axon install``, ``list``, ``remove``, ``verify``, ``deploy`` and ``axon cache ...``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from axon.cache import CachedModel, Plan, Problem
from axon.cli.context import Context
from axon.deploy import deploy
from axon.errors import NotFoundError
from axon.installer import Installer
from axon.reference import ModelRef
from mlos.columns import human_bytes

__all__ = ["register"]


def _model_dict(model: CachedModel) -> dict[str, Any]:
    return {"ref": model.ref, "namespace": model.namespace, "name": model.name,
            "version": model.version, "sha256": model.sha256, "size": model.size,
            "path": str(model.path), "source": model.source}


def _plan_dict(plan: Plan, executed: bool) -> dict[str, Any]:
    return {"action": plan.action, "executed": executed, "total_bytes": plan.total_bytes,
            "items": [{"path": str(i.path), "bytes": i.bytes, "reason": i.reason}
                      for i in plan.items]}


def _run_plan(ctx: Context, plans: list[Plan]) -> int:
    dry = ctx.args.dry_run
    if not dry:
        for plan in plans:
            ctx.cache.execute(plan)
    ctx.output.data([_plan_dict(p, not dry) for p in plans] if len(plans) != 1
                    else _plan_dict(plans[0], not dry))
    total = sum(p.total_bytes for p in plans)
    for plan in plans:
        ctx.output.line(f"{plan.action}:")
        for item in plan.items:
            ctx.output.line(f"  {human_bytes(item.bytes):>10}  {item.path}  ({item.reason})")
        if not plan.items:
            ctx.output.line("  nothing to delete")
    verb = "would free" if dry else "freed"
    ctx.output.line(f"{verb} {human_bytes(total)}" + (" (dry run; nothing deleted)" if dry
                                                      else ""))
    return 0


def cmd_install(ctx: Context) -> int:
    """Install references, ``.axon`` files or package directories."""
    results = []
    for target in ctx.args.targets:
        bar = ctx.output.progress_bar(target)
        installer = Installer(ctx.config, ctx.args.registry, ctx.offline or None, bar)
        try:
            result = installer.install(target)
        finally:
            if bar is not None:
                bar.close()
        results.append(result)
        ctx.output.line(f"{result.status} {result.model.ref} → {result.model.path}")
    ctx.output.data([dict(_model_dict(r.model), status=r.status) for r in results])
    return 0


def cmd_list(ctx: Context) -> int:
    """List installed versions."""
    models = ctx.cache.installed()
    ctx.output.data([_model_dict(m) for m in models])
    ctx.output.table(["MODEL", "VERSION", "SIZE", "SHA256"],
                     [(f"{m.namespace}/{m.name}", m.version, human_bytes(m.size),
                       m.sha256[:12]) for m in models])
    if not models:
        ctx.output.line("nothing installed")
    return 0


def _matching(ctx: Context, text: str) -> list[CachedModel]:
    ref = ModelRef.parse(text)
    if "@" not in text:
        found = [m for m in ctx.cache.installed() if (m.namespace, m.name) ==
                 (ref.namespace, ref.name)]
        if not found:
            raise NotFoundError(f"{ref.key} is not installed")
        return found
    return [ctx.cache.find(ref.namespace, ref.name, ref.spec)]


def cmd_remove(ctx: Context) -> int:
    """Remove installed versions (``ns/name`` removes every version)."""
    models = [m for text in ctx.args.refs for m in _matching(ctx, text)]
    return _run_plan(ctx, [ctx.cache.plan_remove(m) for m in models])


def cmd_verify(ctx: Context) -> int:
    """Re-hash installed files (or everything, blobs included, without a reference)."""
    if getattr(ctx.args, "ref", None):
        checked, problems = 0, list[Problem]()
        for model in _matching(ctx, ctx.args.ref):
            count, found = ctx.cache.verify_model(model)
            checked, problems = checked + count, problems + found
    else:
        checked, problems = ctx.cache.verify()
    ctx.output.data({"checked": checked, "ok": not problems,
                     "problems": [{"path": str(p.path), "message": p.message}
                                  for p in problems]})
    for problem in problems:
        ctx.output.line(f"corrupt: {problem.path}: {problem.message}")
    ctx.output.line(f"checked {checked} file(s): " + (
        "all good" if not problems else f"{len(problems)} problem(s); `axon remove` and "
                                        "reinstall the affected models"))
    return 1 if problems else 0


def cmd_cache_gc(ctx: Context) -> int:
    """Delete what no installed version needs."""
    return _run_plan(ctx, [ctx.cache.plan_gc()])


def cmd_cache_path(ctx: Context) -> int:
    """Print the cache directory."""
    ctx.output.data({"path": str(ctx.cache.root)})
    ctx.output.line(str(ctx.cache.root))
    return 0


def cmd_deploy(ctx: Context) -> int:
    """Register an installed model with a running MLOS server."""
    server = ctx.args.server or ctx.config.get("mlos_server")
    result = deploy(ctx.cache, ModelRef.parse(ctx.args.ref), server, ctx.args.name,
                    float(ctx.config.get("timeout")), os.environ.get("AXON_MLOS_TOKEN"))
    ctx.output.data({"server": result.server, "request": result.request,
                     "response": result.response})
    ctx.output.line(f"registered {result.request['name']} (version "
                    f"{result.request['version']}, plugin {result.request['plugin']}) "
                    f"with MLOS at {result.server}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands to the top-level subparsers."""
    destructive = argparse.ArgumentParser(add_help=False)
    destructive.add_argument("--dry-run", action="store_true",
                             help="show what would be deleted; delete nothing")

    p = sub.add_parser("install", parents=[common],
                       help="install ns/name[@version], a .axon file or a package directory")
    p.add_argument("targets", nargs="+")
    p.add_argument("--registry", help="registry name or URL (default: default_registry)")
    p.add_argument("--offline", action="store_true", help="use the cache only")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("list", parents=[common], help="list installed models")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", parents=[common, destructive], help="remove installed models")
    p.add_argument("refs", nargs="+", help="namespace/name[@version]")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("verify", parents=[common], help="re-hash installed models")
    p.add_argument("ref", nargs="?", help="namespace/name[@version] (default: everything)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("deploy", parents=[common], help="register an installed model with MLOS")
    p.add_argument("ref", help="namespace/name[@version]")
    p.add_argument("--server", help="MLOS base URL (default: mlos_server)")
    p.add_argument("--name", help="model name in MLOS (default: the manifest's name)")
    p.set_defaults(func=cmd_deploy)

    cache = sub.add_parser("cache", help="inspect and clean the cache")
    csub = cache.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    p = csub.add_parser("ls", parents=[common], help="list installed models")
    p.set_defaults(func=cmd_list)
    p = csub.add_parser("verify", parents=[common], help="re-hash every blob and file")
    p.set_defaults(func=cmd_verify)
    p = csub.add_parser("gc", parents=[common, destructive],
                        help="delete blobs, temp files and leftovers no model needs")
    p.set_defaults(func=cmd_cache_gc)
    p = csub.add_parser("path", parents=[common], help="print the cache directory")
    p.set_defaults(func=cmd_cache_path)
