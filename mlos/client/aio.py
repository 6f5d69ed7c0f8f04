"""The awaitable client API: :class:`AsyncClient`, the base of every asyncio transport.

Each method is written here once, over two things a transport supplies: `_ops`, the operations
of its wire (:class:`~mlos.client.rest.RestOperations` or :class:`~mlos.client.smi.
SmiOperations`), and `_run`, which sends one :class:`~mlos.client.base.Op` and returns what its
`parse` reads from the answer. An asyncio client connects lazily, so it may be created outside
an event loop; close it with `await client.close()` or `async with`.

The blocking :class:`mlos.client.Client` (:mod:`mlos.client.sync`) is generated from this file
by `tools/generate.py` (`tools/gen_sync_client.py`): edit this one and run `make generate`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

from mlos.client.base import (
    Array,
    BatchingSettings,
    Inference,
    Op,
    PluginSource,
    create_token_request,
    model_ref,
    register_model_request,
    register_plugin_request,
    upgrade_plugin_request,
)
from mlos_generated import smi_pb2

if TYPE_CHECKING:
    from mlos.client.rest import RestOperations
    from mlos.client.smi import SmiOperations

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(abc.ABC):
    """The typed MLOS API of one server, over one transport (see :func:`mlos.client.connect_async`).

    :class:`~mlos.client.AsyncHTTPClient`, :class:`~mlos.client.AsyncGRPCClient` and
    :class:`~mlos.client.AsyncIPCClient` are its transports.
    """

    _url: str
    _ops: RestOperations | SmiOperations

    @property
    def url(self) -> str:
        """The server address this client talks to."""
        return self._url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r})"

    @abc.abstractmethod
    async def _run(self, op: Op[T]) -> T:
        """Send `op`'s request, await the answer, and parse it (or raise the typed error)."""

    # ----- server ------------------------------------------------------------------------

    async def health(self) -> smi_pb2.HealthResponse:
        """Liveness and readiness of the core and every plugin (not an error when not ready)."""
        return await self._run(self._ops.health())

    async def server_metadata(self) -> dict[str, Any]:
        """Server name, version and Open Inference Protocol extensions."""
        return await self._run(self._ops.server_metadata())

    async def resources(self) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return await self._run(self._ops.resources())

    async def cluster_status(self) -> dict[str, Any]:
        """The nodes sharing the server's registry (`GET /v1/cluster`; REST only)."""
        return await self._run(self._ops.cluster_status())

    # ----- plugins -----------------------------------------------------------------------

    async def register_plugin(
        self,
        name: str,
        version: str | None = None,
        *,
        default: bool = False,
        **source: Unpack[PluginSource],
    ) -> smi_pb2.PluginStatus:
        """Register a plugin and start its process, from at most one source (`entry_point`,
        `module` or `executable`; none: the installed plugin of that name) and in `python`, the
        interpreter or virtual environment its host runs in. A name registered already takes
        `version` beside its other versions; `default` makes it the default."""
        request = register_plugin_request(name, version, source)
        request.default = default
        return await self._run(self._ops.register_plugin(request))

    async def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        """Every registered plugin."""
        return await self._run(self._ops.list_plugins())

    async def get_plugin(self, name: str, version: str | None = None) -> smi_pb2.PluginStatus:
        """One plugin: its default version, or `version`."""
        ref = smi_pb2.PluginRef(name=name, version=version or "")
        return await self._run(self._ops.get_plugin(ref))

    async def load_plugin(self, name: str, version: str | None = None) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process (again): its default version, or `version`."""
        ref = smi_pb2.PluginRef(name=name, version=version or "")
        return await self._run(self._ops.load_plugin(ref))

    async def unload_plugin(self, name: str, version: str | None = None) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration: its default version, or `version`."""
        ref = smi_pb2.PluginRef(name=name, version=version or "")
        return await self._run(self._ops.unload_plugin(ref))

    async def set_default_plugin(self, name: str, version: str) -> smi_pb2.PluginStatus:
        """Make `version` the plugin's default: the models following the default move to it."""
        ref = smi_pb2.PluginRef(name=name, version=version)
        return await self._run(self._ops.set_default_plugin(ref))

    async def upgrade_plugin(
        self,
        name: str,
        *,
        version: str | None = None,
        drain_timeout: float | None = None,
        **source: Unpack[PluginSource],
    ) -> smi_pb2.PluginStatus:
        """Hot swap a plugin to a new version (or source; none keeps the current one): the
        new one loads and warms up every model before calls move to it. FailedPrecondition,
        with the reason, when it does not switch; the old version then keeps serving."""
        request = upgrade_plugin_request(name, version, drain_timeout, source)
        return await self._run(self._ops.upgrade_plugin(request))

    async def remove_plugin(self, name: str, version: str | None = None) -> None:
        """Stop a plugin's process and forget it: its default version, or `version`."""
        ref = smi_pb2.PluginRef(name=name, version=version or "")
        return await self._run(self._ops.remove_plugin(ref))

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
        resources: smi_pb2.ModelResources | None = None,
        dynamic_batching: BatchingSettings = None,
        instance_count: int = 0,
    ) -> smi_pb2.ModelStatus:
        """Register a model version from a file or directory on the server, and load it.

        `files` (with sizes and sha256, relative to `files_root`) are checked by the server
        before the plugin loads anything; `resources` is what the model needs from the server's
        resource budget (InsufficientResources when it does not fit). `dynamic_batching`
        gathers concurrent requests into batches (a `DynamicBatching` message or its fields,
        for example ``{"max_queue_delay_us": 500, "preferred_batch_size": [8]}``; ``{}``: on,
        with the defaults); `instance_count` serves the model as that many instances."""
        request = register_model_request(
            name, path, plugin, version, config, files, files_root, resources,
            dynamic_batching, instance_count,
        )  # fmt: skip
        return await self._run(self._ops.register_model(request))

    async def list_models(self) -> list[smi_pb2.ModelStatus]:
        """Every registered model version."""
        return await self._run(self._ops.list_models())

    async def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        """A model with all its versions, or with only `version`."""
        return await self._run(self._ops.get_model(model_ref(name, version)))

    async def remove_model(
        self, name: str, version: str | None = None
    ) -> list[smi_pb2.ModelStatus]:
        """Unload and forget every version of a model, or only `version`; the removed ones."""
        return await self._run(self._ops.remove_model(model_ref(name, version)))

    async def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        """Inputs, outputs and platform of the version served (or of `version`)."""
        return await self._run(self._ops.model_metadata(model_ref(name, version)))

    async def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model (version) takes inference requests now."""
        return await self._run(self._ops.model_ready(model_ref(name, version)))

    # ----- tokens ------------------------------------------------------------------------

    async def create_token(
        self,
        name: str,
        role: str,
        models: Sequence[str] = (),
        ttl_seconds: int = 0,
        rate_limit: str = "",
    ) -> smi_pb2.CreateTokenResponse:
        """Create a token (admin); the answer carries its secret, this once."""
        request = create_token_request(name, role, models, ttl_seconds, rate_limit)
        return await self._run(self._ops.create_token(request))

    async def list_tokens(self) -> list[smi_pb2.TokenInfo]:
        """Every token (admin), without secrets."""
        return await self._run(self._ops.list_tokens())

    async def revoke_token(self, token_id: str) -> smi_pb2.TokenInfo:
        """Revoke a token for good (admin)."""
        return await self._run(self._ops.revoke_token(smi_pb2.TokenRef(id=token_id)))

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
        return await self._infer(Inference(model, inputs, outputs, version, binary, datatypes))

    async def _infer(self, call: Inference) -> dict[str, Array]:
        """Run one inference (a transport with a path of its own for some calls overrides it)."""
        return await self._run(self._ops.infer(call))

    # ----- lifetime ----------------------------------------------------------------------

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
