"""``axon install``, ``list``, ``remove``, ``verify``, ``deploy`` and ``axon cache ...``."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from axon.cache import CachedModel, Problem
from axon.cleanup import Plan, PlanItem, execute, plan_gc, plan_remove
from axon.cli.context import Context
from axon.deploy import deploy
from axon.errors import NotFoundError, OfflineError, UsageError
from axon.installer import Installer
from axon.lockfile import LOCK_NAME, lock, read_lock, write_lock
from axon.reference import ModelRef
from mlos.columns import human_bytes

__all__ = ["register"]


def _model_dict(model: CachedModel) -> dict[str, Any]:
    return {"ref": model.ref, "namespace": model.namespace, "name": model.name,
            "version": model.version, "sha256": model.sha256, "size": model.size,
            "path": str(model.path), "source": model.source,
            "signed_by": list(model.signed_by)}


def _plan_dict(plan: Plan, executed: bool, skipped: list[PlanItem]) -> dict[str, Any]:
    return {"action": plan.action, "executed": executed,
            "total_bytes": plan.total_bytes - sum(i.bytes for i in skipped),
            "items": [{"path": str(i.path), "bytes": i.bytes, "reason": i.reason,
                       "skipped": i in skipped} for i in plan.items]}


def _run_plan(ctx: Context, plans: list[Plan]) -> int:
    dry = ctx.args.dry_run
    skipped = [] if dry else [item for plan in plans for item in execute(ctx.cache, plan)]
    ctx.output.data([_plan_dict(p, not dry, skipped) for p in plans] if len(plans) != 1
                    else _plan_dict(plans[0], not dry, skipped))
    total = sum(p.total_bytes for p in plans) - sum(i.bytes for i in skipped)
    for plan in plans:
        ctx.output.line(f"{plan.action}:")
        for item in plan.items:
            note = "; in use, skipped" if item in skipped else ""
            ctx.output.line(f"  {human_bytes(item.bytes):>10}  {item.path}  "
                            f"({item.reason}{note})")
        if not plan.items:
            ctx.output.line("  nothing to delete")
    verb = "would free" if dry else "freed"
    ctx.output.line(f"{verb} {human_bytes(total)}" + (" (dry run; nothing deleted)" if dry
                                                      else ""))
    return 0


def cmd_install(ctx: Context) -> int:
    """Install references, ``.axon`` files or package directories."""
    targets = ctx.args.targets
    jobs = int(ctx.config.get("jobs"))
    locked = None
    if ctx.args.locked:
        lock_file = read_lock(pathlib.Path(ctx.args.lock_file))
        locked = [lock_file.find(ModelRef.parse(t).key) for t in targets] if targets \
            else list(lock_file.models)
        targets = [m.resolved.ref for m in locked]
    elif not targets:
        raise UsageError("name what to install (ns/name[@version], a .axon file or a "
                         "directory), or pass --locked to install axon.lock")
    label = targets[0] if len(targets) == 1 else f"{len(targets)} packages"
    bar = ctx.output.progress_bar(f"installing {label}")
    installer = Installer(ctx.config, ctx.args.registry, ctx.offline or None, bar,
                          force=ctx.args.force)
    try:
        results = installer.install_locked(locked, jobs) if locked is not None \
            else installer.install_many(targets, jobs)
    finally:
        if bar is not None:
            bar.close()
    for result in results:
        for warning in result.warnings:
            ctx.output.note(f"axon: warning: {warning}")
        ctx.output.line(f"{result.status} {result.model.ref} → {result.model.path}")
    ctx.output.data([dict(_model_dict(r.model), status=r.status) for r in results])
    return 0


def cmd_lock(ctx: Context) -> int:
    """Resolve references to exact versions and digests and write them to a lock file."""
    path = pathlib.Path(ctx.args.output)
    if ctx.args.refs:
        refs = [ModelRef.parse(t) for t in ctx.args.refs]
    else:
        refs = [ModelRef(m.resolved.namespace, m.resolved.name, m.spec)
                for m in read_lock(path).models]
    if ctx.offline:
        raise OfflineError("offline mode is on; `axon lock` needs a registry")
    installer = Installer(ctx.config, ctx.args.registry)
    lock_file = lock(installer.client(), refs)
    write_lock(path, lock_file)
    ctx.output.data({"path": str(path), "registry": lock_file.registry, "models": [
        {"ref": m.resolved.ref, "spec": m.spec, "sha256": m.resolved.sha256,
         "size": m.resolved.size, "yanked": m.resolved.yanked} for m in lock_file.models]})
    for model in lock_file.models:
        note = "  (yanked)" if model.resolved.yanked else ""
        ctx.output.line(f"locked {model.resolved.ref}  sha256:{model.resolved.sha256[:12]}…"
                        f"{note}")
    ctx.output.line(f"wrote {path}; install with `axon install --locked`")
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
    return _run_plan(ctx, [plan_remove(ctx.cache, m) for m in models])


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
    """Delete what no installed version needs (and no running install uses)."""
    return _run_plan(ctx, [plan_gc(ctx.cache, ctx.args.grace)])


def cmd_cache_path(ctx: Context) -> int:
    """Print the cache directory."""
    ctx.output.data({"path": str(ctx.cache.root)})
    ctx.output.line(str(ctx.cache.root))
    return 0


def cmd_deploy(ctx: Context) -> int:
    """Register an installed model (and, unless --no-start, its plugin) with MLOS."""
    server = ctx.args.server or ctx.config.get("mlos_server")
    result = deploy(ctx.cache, ModelRef.parse(ctx.args.ref), server, ctx.args.name,
                    float(ctx.config.get("timeout")), start_plugin=not ctx.args.no_start)
    request = result.request
    ctx.output.data({"server": result.server, "status": result.status,
                     "plugin": {"name": request["plugin"], "action": result.plugin_action},
                     "request": request, "response": result.response})
    if result.plugin_action != "already running":
        ctx.output.line(f"plugin {request['plugin']}: {result.plugin_action}")
    ctx.output.line(f"{result.status} {request['name']} (version {request['version']}, "
                    f"plugin {request['plugin']}, {len(request['files'])} file(s) checked by "
                    f"the server) with MLOS at {result.server}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands to the top-level subparsers."""
    destructive = argparse.ArgumentParser(add_help=False)
    destructive.add_argument("--dry-run", action="store_true",
                             help="show what would be deleted; delete nothing")

    p = sub.add_parser("install", parents=[common],
                       help="install ns/name[@version], a .axon file or a package directory")
    p.add_argument("targets", nargs="*", metavar="TARGET")
    p.add_argument("--registry", help="registry name or URL (default: default_registry)")
    p.add_argument("--locked", action="store_true",
                   help="install exactly the versions and packages of the lock file (all of "
                        "them, or the TARGETs named)")
    p.add_argument("--lock-file", default=LOCK_NAME, metavar="FILE",
                   help=f"lock file for --locked (default ./{LOCK_NAME})")
    p.add_argument("--offline", action="store_true", help="use the cache only")
    p.add_argument("--force", action="store_true",
                   help="reinstall (repair) installed versions; let a local package replace "
                        "an installed version with other content")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("lock", parents=[common],
                       help="pin models to exact versions and digests in a lock file")
    p.add_argument("refs", nargs="*", metavar="REF",
                   help="namespace/name[@version-or-range] (default: those in the lock file)")
    p.add_argument("-o", "--output", default=LOCK_NAME, metavar="FILE",
                   help=f"lock file (default ./{LOCK_NAME})")
    p.add_argument("--registry", help="registry name or URL (default: default_registry)")
    p.set_defaults(func=cmd_lock)

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
    p.add_argument("--no-start", action="store_true",
                   help="fail instead of registering or starting the model's plugin")
    p.set_defaults(func=cmd_deploy)

    cache = sub.add_parser("cache", help="inspect and clean the cache")
    csub = cache.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    p = csub.add_parser("ls", parents=[common], help="list installed models")
    p.set_defaults(func=cmd_list)
    p = csub.add_parser("verify", parents=[common], help="re-hash every blob and file")
    p.set_defaults(func=cmd_verify)
    p = csub.add_parser("gc", parents=[common, destructive],
                        help="delete blobs, temp files and leftovers no model needs")
    p.add_argument("--grace", type=float, default=0.0, metavar="SECONDS",
                   help="keep partial downloads younger than this, for resuming (default 0)")
    p.set_defaults(func=cmd_cache_gc)
    p = csub.add_parser("path", parents=[common], help="print the cache directory")
    p.set_defaults(func=cmd_cache_path)
