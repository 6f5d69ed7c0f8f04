"""Axon's one door to an MLOS server: the client, its errors, and the plugin a model needs.

Every call ``axon deploy`` and ``axon run`` make goes through :func:`connect`, which builds an
:mod:`mlos.client` client (REST, gRPC or the IPC socket, by the URL's scheme), so whatever the
server comes to require of its callers is added here once. MLOS errors are translated into
Axon's at this seam (:func:`talking_to`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from axon.config import redact_url
from axon.errors import (
    AxonError,
    ConflictError,
    NotFoundError,
    ServerError,
    UsageError,
)
from axon.manifest import Manifest
from axon.semver import Range, Version
from mlos.client import Client, Unreachable
from mlos.client import connect as mlos_connect
from mlos.errors import AlreadyExists, MLOSError, NotFound, Unavailable
from mlos_generated import smi_pb2

__all__ = ["connect", "ensure_plugin", "talking_to"]


def connect(url: str, timeout: float, token: str | None = None) -> Client:
    """A client of the MLOS server at ``url`` (with ``token``, else the one it finds)."""
    try:
        return mlos_connect(url, timeout=timeout, token=token)
    except MLOSError as exc:
        raise UsageError(f"{redact_url(url)}: {exc.message}") from exc


@contextlib.contextmanager
def talking_to(url: str) -> Iterator[None]:
    """Translate MLOS errors raised inside the block into Axon errors naming the server."""
    shown = redact_url(url)
    try:
        yield
    except Unreachable as exc:
        raise ServerError(f"cannot reach MLOS at {shown} ({exc.message}); is `mlos serve` "
                          "running?") from exc
    except MLOSError as exc:
        kind: type[AxonError] = ServerError if isinstance(exc, Unavailable) else UsageError
        if isinstance(exc, NotFound):
            kind = NotFoundError
        elif isinstance(exc, AlreadyExists):
            kind = ConflictError
        raise kind(f"MLOS at {shown} refused: {exc.message}") from exc


def ensure_plugin(client: Client, manifest: Manifest, start: bool) -> str:
    """Make the plugin the manifest names ready on the server; say what was done.

    A plugin that is not registered is registered (the server finds it like any installed
    plugin) and started; one registered but stopped is started; ``start=False`` refuses to do
    either. The running plugin's version must satisfy the manifest's ``plugin.version``.
    """
    name = manifest.plugin.name
    action = "already running"
    try:
        status = client.get_plugin(name)
    except NotFound:
        if not start:
            raise UsageError(f"plugin {name!r} is not registered on the server; deploy without "
                             f"--no-start, or run `mlos plugin register {name} --load`") from None
        client.register_plugin(name)
        status = client.load_plugin(name)
        action = "registered and started"
    if status.state != smi_pb2.PLUGIN_STATE_READY:
        if not start:
            state = smi_pb2.PluginState.Name(status.state).removeprefix("PLUGIN_STATE_").lower()
            raise UsageError(f"plugin {name!r} is {state}, not running; deploy without "
                             f"--no-start, or run `mlos plugin load {name}`")
        status = client.load_plugin(name)
        action = "started" if action == "already running" else action
    wanted = manifest.plugin.version
    if wanted and status.version:
        try:
            running = Version.parse(status.version)
        except UsageError:
            return action
        if not Range.parse(wanted).matches(running):
            raise ConflictError(f"the server's plugin {name} is version {status.version}; "
                                f"{manifest.namespace}/{manifest.name}@{manifest.version} needs "
                                f"{wanted}")
    return action
