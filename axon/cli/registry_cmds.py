"""``axon publish``, ``search``, ``info``, ``yank`` and ``axon registry ...``."""

from __future__ import annotations

import argparse
import pathlib
import tempfile
from typing import Any

from axon.cli.context import Context
from axon.cli.output import human_bytes
from axon.config import redact_url
from axon.demo import build_demo_registry
from axon.digest import sha256_file
from axon.errors import OfflineError, UsageError
from axon.keyring import Keyring
from axon.package import pack
from axon.reference import ModelRef
from axon.registry_client import RegistryClient, read_package_manifest
from axon.registry_server import serve
from axon.registry_store import DEFAULT_MAX_BYTES
from axon.registry_tokens import ROLES, create_token, default_tokens_file
from axon.signing import SignatureRecord, read_sidecar, sign, statement

__all__ = ["register"]


def _client(ctx: Context) -> RegistryClient:
    if ctx.offline:
        raise OfflineError("offline mode is on; this command needs a registry")
    entry = ctx.config.registry(getattr(ctx.args, "registry", None))
    return RegistryClient(entry, float(ctx.config.get("timeout")),
                          int(ctx.config.get("max_extract_bytes")))


def _signatures(ctx: Context, package: pathlib.Path) -> list[SignatureRecord]:
    """``--sign [KEY]``: a new signature of the package; else those in ``PACKAGE.sig``."""
    if ctx.args.sign is None:
        return [SignatureRecord.from_dict(r) for r in read_sidecar(package)]
    key = Keyring(ctx.config.home).private(ctx.args.sign or ctx.config.get("signing_key"))
    digest, size = sha256_file(package)
    manifest = read_package_manifest(package)
    data = statement(manifest["namespace"], manifest["name"], manifest["version"], digest, size)
    return [sign(key, data)]


def cmd_publish(ctx: Context) -> int:
    """Check and upload a package (or pack a directory and upload it), optionally signed."""
    client = _client(ctx)
    path = pathlib.Path(ctx.args.package)
    if not path.exists():
        raise UsageError(f"{path}: no such package file or directory")
    with tempfile.TemporaryDirectory() as tmp:
        if path.is_dir():
            bar = ctx.output.progress_bar(f"packing {path}")
            try:
                path = pack(path, pathlib.Path(tmp) / "package.axon", bar).path
            finally:
                if bar is not None:
                    bar.close()
        records = _signatures(ctx, path)
        bar = ctx.output.progress_bar(f"uploading {path.name}")
        try:
            published = client.publish(path, bar, records)
        finally:
            if bar is not None:
                bar.close()
    resolved = published.resolved
    ctx.output.data({"ref": resolved.ref, "sha256": resolved.sha256, "size": resolved.size,
                     "created": published.created, "registry": client.display,
                     "signed_by": list(published.signed_by)})
    signed = f", signed by {', '.join(published.signed_by)}" if published.signed_by else ""
    ctx.output.line(f"{'published' if published.created else 'already published'} "
                    f"{resolved.ref} to {client.display}{signed}")
    return 0


def cmd_yank(ctx: Context) -> int:
    """Yank a version (hidden from ranges, latest and search; exact installs still work)."""
    ref = ModelRef.parse(ctx.args.ref)
    entry = _client(ctx).yank(ref, ctx.args.reason or "", ctx.args.undo)
    ctx.output.data(entry)
    verb = "restored" if ctx.args.undo else "yanked"
    ctx.output.line(f"{verb} {ref.key}@{entry['version']}")
    return 0


def cmd_registry_delete(ctx: Context) -> int:
    """Delete a version from the registry (admin token); shows the plan first."""
    ref = ModelRef.parse(ctx.args.ref)
    plan = _client(ctx).delete(ref, ctx.args.dry_run)
    ctx.output.data(plan)
    ctx.output.line(f"delete {ref}:")
    for item in plan["items"]:
        ctx.output.line(f"  {human_bytes(item['bytes']):>10}  {item['path']}  ({item['reason']})")
    verb = "deleted" if plan["deleted"] else "would delete"
    ctx.output.line(f"{verb} {human_bytes(plan['total_bytes'])}"
                    + ("" if plan["deleted"] else " (dry run; nothing deleted)"))
    return 0


def cmd_search(ctx: Context) -> int:
    """Search the registry index."""
    models = _client(ctx).search(ctx.args.query or "")
    ctx.output.data(models)
    ctx.output.table(["MODEL", "LATEST", "FRAMEWORK", "DESCRIPTION"],
                     [(f"{m['namespace']}/{m['name']}", m.get("latest", ""),
                       m.get("framework", ""), m.get("description", "")[:60]) for m in models])
    if not models:
        ctx.output.line("no models found")
    return 0


