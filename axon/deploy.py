"""``axon deploy``: register an installed model with a running MLOS server over REST.

The server is told the model's name, the plugin the manifest asks for, the absolute path of the
entry file inside the cache and the version; ``config`` carries ``axon.manifest`` (the path of
the package's ``manifest.yaml``, so the server can check digests before loading), ``axon.ref``
and ``axon.package_sha256``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from axon.cache import Cache
from axon.config import redact_url
from axon.errors import AxonError, ConflictError, NotFoundError, RegistryError, UsageError
from axon.manifest import MANIFEST_NAME, entrypoint
from axon.reference import ModelRef
from mlos.client.credentials import find_token

__all__ = ["DeployResult", "deploy"]


@dataclass(frozen=True)
class DeployResult:
    """What was sent and what the server answered."""

    server: str
    request: dict[str, Any]
    response: dict[str, Any]


def deploy(cache: Cache, ref: ModelRef, server: str, name: str | None = None,
           timeout: float = 30.0, token: str | None = None) -> DeployResult:
    """``POST /v1/models`` for the installed version of ``ref`` that best matches it."""
    model = cache.find(ref.namespace, ref.name, ref.spec)
    manifest = cache.manifest(model)
    body = {
        "name": name or manifest.name,
        "plugin": manifest.plugin.name,
        "path": str((model.path / entrypoint(manifest)).resolve()),
        "version": manifest.version,
        "config": {"axon.manifest": str((model.path / MANIFEST_NAME).resolve()),
                   "axon.ref": model.ref, "axon.package_sha256": model.sha256},
    }
    url = server.rstrip("/") + "/v1/models"
    token = find_token(token, server)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    shown = redact_url(server)
    try:
        response = requests.post(url, json=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise RegistryError(f"cannot reach MLOS at {shown} ({type(exc).__name__}); is "
                            "`mlos serve` running?") from exc
    try:
        answer: dict[str, Any] = response.json() if response.content else {}
    except ValueError:
        answer = {"body": response.text[:200]}
    if response.status_code >= 400:
        detail = answer.get("detail") or answer.get("message") or answer.get("error") or \
            response.reason
        message = f"MLOS at {shown} refused the model (HTTP {response.status_code}): {detail}"
        error: type[AxonError] = {404: NotFoundError, 409: ConflictError}.get(
            response.status_code, UsageError if response.status_code < 500 else RegistryError)
        raise error(message)
    return DeployResult(shown, body, answer)
