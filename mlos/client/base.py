"""What every MLOS client offers, whatever the transport: :class:`Client` and :class:`AsyncClient`.

Management calls return the `smi.proto` messages (`smi_pb2.PluginStatus`, `ModelStatus`, …),
the same types the core and the gRPC service use; inference takes and returns numpy arrays.
Every failure is an :class:`mlos.errors.MLOSError`: the server's own errors keep their code
(`NotFound`, `InvalidArgument`, …), and a server that cannot be reached is :class:`Unreachable`.

Inside, every call is an :class:`Op`: what to send, in the transport's terms, and how to read
the answer. A transport builds ops once (:mod:`mlos.client.rest` for REST, :mod:`mlos.client.smi`
for gRPC and IPC) and runs them blocking or awaited.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import numpy.typing as npt

from mlos.errors import Unavailable
from mlos_generated import smi_pb2

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "Array",
    "AsyncClient",
    "Client",
    "Op",
    "Unreachable",
    "closed_by_peer",
]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a connection and for each answer."""

Array = npt.NDArray[Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One call of the client API: the transport's request, and how to read its answer."""

    request: Any
    parse: Callable[[Any], T]


class Unreachable(Unavailable):
    """No MLOS server answers at the client's address (refused, unresolvable, reset)."""


class Client(Protocol):
    """The typed MLOS API of one server, over one transport (see :func:`mlos.client.connect`)."""

    @property
    def url(self) -> str:
        """The server address this client talks to."""
        ...

    # ----- server ------------------------------------------------------------------------

    def health(self) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and every plugin (not an error when not ready)."""
        ...

    def server_metadata(self) -> dict[str, Any]:
        """Server name, version and Open Inference Protocol extensions."""
        ...

    def resources(self) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        ...

    # ----- plugins -----------------------------------------------------------------------

    def register_plugin(
        self,
        name: str,
        version: str | None = None,
        entry_point: str | None = None,
        module: str | None = None,
        executable: str | None = None,
    ) -> smi_pb2.PluginStatus:
        """Register a plugin and start its process; at most one of the three sources."""
        ...

    def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        """Every registered plugin."""
        ...

    def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """One plugin."""
        ...

    def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process (again)."""
        ...

    def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        ...

    def remove_plugin(self, name: str) -> None:
        """Stop a plugin's process and forget it."""
        ...

    # ----- models ------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        path: str,
        plugin: str | None = None,
        version: str | None = None,
        config: Mapping[str, str] | None = None,
        files: Sequence[smi_pb2.ModelFile] = (),
        files_root: str | None = None,
    ) -> smi_pb2.ModelStatus:
        """Register a model version from a file or directory on the server, and load it.

        `files` (with sizes and sha256, relative to `files_root`) are checked by the server
        before the plugin loads anything."""
        ...

    def list_models(self) -> list[smi_pb2.ModelStatus]:
        """Every registered model version."""
        ...

    def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        """A model with all its versions, or with only `version`."""
        ...

    def remove_model(self, name: str, version: str | None = None) -> list[smi_pb2.ModelStatus]:
        """Unload and forget every version of a model, or only `version`; the removed ones."""
        ...

    def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        """Inputs, outputs and platform of the version served (or of `version`)."""
        ...

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model (version) takes inference requests now."""
        ...

    # ----- inference ---------------------------------------------------------------------

    def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        outputs: Sequence[str] | None = None,
        version: str | None = None,
        binary: bool = True,
        datatypes: Mapping[str, str] | None = None,
    ) -> dict[str, Array]:
        """Run `model` on `inputs` (name → array); the outputs by name (all when `outputs` is None).

        `datatypes` overrides the datatype of an input (default: from the array's dtype;
        strings and bytes are BYTES). BYTES outputs come back as object arrays of `bytes`.
        """
        ...

    # ----- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Release connections."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class AsyncClient(Protocol):
    """The :class:`Client` API with every call awaited (see :func:`mlos.client.connect_async`)."""

    @property
    def url(self) -> str:
        """The server address this client talks to."""
        ...

    # ----- server ------------------------------------------------------------------------

    async def health(self) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and every plugin (not an error when not ready)."""
        ...

    async def server_metadata(self) -> dict[str, Any]:
        """Server name, version and Open Inference Protocol extensions."""
        ...

    async def resources(self) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        ...

    # ----- plugins -----------------------------------------------------------------------

    async def register_plugin(
        self,
        name: str,
        version: str | None = None,
        entry_point: str | None = None,
        module: str | None = None,
        executable: str | None = None,
    ) -> smi_pb2.PluginStatus:
        """Register a plugin and start its process; at most one of the three sources."""
        ...

    async def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        """Every registered plugin."""
        ...

    async def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """One plugin."""
        ...

    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process (again)."""
        ...

    async def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        ...

    async def remove_plugin(self, name: str) -> None:
        """Stop a plugin's process and forget it."""
        ...

    # ----- models ------------------------------------------------------------------------

    async def register_model(
        self,
        name: str,
        path: str,
        plugin: str | None = None,
        version: str | None = None,
        config: Mapping[str, str] | None = None,
        files: Sequence[smi_pb2.ModelFile] = (),
        files_root: str | None = None,
    ) -> smi_pb2.ModelStatus:
        """Register a model version from a file or directory on the server, and load it.

        `files` (with sizes and sha256, relative to `files_root`) are checked by the server
        before the plugin loads anything."""
        ...

    async def list_models(self) -> list[smi_pb2.ModelStatus]:
        """Every registered model version."""
        ...

    async def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        """A model with all its versions, or with only `version`."""
        ...

    async def remove_model(
        self, name: str, version: str | None = None
    ) -> list[smi_pb2.ModelStatus]:
        """Unload and forget every version of a model, or only `version`; the removed ones."""
        ...

    async def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        """Inputs, outputs and platform of the version served (or of `version`)."""
        ...

    async def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model (version) takes inference requests now."""
        ...

    # ----- inference ---------------------------------------------------------------------

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        outputs: Sequence[str] | None = None,
        version: str | None = None,
        binary: bool = True,
        datatypes: Mapping[str, str] | None = None,
    ) -> dict[str, Array]:
        """Run `model` on `inputs` (name → array); the outputs by name (all when `outputs` is None).

        `datatypes` overrides the datatype of an input (default: from the array's dtype;
        strings and bytes are BYTES). BYTES outputs come back as object arrays of `bytes`.
        """
        ...

    # ----- lifetime ----------------------------------------------------------------------

    async def close(self) -> None:
        """Release connections."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


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