def cmd_info(ctx: Context) -> int:
    """Show a model: resolved version, other versions, signature."""
    ref = ModelRef.parse(ctx.args.ref)
    versions: list[str]
    yanked: list[str] = []
    if ctx.offline:
        model = ctx.cache.find(ref.namespace, ref.name, ref.spec)
        manifest = ctx.cache.manifest(model).to_dict()
        versions = [m.version for m in ctx.cache.installed()
                    if (m.namespace, m.name) == (ref.namespace, ref.name)]
        source = "cache"
    else:
        client = _client(ctx)
        resolved = client.resolve(ref)
        manifest = client.manifest(ref.namespace, ref.name, resolved.version)
        entries = client.versions(ref.namespace, ref.name)["versions"]
        versions = [v["version"] for v in entries]
        yanked = [v["version"] for v in entries if v.get("yanked")]
        source = client.display
    installed = ctx.cache.get(ref.namespace, ref.name, manifest["version"]) is not None
    ctx.output.data({"manifest": manifest, "versions": versions, "yanked": yanked,
                     "installed": installed,
                     "source": source})
    out = ctx.output
    out.line(f"{manifest['namespace']}/{manifest['name']}@{manifest['version']}"
             f"{'  (installed)' if installed else ''}")
    if manifest.get("description"):
        out.line(f"  {manifest['description']}")
    out.line("  versions:  " + ", ".join(v + (" (yanked)" if v in yanked else "")
                                        for v in versions))
    fw = manifest["framework"]
    out.line(f"  framework: {fw['name']} ({fw['format']})   plugin: {manifest['plugin']['name']} "
             f"{manifest['plugin'].get('version', '')}".rstrip())
    out.line(f"  license:   {manifest.get('license', 'unknown')}")
    for kind in ("inputs", "outputs"):
        for tensor in manifest[kind]:
            out.line(f"  {kind[:-1]:<7} {tensor['name']}: {tensor['datatype']} {tensor['shape']}")
    return 0


def cmd_registry_add(ctx: Context) -> int:
    """Add a registry."""
    a = ctx.args
    ctx.config.add_registry(a.name, a.url, tuple(a.mirror or ()), a.token)
    if a.default:
        ctx.config.set_default_registry(a.name)
    ctx.output.data({"name": a.name, "url": redact_url(a.url), "default": a.default})
    ctx.output.line(f"added registry {a.name} ({redact_url(a.url)})")
    return 0


def cmd_registry_list(ctx: Context) -> int:
    """List configured registries (credentials never shown)."""
    default = ctx.config.get("default_registry")
    rows = [dict(r.describe(), default=(r.name == default)) for r in ctx.config.registries()]
    ctx.output.data(rows)
    ctx.output.table(["NAME", "URL", "MIRRORS", "TOKEN", "DEFAULT"],
                     [(r["name"], r["url"], ", ".join(r["mirrors"]) or "-",
                       "yes" if r["token"] else "no", "*" if r["default"] else "")
                      for r in rows])
    return 0


def cmd_registry_remove(ctx: Context) -> int:
    """Remove a configured registry."""
    ctx.config.remove_registry(ctx.args.name)
    ctx.output.data({"removed": ctx.args.name})
    ctx.output.line(f"removed registry {ctx.args.name}")
    return 0


def cmd_registry_set_default(ctx: Context) -> int:
    """Make a registry the default."""
    ctx.config.set_default_registry(ctx.args.name)
    ctx.output.data({"default_registry": ctx.args.name})
    ctx.output.line(f"default registry: {ctx.args.name}")
    return 0


def cmd_registry_serve(ctx: Context) -> int:
    """Serve a registry directory over HTTP until interrupted."""
    root = pathlib.Path(ctx.args.dir).resolve()
    tokens = pathlib.Path(ctx.args.tokens) if ctx.args.tokens else None
    ctx.output.note(f"serving registry {root} on http://{ctx.args.host}:{ctx.args.port}")
    serve(root, ctx.args.host, ctx.args.port, tokens, ctx.args.max_package_bytes,
          ctx.args.max_extract_bytes)
    return 0


def cmd_registry_token(ctx: Context) -> int:
    """Create a token for a registry server; printed once, stored hashed."""
    root = pathlib.Path(ctx.args.dir)
    path = pathlib.Path(ctx.args.tokens) if ctx.args.tokens else default_tokens_file(root)
    token = create_token(path, ctx.args.name, ctx.args.role)
    ctx.output.data({"name": ctx.args.name, "role": ctx.args.role, "token": token,
                     "tokens_file": str(path)})
    ctx.output.line(token)
    ctx.output.note(f"stored the hash of token {ctx.args.name!r} ({ctx.args.role}) in {path}; "
                    "the token is not shown again")
    return 0


