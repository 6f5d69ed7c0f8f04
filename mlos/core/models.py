"""The model registry: models, their versions, metadata and state.

A model version is registered by loading it into a plugin; only a successful load is persisted,
so a failed registration leaves nothing behind. When a plugin goes down its models turn
`unavailable`; when it is back, `reload_plugin_models` loads them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlos import errors
from mlos.core import tracing
from mlos.core.allocator import Allocator, rss_of
from mlos.core.axon_models import AxonModel, install, is_reference
from mlos.core.batching import Scheduling
from mlos.core.budget import Demand
from mlos.core.digests import check_files
from mlos.core.plugins import PluginEntry, PluginRegistry
from mlos.core.policy import AccessPolicy
from mlos.core.store import ModelRecord, RegistryStore
from mlos.errors import FailedPrecondition, InvalidArgument, MLOSError, NotFound, Unavailable
from mlos.names import check_name
from mlos_generated import smi_pb2

__all__ = ["ModelEntry", "ModelRegistry", "load_request", "version_key"]

log = logging.getLogger(__name__)

VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
LOAD_TIMEOUT = 300.0


def _with_serving(
    request: smi_pb2.RegisterModelRequest, serving: dict[str, Any]
) -> smi_pb2.RegisterModelRequest:
    """A registration that named no scheduling, with an Axon manifest's `serving` fields."""
    given = smi_pb2.RegisterModelRequest()
    given.CopyFrom(request)
    given.instance_count = int(serving.get("instance_count", 0))
    batching = serving.get("dynamic_batching")
    if batching is not None:
        given.dynamic_batching.CopyFrom(smi_pb2.DynamicBatching(**batching))
    return given


def load_request(record: ModelRecord, local: str) -> smi_pb2.LoadModelRequest:
    """What the plugin is asked to load for `record` from the file `local`: its options, and
    its instance count and declared cores when it was registered with an instance count
    (batching alone leaves the plugin's threads as a plain registration has them)."""
    load = smi_pb2.LoadModelRequest(
        name=record.name, version=record.version, path=local, config=record.config
    )
    if record.scheduling:
        scheduling = Scheduling.of_json(record.scheduling)
        if scheduling.instances_named:
            load.instance_count = scheduling.instance_count
            load.cpus = record.resources.cpus
    return load


@functools.lru_cache(maxsize=4096)
def version_key(version: str) -> tuple[int, tuple[int, ...], str]:
    """Sort key for versions: numeric dotted versions ("2", "1.10.0") in numeric order first."""
    parts = version.split(".")
    if all(part.isdigit() for part in parts):
        return (0, tuple(int(part) for part in parts), "")
    return (1, (), version)


@dataclass(slots=True)
class ModelEntry:
    """A registered model version and what is known about it right now."""

    record: ModelRecord
    state: smi_pb2.ModelState.ValueType = smi_pb2.MODEL_STATE_UNAVAILABLE
    metadata: smi_pb2.ModelMetadata | None = None
    message: str = ""

    @property
    def ready(self) -> bool:
        """Loaded in a running plugin."""
        return self.state == smi_pb2.MODEL_STATE_READY and self.metadata is not None

    def status(self) -> smi_pb2.ModelStatus:
        """The model version's status message."""
        record = self.record
        status = smi_pb2.ModelStatus(
            name=record.name,
            version=record.version,
            plugin=record.plugin,
            path=record.path,
            state=self.state,
            message=self.message,
            config=record.config,
        )
        if self.metadata is not None:
            status.metadata.CopyFrom(self.metadata)
        if record.scheduling:
            Scheduling.of_json(record.scheduling).to_status(status)
        return status


