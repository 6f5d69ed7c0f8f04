"""``axon publish``, ``search``, ``info`` and ``axon registry ...``."""

from __future__ import annotations

import argparse
import pathlib
import tempfile
from typing import Any

from axon.cli.context import Context
from axon.config import redact_url
from axon.demo import build_demo_registry
from axon.errors import OfflineError, UsageError
from axon.package import pack
from axon.reference import ModelRef
from axon.registry_client import RegistryClient
from axon.registry_server import create_token, default_tokens_file, serve

__all__ = ["register"]


def _client(ctx: Context) -> RegistryClient:
    if ctx.offline:
        raise OfflineError("offline mode is on; this command needs a registry")
    entry = ctx.config.registry(getattr(ctx.args, "registry", None))
    return RegistryClient(entry, float(ctx.config.get("timeout")))


def cmd_publish(ctx: Context) -> int:
    """Upload a package (or pack a directory and upload it)."""
    client = _client(ctx)
    path = pathlib.Path(ctx.args.package)
    if not path.exists():
        raise UsageError(f"{path}: no such package file or directory")
    with tempfile.TemporaryDirectory() as tmp:
        if path.is_dir():
            path = pack(path, pathlib.Path(tmp) / "package.axon").path
        resolved, created = client.publish(path)
    ref = f"{resolved.namespace}/{resolved.name}@{resolved.version}"
    ctx.output.data({"ref": ref, "sha256": resolved.sha256, "size": resolved.size,
                     "created": created, "registry": client.display})
    ctx.output.line(f"{'published' if created else 'already published'} {ref} to "
                    f"{client.display}")
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
        versions = [v["version"] for v in client.versions(ref.namespace, ref.name)["versions"]]
        source = client.display
    installed = ctx.cache.get(ref.namespace, ref.name, manifest["version"]) is not None
    ctx.output.data({"manifest": manifest, "versions": versions, "installed": installed,
                     "source": source})
    out = ctx.output
    out.line(f"{manifest['namespace']}/{manifest['name']}@{manifest['version']}"
             f"{'  (installed)' if installed else ''}")
    if manifest.get("description"):
        out.line(f"  {manifest['description']}")
    out.line(f"  versions:  {', '.join(versions)}")
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
    serve(root, ctx.args.host, ctx.args.port, tokens)
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
                       help="upload a .axon package (or a package directory)")
    p.add_argument("package")
    p.set_defaults(func=cmd_publish)

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
    p.set_defaults(func=cmd_registry_serve)
    p = rsub.add_parser("token", parents=[common], help="create a registry server token")
    p.add_argument("dir", help="registry directory")
    p.add_argument("--name", required=True)
    p.add_argument("--role", choices=["read", "write"], default="write")
    p.add_argument("--tokens", help="tokens file (default DIR/.axon/tokens.yaml)")
    p.set_defaults(func=cmd_registry_token)
    p = rsub.add_parser("demo", parents=[common],
                        help="build the demo registry from generated models")
    p.add_argument("dir", nargs="?", help="where (default $AXON_HOME/demo-registry)")
    p.add_argument("--no-add", action="store_true", help="do not configure it as 'demo'")
    p.set_defaults(func=cmd_registry_demo)