def cmd_registry_demo(ctx: Context) -> int:
    """Build the demo registry and configure it as ``demo``."""
    root = pathlib.Path(ctx.args.dir) if ctx.args.dir else ctx.config.home / "demo-registry"
    refs = build_demo_registry(root.resolve())
    url = root.resolve().as_uri()
    if not ctx.args.no_add:
        ctx.config.add_registry("demo", url)
        if not ctx.config.get("default_registry"):
            ctx.config.set_default_registry("demo")
    ctx.output.data({"path": str(root), "url": url, "models": refs})
    ctx.output.line(f"built demo registry at {root} ({len(refs)} packages)")
    if not ctx.args.no_add:
        ctx.output.line("configured it as registry 'demo'; try `axon install demo/mlp`")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands to the top-level subparsers."""
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--registry", help="registry name or URL (default: default_registry)")
    remote.add_argument("--offline", action="store_true", help="use the cache only")

    p = sub.add_parser("publish", parents=[common, remote],
                       help="check and upload a .axon package (or a package directory)")
    p.add_argument("package")
    p.add_argument("--sign", nargs="?", const="", metavar="KEY",
                   help="sign with KEY (default: signing_key, or your only key)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("yank", parents=[common, remote],
                       help="hide a version from ranges, latest and search (exact installs "
                            "still work)")
    p.add_argument("ref", help="namespace/name@version")
    p.add_argument("--reason", help="why, shown to users")
    p.add_argument("--undo", action="store_true", help="make the version visible again")
    p.set_defaults(func=cmd_yank)

    p = sub.add_parser("search", parents=[common, remote], help="search a registry")
    p.add_argument("query", nargs="?")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("info", parents=[common, remote], help="show a model's details")
    p.add_argument("ref", help="namespace/name[@version]")
    p.set_defaults(func=cmd_info)

    reg = sub.add_parser("registry", help="manage registries; run a registry server")
    rsub = reg.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)
    p = rsub.add_parser("add", parents=[common], help="add a registry")
    p.add_argument("name")
    p.add_argument("url", help="http(s):// or file:// base URL")
    p.add_argument("--mirror", action="append", help="mirror URL (repeatable)")
    p.add_argument("--token", help="write token (prefer AXON_REGISTRY_TOKEN_<NAME>)")
    p.add_argument("--default", action="store_true", help="make it the default")
    p.set_defaults(func=cmd_registry_add)
    p = rsub.add_parser("list", parents=[common], help="list registries")
    p.set_defaults(func=cmd_registry_list)
    p = rsub.add_parser("remove", parents=[common], help="remove a registry")
    p.add_argument("name")
    p.set_defaults(func=cmd_registry_remove)
    p = rsub.add_parser("set-default", parents=[common], help="set the default registry")
    p.add_argument("name")
    p.set_defaults(func=cmd_registry_set_default)
    p = rsub.add_parser("serve", parents=[common], help="serve a registry directory")
    p.add_argument("dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--tokens", help="tokens file (default DIR/.axon/tokens.yaml)")
    p.add_argument("--max-package-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help="largest upload accepted (default 64 GiB)")
    p.add_argument("--max-extract-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help="largest total a published package may expand to (default 64 GiB)")
    p.set_defaults(func=cmd_registry_serve)
    p = rsub.add_parser("delete", parents=[common, remote],
                        help="delete a version from a registry (admin token); shows the plan")
    p.add_argument("ref", help="namespace/name@version")
    p.add_argument("--dry-run", action="store_true", help="show the plan; delete nothing")
    p.set_defaults(func=cmd_registry_delete)
    p = rsub.add_parser("token", parents=[common], help="create a registry server token")
    p.add_argument("dir", help="registry directory")
    p.add_argument("--name", required=True)
    p.add_argument("--role", choices=list(ROLES), default="write",
                   help="read; write: publish, sign, yank; admin: also delete")
    p.add_argument("--tokens", help="tokens file (default DIR/.axon/tokens.yaml)")
    p.set_defaults(func=cmd_registry_token)
    p = rsub.add_parser("demo", parents=[common],
                        help="build the demo registry from generated models")
    p.add_argument("dir", nargs="?", help="where (default $AXON_HOME/demo-registry)")
    p.add_argument("--no-add", action="store_true", help="do not configure it as 'demo'")
    p.set_defaults(func=cmd_registry_demo)
