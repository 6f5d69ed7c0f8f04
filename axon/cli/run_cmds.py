"""``axon run NS/NAME[@VERSION]``: from a reference to a model answering on a local server."""

from __future__ import annotations

import argparse
import os
from typing import Any

from axon.cli.context import Context
from axon.deploy import deploy
from axon.installer import Installer
from axon.invocation import curl_command, example_request, python_snippet
from axon.local_server import ensure_server
from axon.reference import ModelRef
from mlos.client.credentials import ADMIN_TOKEN_FILE, TOKEN_ENV, find_token

__all__ = ["register"]


def cmd_run(ctx: Context) -> int:
    """Install if needed, start or reuse a local `mlos serve`, deploy, say how to call it."""
    ref = ModelRef.parse(ctx.args.ref)
    bar = ctx.output.progress_bar(f"installing {ref}")
    installer = Installer(ctx.config, ctx.args.registry, ctx.offline or None, bar)
    try:
        installed = installer.install_ref(ref)
    finally:
        if bar is not None:
            bar.close()
    model = installed.model
    ctx.output.note(f"{installed.status} {model.ref}")
    url = ctx.args.server or str(ctx.config.get("mlos_server"))
    timeout = float(ctx.config.get("timeout"))
    server = ensure_server(url, ctx.config.home / "server")
    if server.started:
        ctx.output.note(f"started mlos serve on {server.url} (pid {server.pid}, log "
                        f"{server.log}); stop it with `kill {server.pid}`")
    # A server axon run started keeps its admin token in its home.
    token_file = (server.home or ctx.config.home / "server") / ADMIN_TOKEN_FILE
    token = os.environ.get(TOKEN_ENV) or (
        token_file.read_text(encoding="utf-8").strip() if token_file.is_file() else None
    ) or find_token(None, url)
    result = deploy(ctx.cache, ModelRef(model.namespace, model.name, model.version), url,
                    ctx.args.name, timeout, token=token)
    shown_token = token_file if token_file.is_file() else None
    name = result.request["name"]
    manifest = ctx.cache.manifest(model)
    infer_url = f"{url.rstrip('/')}/v2/models/{name}/infer"
    payload: dict[str, Any] = {
        "ref": model.ref, "model": name, "server": url, "status": result.status,
        "plugin": {"name": result.request["plugin"], "action": result.plugin_action},
        "started": server.started, "pid": server.pid,
        "log": str(server.log) if server.log else None, "infer_url": infer_url,
        "example": example_request(manifest),
    }
    ctx.output.data(payload)
    ctx.output.line(f"{model.ref} is serving as model {name!r} on {url}")
    curl = curl_command(url, name, manifest, shown_token)
    if curl is not None:
        ctx.output.line("\ncall it over REST (the Open Inference Protocol):\n  " + curl)
    ctx.output.line("\nor from Python:\n  " + python_snippet(url, name, manifest, shown_token)
                    .replace("\n", "\n  "))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the command to the top-level subparsers."""
    p = sub.add_parser("run", parents=[common],
                       help="install, serve on a local MLOS and deploy a model; print how to "
                            "call it")
    p.add_argument("ref", help="namespace/name[@version]")
    p.add_argument("--server", help="MLOS base URL (default: mlos_server); started there if "
                                    "nothing answers and it is a loopback address")
    p.add_argument("--name", help="model name in MLOS (default: the manifest's name)")
    p.add_argument("--registry", help="registry name or URL (default: default_registry)")
    p.add_argument("--offline", action="store_true", help="use the cache only")
    p.set_defaults(func=cmd_run)
