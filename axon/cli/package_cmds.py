"""``axon init``, ``axon validate`` and ``axon pack``."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from axon.cli.context import Context
from axon.errors import UsageError
from axon.keyring import Keyring
from axon.package import pack
from axon.scaffold import init_manifest
from axon.signing import sidecar, sign, statement, write_sidecar
from axon.validation import validate_file

__all__ = ["register"]


def cmd_init(ctx: Context) -> int:
    """Write a starting manifest beside a model file."""
    a = ctx.args
    result = init_manifest(pathlib.Path(a.model_file), a.namespace, a.name, a.version, a.force)
    ctx.output.data({"path": str(result.path), "manifest": result.data,
                     "todo": list(result.todo)})
    ctx.output.line(f"wrote {result.path}")
    if result.todo:
        ctx.output.line(f"fill in: {', '.join(result.todo)}; then run `axon validate "
                        f"{result.path}`")
    return 0


def cmd_validate(ctx: Context) -> int:
    """Validate a manifest; 0 valid, 1 invalid, 2 could not check."""
    path = pathlib.Path(ctx.args.manifest)
    if path.is_dir():
        path = path / "manifest.yaml"
    try:
        report = validate_file(path, deep=not ctx.args.no_deep)
    except (OSError, UnicodeDecodeError) as exc:
        ctx.output.data({"file": str(path), "status": "unchecked", "error": str(exc)})
        ctx.output.note(f"axon: error: cannot read {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}")
        return 2
    ctx.output.data(report.to_dict())
    for diagnostic in report.diagnostics:
        ctx.output.line(str(diagnostic))
    errors = sum(d.severity == "error" for d in report.diagnostics)
    summary = {"valid": f"{path}: valid" + (" (files and signature checked)" if report.deep
                                             else " (schema only)"),
               "invalid": f"{path}: invalid ({errors} error{'s' if errors != 1 else ''})",
               "unchecked": f"{path}: schema and files valid, but not everything could be "
                            "checked here"}[report.status]
    ctx.output.line(summary)
    return report.exit_code


def cmd_pack(ctx: Context) -> int:
    """Build a deterministic ``.axon`` package."""
    root = pathlib.Path(ctx.args.dir)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    out = pathlib.Path(ctx.args.output) if ctx.args.output else None
    if out is not None and ctx.args.output.endswith("/"):
        out.mkdir(parents=True, exist_ok=True)
    bar = ctx.output.progress_bar(f"packing {root}")
    try:
        result = pack(root, out, bar)
    finally:
        if bar is not None:
            bar.close()
    manifest = result.manifest
    payload: dict[str, Any] = {"path": str(result.path), "sha256": result.sha256,
                               "size": result.size, "namespace": manifest.namespace,
                               "name": manifest.name, "version": manifest.version}
    if ctx.args.sign is not None:
        key = Keyring(ctx.config.home).private(ctx.args.sign or ctx.config.get("signing_key"))
        record = sign(key, statement(manifest.namespace, manifest.name, manifest.version,
                                     result.sha256, result.size))
        payload["signature"] = str(write_sidecar(result.path, [record]))
        payload["signed_by"] = [record.key_id]
    else:
        sidecar(result.path).unlink(missing_ok=True)  # a stale .sig would not match
    ctx.output.data(payload)
    ctx.output.line(f"packed {manifest.namespace}/{manifest.name}@{manifest.version} → "
                    f"{result.path}")
    ctx.output.line(f"  sha256:{result.sha256}  {result.size} bytes")
    if "signature" in payload:
        ctx.output.line(f"  signed by {payload['signed_by'][0]} → {payload['signature']}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands to the top-level subparsers."""
    p = sub.add_parser("init", parents=[common], help="write manifest.yaml for a model file")
    p.add_argument("model_file")
    p.add_argument("--namespace", default="local")
    p.add_argument("--name")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("validate", parents=[common],
                       help="check a manifest (exit 0 valid, 1 invalid, 2 could not check)")
    p.add_argument("manifest", help="manifest.yaml or the directory holding it")
    p.add_argument("--no-deep", action="store_true",
                   help="schema only; skip file digests and the model signature")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("pack", parents=[common], help="build a .axon package from a directory")
    p.add_argument("dir")
    p.add_argument("-o", "--output", help="output file or directory (ending in /)")
    p.add_argument("--sign", nargs="?", const="", metavar="KEY",
                   help="also write PACKAGE.sig, signed with KEY (default: signing_key, or "
                        "your only key)")
    p.set_defaults(func=cmd_pack)
