"""Hot swap: a plugin moves to a new version (or a new source) without failing a call.

An upgrade of plugin `P`

1. starts the new version in a process of its own, beside the one serving (checked as every
   start is: allow-lists, limits, SMI version, the version asked for);
2. loads every model `P` serves into it and warms each up with one inference of zeros;
3. switches the route in one synchronous step (:meth:`PluginRegistry.switch`): calls that
   chose the old process before finish there, every later call goes to the new one, and the
   models take the metadata the new process reported;
4. waits until the old process has no call in flight (at most the drain timeout), then stops it.

Re-registering a model version with another path (or config) swaps its file the same way
(:meth:`PluginUpgrades.swap_model`): a new process of the same plugin loads every model, this
one from its new file, and takes over.

When step 1 or 2 fails, the new process is stopped and nothing switches: the answer is
FailedPrecondition (409 on REST) naming the step and the plugin's reason, and the old version
keeps serving. Upgrades of one plugin run one at a time; a crash restart waits for the switch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable

from mlos.core.digests import check_files
from mlos.core.models import LOAD_TIMEOUT, ModelEntry, ModelRegistry, load_request
from mlos.core.plugins import PluginEntry, PluginRegistry
from mlos.core.policy import check_text
from mlos.core.store import ModelRecord, PluginRecord
from mlos.core.supervisor import PluginLaunch, PluginProcess
from mlos.errors import FailedPrecondition, InvalidArgument, MLOSError
from mlos.wire.tensors import element_count, element_size, encode_bytes
from mlos_generated import smi_pb2

__all__ = ["PluginUpgrades", "warmup_request"]

log = logging.getLogger(__name__)

WARMUP_TIMEOUT = 60.0
MAX_DRAIN_TIMEOUT = 3600.0


def warmup_request(metadata: smi_pb2.ModelMetadata) -> smi_pb2.InferRequest:
    """One inference of zeros (empty strings for BYTES) for a loaded model: batch 1, every
    dynamic dimension 1."""
    request = smi_pb2.InferRequest(
        model_name=metadata.name, model_version=metadata.version, id="mlos-warmup"
    )
    for spec in metadata.inputs:
        shape = [dim if dim >= 0 else 1 for dim in spec.shape]
        count = element_count(shape)
        size = element_size(spec.datatype)
        contents = encode_bytes([b""] * count) if size is None else bytes(count * size)
        request.inputs.add(name=spec.name, datatype=spec.datatype, shape=shape, contents=contents)
    return request


class PluginUpgrades:
    """Hot swaps of the plugins of one engine."""

    def __init__(
        self, plugins: PluginRegistry, models: ModelRegistry, drain_timeout: float = 30.0
    ) -> None:
        self.plugins = plugins
        self.models = models
        self.drain_timeout = drain_timeout
        self.on_switch: Callable[[str], Awaitable[None]] | None = None
        """Called with the plugin's name once its route switched (the engine revokes the direct
        channels into the replaced process there, so their clients re-open them to the new one)."""
        self._locks: dict[str, asyncio.Lock] = {}

    async def swap_model(self, request: smi_pb2.RegisterModelRequest) -> ModelEntry | None:
        """Swap the file of a registered, ready model version when `request` registers it again
        with another path or config; None when `request` is not such a re-registration."""
        versions = self.models.entries.get(request.name, {})
        model = versions.get(request.version) if request.version else None
        if model is None:
            return None
        record = model.record
        path = self.models.policy.model_path(request.path)
        config = dict(request.config)
        if str(path) == record.path and config == record.config:
            return None  # the same registration: AlreadyExists, as before
        if request.plugin and request.plugin != record.plugin:
            raise FailedPrecondition(
                f"model {request.name!r} version {request.version!r} is served by plugin "
                f"{record.plugin!r}; remove it before registering it on {request.plugin!r}"
            )
        if not model.ready:
            raise FailedPrecondition(
                f"model {request.name!r} version {request.version!r} is not being served; a new "
                "file is swapped in only while it is (remove and register it instead)"
            )
        if request.files:
            await asyncio.to_thread(check_files, path, request.files, request.files_root)
        replaced = dataclasses.replace(record, path=str(path), config=config)
        entry = self.plugins.get(record.plugin)
        upgrade = smi_pb2.UpgradePluginRequest(name=entry.record.name)
        upgrade.version = entry.record.version
        await self.upgrade(upgrade, {_key(model): replaced}, entry)
        return model

    async def upgrade(
        self,
        request: smi_pb2.UpgradePluginRequest,
        replaced: dict[tuple[str, str], ModelRecord] | None = None,
        entry: PluginEntry | None = None,
    ) -> PluginEntry:
        """Swap plugin `request.name` to the version the request describes (see the module
        documentation); returns its entry, serving from the new process. `replaced` gives
        models new registrations (a new file), loaded in the new process instead of the old.

        The version swapped is the name's default (or `entry`); it keeps its place (its label,
        and being the default), so the models following the default move with it. Models that
        pin the version being replaced, or a target version registered beside it already,
        make it FailedPrecondition."""
        replaced = replaced or {}
        if entry is None:
            entry = self.plugins.get(request.name)
        if not entry.record.loaded:
            raise FailedPrecondition(
                f"plugin {request.name!r} is not loaded; an upgrade replaces a running plugin "
                f"(load it first: POST /v1/plugins/{request.name}/load)"
            )
        record = self._target(entry, request)
        self._check_versions(entry, record)
        drain = self._drain_timeout(request.drain_timeout_seconds)
        lock = self._locks.setdefault(request.name, asyncio.Lock())
        if lock.locked():
            raise FailedPrecondition(
                f"plugin {request.name!r} is being upgraded already; try again when it is done"
            )
        async with lock:
            started = time.monotonic()
            async with entry.lock:  # no load, unload or crash restart in between
                process = await self._start(entry, record)
                try:
                    loaded = await self._load_models(entry, process, replaced)
                except BaseException:
                    await process.stop()
                    raise
                old = self.plugins.switch(entry, process, record)
                self._adopt(entry, loaded, replaced)
            switched = time.monotonic() - started
            if self.on_switch is not None:
                await self.on_switch(entry.label)
            if old is not None:
                await self._retire(entry, old, drain)
            await self._unload_strays(entry, process, loaded)
            await self.models.reload_plugin_models(entry.label)
        log.warning(
            "plugin %s upgraded to %s (%s); switched after %.2f s",
            request.name,
            process.info.version if process.info is not None else "?",
            f"{record.source_kind} {record.source}",
            switched,
        )
        return entry

    # -- the steps ----------------------------------------------------------------------------

    def _check_versions(self, entry: PluginEntry, record: PluginRecord) -> None:
        """FailedPrecondition when the upgrade would replace a version models pin, or take a
        version registered beside it already."""
        current = entry.record
        if record.version == current.version:
            return
        name = current.name
        beside = [e for e in self.plugins.versions(name) if e is not entry]
        if any(e.record.version == record.version for e in beside):
            raise FailedPrecondition(
                f"plugin {name!r} version {record.version!r} is registered beside the one "
                f"being upgraded; register it as the default instead"
            )
        pinned = [
            f"{m.record.name}/{m.record.version}"
            for m in self.models.of_plugin(entry.label)
            if m.record.plugin != name
        ]
        if pinned and current.version:
            raise FailedPrecondition(
                f"model(s) {', '.join(pinned)} pin plugin {name!r} version "
                f"{current.version!r}; an upgrade replaces that version: register the new "
                "version beside it instead, or register those models on the plugin's default"
            )

    def _target(self, entry: PluginEntry, request: smi_pb2.UpgradePluginRequest) -> PluginRecord:
        """The plugin's registration once upgraded (checked, not yet stored)."""
        if request.version:
            check_text("plugin version", request.version)
            if len(request.version) > 64:
                raise InvalidArgument("a plugin version is at most 64 characters")
        current = entry.record
        chosen = request.source.WhichOneof("kind") if request.HasField("source") else None
        if chosen is None:
            kind, given = current.source_kind, current.source
            python = request.python or current.python
        else:
            kind, given = chosen, getattr(request.source, chosen)
            python = request.python
        policy = self.plugins.policy
        source = policy.plugin_source(kind, given or current.name)
        if python:
            python = policy.plugin_interpreter(python)
        PluginLaunch(current.name, kind, source, python).check()
        return dataclasses.replace(
            current, version=request.version, source_kind=kind, source=source, python=python,
            loaded=True,
        )  # fmt: skip

    def _drain_timeout(self, given: float) -> float:
        if given == 0:
            return self.drain_timeout
        if not math.isfinite(given) or not 0 < given <= MAX_DRAIN_TIMEOUT:
            raise InvalidArgument(
                f"drain_timeout_seconds must be between 0 and {MAX_DRAIN_TIMEOUT:g}, not {given}"
            )
        return given

    async def _start(self, entry: PluginEntry, record: PluginRecord) -> PluginProcess:
        name = entry.label
        try:
            return await self.plugins.spawn(entry, record)
        except MLOSError as exc:
            raise self._refused(name, "start", exc) from None

    async def _load_models(
        self,
        entry: PluginEntry,
        process: PluginProcess,
        replaced: dict[tuple[str, str], ModelRecord],
    ) -> dict[tuple[str, str], smi_pb2.ModelMetadata]:
        """Load and warm up in `process` every model the plugin serves, until none is left
        (a model registered meanwhile is loaded too) and none is loading in the old process."""
        name = entry.label
        loaded: dict[tuple[str, str], smi_pb2.ModelMetadata] = {}
        while True:
            models = self.models.of_plugin(name)
            pending = [m for m in models if m.ready and _key(m) not in loaded]
            if not pending:
                if any(m.state == smi_pb2.MODEL_STATE_LOADING for m in models):
                    await asyncio.sleep(0.01)  # its load ends in the old process; wait for it
                    continue
                return loaded
            for model in pending:
                record = replaced.get(_key(model), model.record)
                loaded[_key(model)] = await self._load_one(name, process, record)

    async def _load_one(
        self, plugin: str, process: PluginProcess, record: ModelRecord
    ) -> smi_pb2.ModelMetadata:
        client = process.client
        assert client is not None
        label = f"model {record.name!r} version {record.version!r}"
        try:
            response = await client.load_model(
                load_request(record, await self.models.local_path(record)),
                timeout=LOAD_TIMEOUT,
            )
        except MLOSError as exc:
            raise self._refused(plugin, f"load {label}", exc) from None
        try:
            await client.infer(warmup_request(response.metadata), timeout=WARMUP_TIMEOUT)
        except MLOSError as exc:
            raise self._refused(plugin, f"warm up {label}", exc) from None
        return response.metadata

    def _adopt(
        self,
        entry: PluginEntry,
        loaded: dict[tuple[str, str], smi_pb2.ModelMetadata],
        replaced: dict[tuple[str, str], ModelRecord],
    ) -> None:
        """The models now served by the new process take the metadata it reported, and those
        with a new file their new registration (part of the switch: no await between it and
        :meth:`PluginRegistry.switch`)."""
        for model in self.models.of_plugin(entry.label):
            metadata = loaded.get(_key(model))
            if metadata is not None and model.ready:
                model.metadata = metadata
                record = replaced.get(_key(model))
                if record is not None:
                    model.record = record
                    self.models.store.put_model(record)

    async def _retire(self, entry: PluginEntry, old: PluginProcess, drain: float) -> None:
        """Let the replaced process finish its calls in flight, then stop it."""
        try:
            if not await old.in_flight.drained(drain):
                log.warning(
                    "plugin %s: %d call(s) still in flight on the replaced process after %g s;"
                    " stopping it",
                    entry.record.name,
                    old.in_flight.count,
                    drain,
                )
            await old.stop()
        finally:
            if entry.retiring is old:
                entry.retiring = None

    async def _unload_strays(
        self,
        entry: PluginEntry,
        process: PluginProcess,
        loaded: dict[tuple[str, str], smi_pb2.ModelMetadata],
    ) -> None:
        """Unload from the new process what was removed or unloaded while it was loading."""
        serving = {_key(m) for m in self.models.of_plugin(entry.label) if m.ready}
        client = process.client
        for name, version in set(loaded) - serving:
            if client is None or not process.alive:
                return
            try:
                await client.unload_model(
                    smi_pb2.UnloadModelRequest(name=name, version=version), timeout=LOAD_TIMEOUT
                )
            except MLOSError as exc:
                log.warning("plugin %s: unloading %s/%s: %s", entry.record.name, name, version,
                            exc.message)  # fmt: skip

    def _refused(self, plugin: str, step: str, exc: MLOSError) -> FailedPrecondition:
        """The error of an upgrade that did not switch."""
        entry = self.plugins.entries.get(plugin)
        serving = ""
        if entry is not None and entry.ready and entry.info is not None:
            serving = f"; version {entry.info.version} keeps serving"
        elif entry is not None:
            serving = "; nothing switched"
        return FailedPrecondition(
            f"upgrade of plugin {plugin!r} failed: cannot {step} in the new version: "
            f"{exc.message}{serving}"
        )


def _key(model: ModelEntry) -> tuple[str, str]:
    return (model.record.name, model.record.version)