class ModelRegistry:
    """Registers model versions and keeps them loaded in their plugins."""

    def __init__(self, store: RegistryStore, plugins: PluginRegistry) -> None:
        self.store = store
        self.plugins = plugins
        self.policy: AccessPolicy = plugins.policy
        self.entries: dict[str, dict[str, ModelEntry]] = {}
        for record in store.models():
            self.entries.setdefault(record.name, {})[record.version] = ModelEntry(record)
        self._locks: dict[str, asyncio.Lock] = {}
        self.allocator: Allocator | None = None
        """The resource manager's allocator: admits every load against the budget."""

    # -- queries ------------------------------------------------------------------------------

    def versions(self, name: str) -> dict[str, ModelEntry]:
        """Every version of `name`, or NotFound."""
        versions = self.entries.get(name)
        if not versions:
            raise NotFound(f"no model {name!r} is registered")
        return versions

    def get(self, name: str, version: str = "") -> ModelEntry:
        """One version, or the latest when `version` is empty."""
        versions = self.versions(name)
        if not version:
            return versions[max(versions, key=version_key)]
        try:
            return versions[version]
        except KeyError:
            raise NotFound(f"model {name!r} has no version {version!r}") from None

    def ready(self, name: str, version: str = "") -> ModelEntry:
        """The version to serve: the one asked for, or the latest ready one; else an error."""
        if version:
            entry = self.get(name, version)
        else:
            versions = self.versions(name)
            if len(versions) == 1:  # the common case: nothing to choose
                (entry,) = versions.values()
            else:
                candidates = [e for e in versions.values() if e.ready]
                if not candidates:
                    entry = self.get(name)
                else:
                    entry = max(candidates, key=lambda e: version_key(e.record.version))
        if not entry.ready:
            state = smi_pb2.ModelState.Name(entry.state).removeprefix("MODEL_STATE_").lower()
            detail = f": {entry.message}" if entry.message else ""
            message = f"model {name!r} version {entry.record.version!r} is {state}{detail}"
            # Unloaded on purpose (the model, or its plugin) until someone loads it: a
            # precondition; anything else (a plugin restarting) passes: unavailable for now.
            plugin = self.plugins.find(entry.record.plugin)
            if entry.state == smi_pb2.MODEL_STATE_UNLOADED or (
                plugin is not None and not plugin.record.loaded
            ):
                raise FailedPrecondition(message)
            raise Unavailable(message)
        return entry

    def all(self) -> list[ModelEntry]:
        """Every model version, by name then version."""
        return [
            entry
            for name in sorted(self.entries)
            for _, entry in sorted(self.entries[name].items(), key=lambda kv: version_key(kv[0]))
        ]

    def of_plugin(self, plugin: str) -> list[ModelEntry]:
        """Model versions served by the plugin version labelled `plugin` (the models pinning
        it, and those following its name's default when it is the default)."""
        target = self.plugins.entries.get(plugin)
        if target is None:
            return [entry for entry in self.all() if entry.record.plugin == plugin]
        find = self.plugins.find
        return [entry for entry in self.all() if find(entry.record.plugin) is target]

    async def follow_default(self, entry: PluginEntry) -> None:
        """Make plugin version `entry` its name's default; the models following the default
        (naming no version) move to it: unloaded from the old default, loaded again in `entry`
        once it is ready (at once when it is)."""
        before = self.plugins.set_default(entry)
        if before is not None:
            await self.follow_moved_default(before, entry)
        elif entry.ready:
            await self.reload_plugin_models(entry.label)

    async def follow_moved_default(self, before: PluginEntry, after: PluginEntry) -> None:
        """`after` is the default in place of `before` now (both records say so already, made
        here or by another node): the models following the default turn unavailable, leave
        `before`'s process and load in `after`'s when it runs. Writes nothing."""
        name = after.record.name
        client = before.process.client if before.process is not None else None
        for model in [m for m in self.all() if m.record.plugin == name]:
            async with self._lock(model.record.name):
                was = model.state
                if was in (smi_pb2.MODEL_STATE_READY, smi_pb2.MODEL_STATE_LOADING):
                    # Unavailable (503) at once: calls already route to `after`, which has not
                    # loaded it yet.
                    model.state = smi_pb2.MODEL_STATE_UNAVAILABLE
                    model.message = f"moving to plugin {name!r} version {after.record.version!r}"
                if was == smi_pb2.MODEL_STATE_READY and client is not None:
                    try:
                        await client.unload_model(
                            smi_pb2.UnloadModelRequest(
                                name=model.record.name, version=model.record.version
                            ),
                            timeout=LOAD_TIMEOUT,
                        )
                    except MLOSError as exc:
                        log.warning("unloading %s/%s from %s: %s", model.record.name,
                                    model.record.version, before.label, exc.message)  # fmt: skip
                if self.allocator is not None:
                    self.allocator.unloaded(model.record.name, model.record.version)
        if after.ready:
            await self.reload_plugin_models(after.label)

    # -- registration -------------------------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def register(self, request: smi_pb2.RegisterModelRequest) -> ModelEntry:
        """Load a new model version into its plugin and persist it."""
        name = request.name
        check_name("model", name)
        if request.version and not VERSION.match(request.version):
            raise InvalidArgument(f"model version {request.version!r} is not a valid version")
        demand = Demand.from_proto(request.resources)
        scheduling = Scheduling.of_request(request)
        stored = ""
        if is_reference(request.path):
            installed = await asyncio.to_thread(_install_verified, request.path)
            if scheduling is None and installed.serving:
                scheduling = Scheduling.of_request(_with_serving(request, installed.serving))
            path = self.policy.model_path(str(installed.entry))
            plugin = request.plugin or installed.plugin
            stored = installed.reference  # pinned: every node loads this very version
            version_given = request.version or installed.version
        else:
            path = self.policy.model_path(request.path)
            plugin = request.plugin or self._choose_plugin(path)
            version_given = request.version
        plugin_entry = self.plugins.get(plugin)
        if "@" in plugin and not plugin_entry.record.version:
            raise InvalidArgument(f"plugin reference {plugin!r} names no version")
        if plugin_entry.state in (smi_pb2.PLUGIN_STATE_REGISTERED, smi_pb2.PLUGIN_STATE_UNLOADED):
            raise FailedPrecondition(
                f"plugin {plugin!r} is not loaded; load it first (POST /v1/plugins/{plugin}/load)"
            )
        if request.files:  # declared sizes and digests, checked before the plugin sees a byte
            await asyncio.to_thread(check_files, path, request.files, request.files_root)
        async with self._lock(name):
            existing = self.entries.get(name, {})
            version = version_given or _next_version(existing)
            if version in existing:
                raise errors.AlreadyExists(
                    f"model {name!r} version {version!r} is registered already"
                )
            record = ModelRecord(
                name, version, plugin, stored or str(path), dict(request.config), True, demand
            )
            if scheduling is not None:
                record = dataclasses.replace(record, scheduling=scheduling.to_json())
            entry = ModelEntry(record, state=smi_pb2.MODEL_STATE_LOADING)
            # The path was checked against the model roots a moment ago (local ones only).
            loading = asyncio.ensure_future(
                self._load(entry, raise_errors=True, local=None if stored else str(path))
            )
            # A local file's load runs up to waiting for the plugin's answer (a reference first
            # resolves its file, and the row is then written before the request leaves).
            await asyncio.sleep(0)
            await self._persist_while_loading(entry, loading, scheduling)
            self.entries.setdefault(name, {})[version] = entry
        return entry

    async def _persist_while_loading(
        self, entry: ModelEntry, loading: asyncio.Future[None], scheduling: Scheduling | None
    ) -> None:
        """Write the registration's row while the plugin loads the model, then wait for the
        load: the answer waits for both, not for one after the other. All or nothing: a load
        that fails (or a model the scheduling settings do not fit) removes the row again, and
        a row that cannot be written unloads the model."""
        record = entry.record
        try:
            self.store.put_model(record)
        except BaseException:
            with contextlib.suppress(Exception):
                await loading
                await self._unload_from_plugin(entry)
            raise
        try:
            await loading
            if scheduling is not None and entry.metadata is not None:
                try:
                    scheduling.check(entry.metadata)
                except MLOSError:
                    await self._unload_from_plugin(entry)
                    raise
        except BaseException:
            self.store.delete_model(record.name, record.version)
            raise

    def _choose_plugin(self, path: Path) -> str:
        """The ready plugin that claims the file's extension (or a file's inside a directory)."""
        suffixes = (
            {path.suffix.lower()}
            if path.is_file()
            else {child.suffix.lower() for child in path.iterdir() if child.is_file()}
        )
        matches = sorted({
            entry.record.name
            for entry in self.plugins.entries.values()
            if entry.ready
            and entry.info is not None
            and suffixes & {ext.lower() for ext in entry.info.capabilities.file_extensions}
        })  # fmt: skip
        if len(matches) == 1:
            return matches[0]
        # What is loaded, not the request, decides: the plugins' state is the precondition.
        if not matches:
            raise FailedPrecondition(
                f"no ready plugin accepts {path.name!r}; name a plugin or load one first"
            )
        raise FailedPrecondition(
            f"several plugins accept {path.name!r} ({', '.join(sorted(matches))}); name one"
        )

    async def local_path(self, record: ModelRecord) -> str:
        """The file a plugin loads for `record`: its path, or an Axon reference installed into
        this node's own cache and verified; checked against the model roots (they may have
        changed since it was registered)."""
        local = record.path
        if is_reference(local):
            local = str((await asyncio.to_thread(_install_verified, local)).entry)
        self.policy.model_path(local)
        return local

    async def _load(
        self, entry: ModelEntry, *, raise_errors: bool, local: str | None = None
    ) -> None:
        """Load `entry` into its plugin; `local` is the file to load when the caller has just
        resolved and checked it (:meth:`local_path` otherwise)."""
        record = entry.record
        entry.state = smi_pb2.MODEL_STATE_LOADING
        allocator = self.allocator
        rss_before = pid = 0
        try:
            if local is None:
                local = await self.local_path(record)
            client = self.plugins.client(record.plugin)
            load = load_request(record, local)
            if allocator is not None:
                plugin = self.plugins.get(record.plugin)
                allocator.admit(
                    record.name,
                    record.version,
                    record.plugin,
                    Path(local),
                    record.resources,
                    plugin.info.name if plugin.info is not None else "",
                    copies=load.instance_count,
                )
                pid = plugin.process.pid if plugin.process is not None else 0
                rss_before = rss_of(pid)
            trace = tracing.current()
            if trace is not None:
                trace.loading(load)
            response = await client.load_model(load, timeout=LOAD_TIMEOUT)
        except MLOSError as exc:
            if allocator is not None and not isinstance(exc, errors.InsufficientResources):
                allocator.unloaded(record.name, record.version)
            entry.state = (
                smi_pb2.MODEL_STATE_UNAVAILABLE
                if isinstance(exc, Unavailable)
                else smi_pb2.MODEL_STATE_FAILED
            )
            entry.message = exc.message
            if raise_errors:
                raise
            log.error("model %s/%s failed to load: %s", record.name, record.version, exc.message)
            return
        except BaseException:  # cancelled: the load may or may not have happened; no grant kept
            if allocator is not None:
                allocator.unloaded(record.name, record.version)
            raise
        if allocator is not None:
            allocator.loaded(record.name, record.version, rss_before, pid)
        entry.metadata = response.metadata
        entry.state = smi_pb2.MODEL_STATE_READY
        entry.message = ""
        log.info("model %s/%s loaded by plugin %s", record.name, record.version, record.plugin)

    async def remove(self, name: str, version: str = "") -> list[ModelEntry]:
        """Unload and forget one version, or every version when `version` is empty."""
        async with self._lock(name):
            versions = self.versions(name)
            chosen = [self.get(name, version)] if version else list(versions.values())
            for entry in chosen:
                await self._unload_from_plugin(entry)
                self.store.delete_model(name, entry.record.version)
                del versions[entry.record.version]
            if not versions:
                del self.entries[name]
        return chosen

    async def set_loaded(self, name: str, loaded: bool, version: str = "") -> list[ModelEntry]:
        """Load or unload registered versions while keeping them registered."""
        async with self._lock(name):
            chosen = [self.get(name, version)] if version else list(self.versions(name).values())
            for entry in chosen:
                if loaded:
                    await self._load(entry, raise_errors=True)
                else:
                    await self._unload_from_plugin(entry)
                    entry.state = smi_pb2.MODEL_STATE_UNLOADED
                record = entry.record
                if record.loaded != loaded:
                    entry.record = dataclasses.replace(record, loaded=loaded)
                    self.store.put_model(entry.record)
        return chosen

    async def _unload_from_plugin(self, entry: ModelEntry) -> None:
        if self.allocator is not None:
            self.allocator.unloaded(entry.record.name, entry.record.version)
        if entry.state != smi_pb2.MODEL_STATE_READY:
            return
        try:
            client = self.plugins.client(entry.record.plugin)
            await client.unload_model(
                smi_pb2.UnloadModelRequest(name=entry.record.name, version=entry.record.version),
                timeout=LOAD_TIMEOUT,
            )
        except Unavailable:
            pass  # the process is gone, and the model with it

    def ensure_plugin_unused(self, plugin: str) -> None:
        """FailedPrecondition when models are registered on `plugin`."""
        used = [f"{e.record.name}/{e.record.version}" for e in self.of_plugin(plugin)]
        if used:
            raise FailedPrecondition(
                f"plugin {plugin!r} serves model(s) {', '.join(used)}; remove them first"
            )

    # -- reconciliation (desired state written by another node) -------------------------------

    async def adopt(self, record: ModelRecord) -> ModelEntry:
        """Take a version another node registered: add it and load it when it should be
        loaded and its plugin is ready (else its plugin's start loads it). Writes nothing."""
        async with self._lock(record.name):
            entry = self.entries.get(record.name, {}).get(record.version)
            if entry is not None:
                return entry
            entry = ModelEntry(record)
            if not record.loaded:
                entry.state = smi_pb2.MODEL_STATE_UNLOADED
            self.entries.setdefault(record.name, {})[record.version] = entry
            plugin = self.plugins.find(record.plugin)
            if record.loaded and plugin is not None and plugin.ready:
                await self._load(entry, raise_errors=False)
        return entry

    async def follow(self, record: ModelRecord) -> ModelEntry:
        """Apply a changed record of a known version (loaded or not, path, config): load,
        unload or reload it to match. Writes nothing."""
        async with self._lock(record.name):
            entry = self.get(record.name, record.version)
            old, entry.record = entry.record, record
            if not record.loaded:
                await self._unload_from_plugin(entry)
                entry.state = smi_pb2.MODEL_STATE_UNLOADED
                return entry
            if old.loaded and entry.ready and (old.path, old.config, old.plugin) == (
                record.path,
                record.config,
                record.plugin,
            ):
                return entry
            if old.plugin == record.plugin:
                await self._unload_from_plugin(entry)
            plugin = self.plugins.find(record.plugin)
            if plugin is not None and plugin.ready:
                await self._load(entry, raise_errors=False)
            else:
                entry.state = smi_pb2.MODEL_STATE_UNAVAILABLE
        return entry

    async def forget(self, name: str, version: str) -> ModelEntry | None:
        """Unload and drop a version another node removed. Writes nothing."""
        async with self._lock(name):
            versions = self.entries.get(name, {})
            entry = versions.get(version)
            if entry is None:
                return None
            await self._unload_from_plugin(entry)
            del versions[version]
            if not versions:
                self.entries.pop(name, None)
        return entry

    # -- plugin events ------------------------------------------------------------------------

    async def reload_plugin_models(self, plugin: str) -> None:
        """Load every model that should be loaded on `plugin` (it just became ready)."""
        for entry in self.of_plugin(plugin):
            if entry.record.loaded and not entry.ready:
                await self._load(entry, raise_errors=False)

    def plugin_down(self, plugin: str) -> None:
        """Mark the models of a stopped or dead plugin unavailable."""
        for entry in self.of_plugin(plugin):
            if entry.state in (smi_pb2.MODEL_STATE_READY, smi_pb2.MODEL_STATE_LOADING):
                entry.state = smi_pb2.MODEL_STATE_UNAVAILABLE
                entry.message = f"plugin {plugin!r} is not running"


def _install_verified(reference: str) -> AxonModel:
    """Install an Axon reference into this node's cache and check every file of its manifest
    (blocking)."""
    installed = install(reference)
    files = [
        smi_pb2.ModelFile(path=p, size=size, sha256=digest) for p, size, digest in installed.files
    ]
    check_files(installed.entry, files, str(installed.root))
    return installed


def _next_version(existing: dict[str, ModelEntry]) -> str:
    numeric = [int(v) for v in existing if v.isdigit()]
    return str(max(numeric, default=0) + 1)
