"""The awaitable client API over any transport: :class:`BaseAsyncClient`.

The twin of :class:`mlos.client.sync.BaseClient`: the same operations, with `_run` awaited.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from mlos.client.base import Array, Op
from mlos.client.rest import RestOperations
from mlos.client.smi import SmiOperations
from mlos_generated import smi_pb2

__all__ = ["BaseAsyncClient"]

T = TypeVar("T")


class BaseAsyncClient(abc.ABC):
    """Implements :class:`mlos.client.AsyncClient` on top of `_ops` and an awaitable `_run`."""

    _ops: RestOperations | SmiOperations

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The server address this client talks to."""

    @abc.abstractmethod
    async def _run(self, op: Op[T]) -> T:
        """Send `op`'s request, await the answer, and parse it (or raise the typed error)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ----- server ----------------------------------------------------------------------------

    async def health(self) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and every plugin."""
        return await self._run(self._ops.health())

    async def server_metadata(self) -> dict[str, Any]:
        """Server name, version and Open Inference Protocol extensions."""
        return await self._run(self._ops.server_metadata())

    async def resources(self) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return await self._run(self._ops.resources())

    # ----- plugins ---------------------------------------------------------------------------

    async def register_plugin(
        self,
        name: str,
        version: str | None = None,
        entry_point: str | None = None,
        module: str | None = None,
        executable: str | None = None,
    ) -> smi_pb2.PluginStatus:
        """Register a plugin; at most one of the three sources."""
        op = self._ops.register_plugin(name, version, entry_point, module, executable)
        return await self._run(op)

    async def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        """Every registered plugin."""
        return await self._run(self._ops.list_plugins())

    async def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """One plugin."""
        return await self._run(self._ops.get_plugin(name))

    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process (again)."""
        return await self._run(self._ops.load_plugin(name))

    async def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        return await self._run(self._ops.unload_plugin(name))

    async def remove_plugin(self, name: str) -> None:
        """Stop a plugin's process and forget it."""
        return await self._run(self._ops.remove_plugin(name))

    # ----- models ----------------------------------------------------------------------------

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
        return await self._run(self._ops.register_model(
            name, path, plugin, version, config, files, files_root
        ))

    async def list_models(self) -> list[smi_pb2.ModelStatus]:
        """Every registered model version."""
        return await self._run(self._ops.list_models())

    async def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        """A model with all its versions, or with only `version`."""
        return await self._run(self._ops.get_model(name, version))

    async def remove_model(
        self, name: str, version: str | None = None
    ) -> list[smi_pb2.ModelStatus]:
        """Unload and forget a model (or one version); the versions removed."""
        return await self._run(self._ops.remove_model(name, version))

    async def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        """Inputs, outputs and platform of the version served (or of `version`)."""
        return await self._run(self._ops.model_metadata(name, version))

    async def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model (version) takes inference requests now."""
        return await self._run(self._ops.model_ready(name, version))

    # ----- inference -------------------------------------------------------------------------

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        outputs: Sequence[str] | None = None,
        version: str | None = None,
        binary: bool = True,
        datatypes: Mapping[str, str] | None = None,
    ) -> dict[str, Array]:
        """Run `model` on `inputs`; the outputs by name (see :meth:`mlos.client.Client.infer`)."""
        return await self._run(self._ops.infer(model, inputs, outputs, version, binary, datatypes))

