"""The blocking client API over any transport: :class:`BaseClient`.

A transport subclasses it with the operations of its wire (:class:`~mlos.client.rest.
RestOperations` or :class:`~mlos.client.smi.SmiOperations`) and a `_run` that sends one
:class:`~mlos.client.base.Op` and returns what its `parse` reads from the answer.
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

__all__ = ["BaseClient"]

T = TypeVar("T")


class BaseClient(abc.ABC):
    """Implements :class:`mlos.client.Client` on top of `_ops` and `_run`."""

    _ops: RestOperations | SmiOperations

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The server address this client talks to."""

    @abc.abstractmethod
    def _run(self, op: Op[T]) -> T:
        """Send `op`'s request, wait for the answer, and parse it (or raise the typed error)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ----- server ----------------------------------------------------------------------------

    def health(self) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and every plugin."""
        return self._run(self._ops.health())

    def server_metadata(self) -> dict[str, Any]:
        """Server name, version and Open Inference Protocol extensions."""
        return self._run(self._ops.server_metadata())

    def resources(self) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return self._run(self._ops.resources())

    # ----- plugins ---------------------------------------------------------------------------

    def register_plugin(
        self,
        name: str,
        version: str | None = None,
        entry_point: str | None = None,
        module: str | None = None,
        executable: str | None = None,
    ) -> smi_pb2.PluginStatus:
        """Register a plugin; at most one of the three sources."""
        return self._run(self._ops.register_plugin(name, version, entry_point, module, executable))

    def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        """Every registered plugin."""
        return self._run(self._ops.list_plugins())

    def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """One plugin."""
        return self._run(self._ops.get_plugin(name))

    def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process (again)."""
        return self._run(self._ops.load_plugin(name))

    def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        return self._run(self._ops.unload_plugin(name))

    def remove_plugin(self, name: str) -> None:
        """Stop a plugin's process and forget it."""
        return self._run(self._ops.remove_plugin(name))

    # ----- models ----------------------------------------------------------------------------

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
        return self._run(self._ops.register_model(
            name, path, plugin, version, config, files, files_root
        ))

    def list_models(self) -> list[smi_pb2.ModelStatus]:
        """Every registered model version."""
        return self._run(self._ops.list_models())

    def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        """A model with all its versions, or with only `version`."""
        return self._run(self._ops.get_model(name, version))

    def remove_model(self, name: str, version: str | None = None) -> list[smi_pb2.ModelStatus]:
        """Unload and forget a model (or one version); the versions removed."""
        return self._run(self._ops.remove_model(name, version))

    def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        """Inputs, outputs and platform of the version served (or of `version`)."""
        return self._run(self._ops.model_metadata(name, version))

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model (version) takes inference requests now."""
        return self._run(self._ops.model_ready(name, version))

    # ----- inference -------------------------------------------------------------------------

    def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        outputs: Sequence[str] | None = None,
        version: str | None = None,
        binary: bool = True,
        datatypes: Mapping[str, str] | None = None,
    ) -> dict[str, Array]:
        """Run `model` on `inputs`; the outputs by name (see :meth:`mlos.client.Client.infer`)."""
        return self._run(self._ops.infer(model, inputs, outputs, version, binary, datatypes))

