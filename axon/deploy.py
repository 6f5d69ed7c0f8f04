"""``axon deploy``: register an installed model with a running MLOS server.

Through :mod:`axon.mlos_api`: the plugin the manifest names is registered and started if it is
not running (unless ``start_plugin`` is False), then the model is registered with its name,
plugin, version, the absolute path of its entry file in the cache, and every file of the
manifest with its size and sha256, relative to the version's directory. The server checks each
file before the plugin loads anything, so a corrupted cache entry is refused, not served.
``config`` carries ``axon.manifest`` (the path of the package's ``manifest.yaml``),
``axon.ref`` and ``axon.package_sha256``. The manifest's ``serving.instances`` and
``serving.dynamic_batching`` become the registration's ``instance_count`` and
``dynamic_batching``. Deploying a version that is already registered from the same path does
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import MessageToDict

from axon.cache import Cache
from axon.config import redact_url
from axon.errors import ConflictError
from axon.manifest import MANIFEST_NAME, entrypoint, serving_fields
from axon.mlos_api import connect, ensure_plugin, talking_to
from axon.reference import ModelRef
from mlos.errors import AlreadyExists
from mlos_generated import smi_pb2

__all__ = ["DeployResult", "deploy"]



@dataclass(frozen=True)
class DeployResult:
    """What was sent, what the server answered, and what was done."""

    server: str
    request: dict[str, Any]
    response: dict[str, Any]
    plugin_action: str
    status: str


def deploy(cache: Cache, ref: ModelRef, server: str, name: str | None = None,
           timeout: float = 30.0, start_plugin: bool = True,
           token: str | None = None) -> DeployResult:
    """Register the installed version of ``ref`` that best matches it (and its plugin).

    ``token`` is the server's API token; without one the MLOS client finds it (``MLOS_TOKEN``,
    else the admin token in the server's home)."""
    model = cache.find(ref.namespace, ref.name, ref.spec)
    manifest = cache.manifest(model)
    root = model.path.resolve()
    files = [smi_pb2.ModelFile(path=f.path, size=f.size, sha256=f.sha256)
             for f in manifest.files]
    request: dict[str, Any] = {
        "name": name or manifest.name,
        "plugin": manifest.plugin.name,
        "path": str(root / entrypoint(manifest)),
        "version": manifest.version,
        "config": {"axon.manifest": str(root / MANIFEST_NAME), "axon.ref": model.ref,
                   "axon.package_sha256": model.sha256},
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
        "files_root": str(root),
        **serving_fields(manifest),
    }
    client = connect(server, timeout, token)
    try:
        with talking_to(server):
            action = ensure_plugin(client, manifest, start_plugin)
            status = "registered"
            try:
                answer = client.register_model(
                    request["name"], request["path"], request["plugin"], request["version"],
                    request["config"], files, request["files_root"],
                    dynamic_batching=request.get("dynamic_batching"),
                    instance_count=request.get("instance_count", 0))
            except AlreadyExists:
                [answer] = client.get_model(request["name"], request["version"]).versions
                if answer.path != request["path"]:
                    raise ConflictError(
                        f"model {request['name']} version {request['version']} is registered "
                        f"from {answer.path} on the server; remove it there first (`mlos model "
                        f"remove {request['name']}`) or deploy with --name") from None
                status = "already registered"
    finally:
        client.close()
    response = MessageToDict(answer, preserving_proto_field_name=True)
    return DeployResult(redact_url(server), request, response, action, status)
