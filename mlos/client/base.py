"""What every transport of the client shares: addresses, errors, and calls as data.

The API itself is :class:`mlos.client.Client` (blocking, :mod:`mlos.client.sync`) and
:class:`mlos.client.AsyncClient` (asyncio, :mod:`mlos.client.aio`). Each of their methods turns
its arguments into the `smi.proto` request message of that call (the builders below) — or, for
inference, an :class:`Inference` — and hands it to the transport's operations, which make an
:class:`Op`: what to send, in the transport's terms, and how to read the answer
(:mod:`mlos.client.rest` for REST, :mod:`mlos.client.smi` for gRPC and IPC). The transport then
runs the op, blocking or awaited.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypedDict, TypeVar

import numpy.typing as npt

from mlos.errors import InvalidArgument, Unavailable
from mlos.wire.roles import ROLES
from mlos_generated import smi_pb2

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "PLUGIN_SOURCES",
    "Array",
    "BatchingSettings",
    "Inference",
    "Op",
    "PluginSource",
    "Unreachable",
    "closed_by_peer",
    "dynamic_batching",
    "model_ref",
    "register_model_request",
    "register_plugin_request",
    "upgrade_plugin_request",
]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a connection and for each answer."""

PLUGIN_SOURCES = ("entry_point", "module", "executable")
"""The ways to name a plugin's code, as `smi.proto`'s `PluginSource` and the REST body call them."""

Array = npt.NDArray[Any]
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Op(Generic[T_co]):
    """One call of the client API: the transport's request, and how to read its answer."""

    request: Any
    parse: Callable[[Any], T_co]


class Inference(NamedTuple):
    """The arguments of one :meth:`mlos.client.Client.infer` call, as the caller gave them."""

    model: str
    inputs: Mapping[str, Array]
    outputs: Sequence[str] | None
    version: str | None
    binary: bool
    datatypes: Mapping[str, str] | None


class Unreachable(Unavailable):
    """No MLOS server answers at the client's address (refused, unresolvable, reset)."""


class PluginSource(TypedDict, total=False):
    """Where a plugin's code comes from, as `register_plugin` and `upgrade_plugin` take it:
    at most one of `entry_point` (in group mlos.plugins), `module` (package.module:Class) and
    `executable` (a program that speaks SMI), and `python`, the interpreter or virtual
    environment its host runs in."""

    entry_point: str | None
    module: str | None
    executable: str | None
    python: str | None


def _source(source: PluginSource) -> tuple[smi_pb2.PluginSource | None, str]:
    """The `PluginSource` message (None when no source is named) and the interpreter;
    InvalidArgument when more than one source is given."""
    named = (source.get("entry_point"), source.get("module"), source.get("executable"))
    given = {key: value for key, value in zip(PLUGIN_SOURCES, named, strict=True) if value}
    if len(given) > 1:
        raise InvalidArgument(f"give at most one of {', '.join(PLUGIN_SOURCES)}")
    return (smi_pb2.PluginSource(**given) if given else None), source.get("python") or ""


def register_plugin_request(
    name: str, version: str | None, source: PluginSource
) -> smi_pb2.RegisterPluginRequest:
    """The request of `register_plugin`; InvalidArgument when more than one source is given."""
    code, python = _source(source)
    request = smi_pb2.RegisterPluginRequest(name=name, version=version or "", python=python)
    if code is not None:
        request.source.CopyFrom(code)
    return request


def upgrade_plugin_request(
    name: str, version: str | None, drain_timeout: float | None, source: PluginSource
) -> smi_pb2.UpgradePluginRequest:
    """The request of `upgrade_plugin`; InvalidArgument when more than one source is given."""
    code, python = _source(source)
    request = smi_pb2.UpgradePluginRequest(
        name=name, version=version or "", drain_timeout_seconds=drain_timeout or 0.0, python=python
    )
    if code is not None:
        request.source.CopyFrom(code)
    return request


def register_model_request(
    name: str,
    path: str,
    plugin: str | None,
    version: str | None,
    config: Mapping[str, str] | None,
    files: Sequence[smi_pb2.ModelFile] = (),
    files_root: str | None = None,
    resources: smi_pb2.ModelResources | None = None,
    batching: BatchingSettings = None,
    instance_count: int = 0,
) -> smi_pb2.RegisterModelRequest:
    """The request of `register_model` (the path and the config's keys and values as text;
    `files`, with sizes and sha256 relative to `files_root`, for the server to check;
    `resources` the model needs from the server's budget; `batching` its dynamic batching
    (see :func:`dynamic_batching`) and `instance_count` its instances)."""
    request = smi_pb2.RegisterModelRequest(
        name=name,
        path=str(path),
        plugin=plugin or "",
        version=version or "",
        config={str(k): str(v) for k, v in (config or {}).items()},
        files=files,
        files_root=files_root or "",
        resources=resources,
        instance_count=instance_count,
    )
    settings = dynamic_batching(batching)
    if settings is not None:
        request.dynamic_batching.CopyFrom(settings)
    return request


BatchingSettings = smi_pb2.DynamicBatching | Mapping[str, Any] | None
"""Dynamic batching as a registration takes it: the message, its fields as a mapping (an empty
one switches batching on with the defaults), or None for none."""

_BATCHING_FIELDS = frozenset(smi_pb2.DynamicBatching.DESCRIPTOR.fields_by_name)


def dynamic_batching(settings: BatchingSettings) -> smi_pb2.DynamicBatching | None:
    """The `DynamicBatching` message of `settings` (None: no batching); InvalidArgument for a
    field it does not have or a value of the wrong kind."""
    if settings is None or isinstance(settings, smi_pb2.DynamicBatching):
        return settings
    unknown = sorted(set(settings) - _BATCHING_FIELDS)
    if unknown:
        raise InvalidArgument(
            f"dynamic_batching has no field {unknown[0]!r}; fields: "
            f"{', '.join(sorted(_BATCHING_FIELDS))}"
        )
    try:
        return smi_pb2.DynamicBatching(**settings)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"dynamic_batching: {exc}") from None


def create_token_request(
    name: str, role: str, models: Sequence[str], ttl_seconds: int, rate_limit: str
) -> smi_pb2.CreateTokenRequest:
    """The MLOS.CreateToken request; InvalidArgument for a role that is not one."""
    if role.lower() not in ROLES:
        raise InvalidArgument(f"unknown role {role!r}: use {', '.join(ROLES)}")
    return smi_pb2.CreateTokenRequest(
        name=name,
        role=smi_pb2.Role.Value(f"ROLE_{role.upper()}"),
        models=models,
        ttl_seconds=ttl_seconds,
        rate_limit=rate_limit,
    )


def model_ref(name: str, version: str | None) -> smi_pb2.ModelRef:
    """A model, or one version of it (no version: the server's choice, or all of them)."""
    return smi_pb2.ModelRef(name=name, version=version or "")


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server closed an idle connection since its last answer (or sent bytes that
    nobody asked for): an idle connection has nothing to read, a closed one reads as the end.
    Clients check before reusing a connection, so that a call after a server restart or an
    idle timeout goes out on a new connection instead of failing on the old one."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed or invalid descriptor
        return True
    return bool(readable)
