"""The plugin registry: registered plugins, their lifecycle, and the supervision of their processes.

Lifecycle: registered → loading → ready → failed / unloaded. A plugin that dies while it should
run turns `failed` at once, with a message that says how it ended (exit code or signal, or
"killed: memory limit ...") and when it restarts; the registry restarts it with exponential
back-off and, once it is ready again, asks the model registry (through `on_ready`) to load its
models back. The back-off starts over once a restarted process has stayed up `Backoff.stable`
seconds.

What may be registered is the :class:`~mlos.core.policy.AccessPolicy`'s decision; how the
process runs (directory, environment, limits) the :class:`~mlos.core.containment.Containment`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mlos.core.containment import Containment
from mlos.core.policy import AccessPolicy, check_text
from mlos.core.store import PluginRecord, RegistryStore
from mlos.core.supervisor import PluginLaunch, PluginProcess
from mlos.errors import (
    AlreadyExists,
    FailedPrecondition,
    IncompatibleVersion,
    InvalidArgument,
    MLOSError,
    NotFound,
    Unavailable,
)
from mlos.names import check_name
from mlos.sandbox.limits import Limits
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["Backoff", "PluginEntry", "PluginRegistry"]

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class Backoff:
    """Restart delays: `initial`, doubling up to `maximum`; reset after `stable` healthy seconds."""

    initial: float = 0.5
    maximum: float = 30.0
    stable: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number `attempt` (0-based)."""
        return float(min(self.maximum, self.initial * (2**attempt)))


@dataclass(slots=True)
class PluginEntry:
    """A registered plugin and what is known about it right now."""

    record: PluginRecord
    state: smi_pb2.PluginState.ValueType = smi_pb2.PLUGIN_STATE_REGISTERED
    process: PluginProcess | None = None
    info: smi_pb2.PluginInfo | None = None
    message: str = ""
    last_exit: str = ""
    """How the process last ended unasked; kept after a restart."""
    restarts: int = 0
    attempt: int = 0
    started_at: float = 0.0
    restart_task: asyncio.Task[None] | None = None
    exit_task: asyncio.Future[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    retiring: PluginProcess | None = None
    """The process a hot swap replaced, while it finishes its calls in flight."""

    @property
    def label(self) -> str:
        """The version's name inside the node (:attr:`PluginRecord.label`)."""
        return self.record.key

    @property
    def ready(self) -> bool:
        """Running and usable."""
        return (
            self.state == smi_pb2.PLUGIN_STATE_READY
            and self.process is not None
            and self.process.alive
        )


class PluginRegistry:
    """Registers, starts, stops and supervises plugins."""

    def __init__(
        self,
        store: RegistryStore,
        backoff: Backoff,
        on_ready: Callable[[str], Awaitable[None]],
        on_down: Callable[[str], None],
        *,
        policy: AccessPolicy,
        containment: Containment | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.containment = containment
        self.backoff = backoff
        self._on_ready = on_ready
        self._on_down = on_down
        self.entries: dict[str, PluginEntry] = {
            record.key: PluginEntry(record) for record in store.plugins()
        }
        """Every registered plugin version, by its label (:attr:`PluginEntry.label`)."""

    # -- queries ------------------------------------------------------------------------------

    def find(self, ref: str) -> PluginEntry | None:
        """The version a model's plugin reference names: `name@version` that version,
        a bare `name` the name's default version; None when there is none."""
        name, _, version = ref.partition("@")
        if "@" not in ref:
            entry = self.entries.get(ref)
            if entry is not None and entry.record.is_default:
                return entry  # the common case: one version, labelled with its name
        else:
            return next(
                (e for e in self.entries.values() if (e.record.name, e.record.version) == (
                    name, version)),
                None,
            )  # fmt: skip
        versions = self.versions(name)
        return next((e for e in versions if e.record.is_default), versions[0] if versions else None)

    def versions(self, name: str) -> list[PluginEntry]:
        """Every registered version of plugin `name`, by version."""
        return sorted(
            (e for e in self.entries.values() if e.record.name == name),
            key=lambda e: e.record.version,
        )

    def get(self, ref: str, version: str = "") -> PluginEntry:
        """The version `ref` names (:meth:`find`; `version`, when given, picks it), or
        NotFound."""
        if version:
            ref = f"{ref.partition('@')[0]}@{version}"
        entry = self.find(ref)
        if entry is None:
            if "@" in ref:
                name, _, version = ref.partition("@")
                if self.versions(name):
                    raise NotFound(f"plugin {name!r} has no version {version!r} registered")
                raise NotFound(f"no plugin {name!r} is registered")
            raise NotFound(f"no plugin {ref!r} is registered")
        return entry

    def client(self, name: str) -> smi_ipc.PluginClient:
        """The SMI client of a ready plugin, or Unavailable."""
        client = self.route(name).client
        assert client is not None
        return client

    def route(self, name: str) -> PluginProcess:
        """The process that calls for plugin `name` go to now (one reference, replaced at once
        by a hot swap), or FailedPrecondition / Unavailable as :meth:`client` says."""
        entry = self.get(name)
        process = entry.process
        if (
            entry.state != smi_pb2.PLUGIN_STATE_READY
            or process is None
            or process.client is None
            or not process.alive
        ):
            state = smi_pb2.PluginState.Name(entry.state).removeprefix("PLUGIN_STATE_").lower()
            if process is not None and not process.alive:
                state = "failed"
            detail = f": {entry.message}" if entry.message else ""
            if not entry.record.loaded:
                # Not meant to run (never loaded, unloaded, or its load failed) until someone
                # loads it: a precondition, not an outage (a plugin being restarted is one).
                raise FailedPrecondition(f"plugin {name!r} is {state}{detail}; load it first")
            raise Unavailable(f"plugin {name!r} is {state}{detail}")
        return process

    def status(self, name: str, models: list[str] | None = None) -> smi_pb2.PluginStatus:
        """The plugin's status message."""
        entry = self.entries[name] if name in self.entries else self.get(name)
        record = entry.record
        status = smi_pb2.PluginStatus(
            name=record.name,
            version=entry.info.version if entry.info is not None else record.version,
            state=entry.state,
            pid=entry.process.pid if entry.process is not None else 0,
            message=entry.message,
            restarts=entry.restarts,
            models=models or [],
            limits=self.limits_of(entry).to_proto(),
            sandbox=entry.process.sandbox if entry.process is not None else "",
            last_exit=entry.last_exit,
            python=record.python,
            default=record.is_default,
            label=entry.label,
            registered_version=record.version,
        )
        setattr(status.source, record.source_kind, record.source)
        if entry.info is not None:
            status.info.CopyFrom(entry.info)
        return status

    def limits_of(self, entry: PluginEntry) -> Limits:
        """The limits the plugin's process runs (or would run) under."""
        if self.containment is None:
            return entry.record.limits
        return self.containment.limits_for(entry.record.name, entry.record.limits)


    def should_run(self) -> list[PluginEntry]:
        """Plugins that are meant to be running."""
        return [entry for entry in self.entries.values() if entry.record.loaded]

    # -- lifecycle ----------------------------------------------------------------------------

    def register(self, request: smi_pb2.RegisterPluginRequest) -> PluginEntry:
        """Record a plugin version (it starts on load). A name registered already takes a
        new version beside the others (in a process of its own); the same version is
        AlreadyExists. The first version of a name is its default, as is one registered with
        `default`."""
        name = request.name
        check_name("plugin", name)
        if request.version:
            check_text("plugin version", request.version)
            if len(request.version) > 64:
                raise InvalidArgument("a plugin version is at most 64 characters")
        existing = self.versions(name)
        if existing:
            if any(e.record.version == request.version for e in existing):
                which = f" version {request.version!r}" if request.version else ""
                raise AlreadyExists(f"plugin {name!r}{which} is registered already")
            if not request.version:
                raise InvalidArgument(
                    f"plugin {name!r} is registered already; a version registered beside it "
                    "needs a version"
                )
            if "@" in request.version or "/" in request.version:
                raise InvalidArgument(
                    f"plugin version {request.version!r}: a version registered beside another "
                    "has no '@' or '/'"
                )
        kind = request.source.WhichOneof("kind") or "entry_point"
        source = self.policy.plugin_source(kind, getattr(request.source, kind) or name)
        python = request.python
        if python:
            python = self.policy.plugin_interpreter(python)
        launch = PluginLaunch(name, kind, source, python)
        launch.check()
        limits = Limits.from_proto(request.limits)
        if self.containment is not None:
            self.containment.check(self.containment.limits_for(name, limits))
        label = "" if name not in self.entries else f"{name}@{request.version}"
        first = not existing
        record = PluginRecord(
            name, request.version, kind, source, loaded=False, limits=limits, python=python,
            is_default=first, label=label,
        )  # fmt: skip
        self.store.put_plugin(record)
        entry = PluginEntry(record)
        self.entries[entry.label] = entry
        return entry

    def set_default(self, entry: PluginEntry) -> PluginEntry | None:
        """Make `entry` its name's default version (persisted); returns the previous default
        (None when `entry` was the default already). Models following the default are the
        caller's to move (:meth:`mlos.core.upgrade.PluginUpgrades.make_default`)."""
        previous = self.find(entry.record.name)
        if previous is entry:
            return None
        changed = [dataclasses.replace(entry.record, is_default=True)]
        if previous is not None:
            changed.append(dataclasses.replace(previous.record, is_default=False))
        self.store.put_plugins(changed)
        entry.record = changed[0]
        if previous is not None:
            previous.record = changed[1]
        return previous

    async def load(self, name: str) -> PluginEntry:
        """Start the plugin process (no-op when ready); remember that it should run. `name`
        is a label, or a reference (:meth:`get`)."""
        entry = self._entry(name)
        name = entry.label
        async with entry.lock:
            if entry.ready:
                return entry
            self._cancel_restart(entry)
            await self._start(entry)
            if not entry.record.loaded:
                entry.record = _with_loaded(entry.record, True)
                self.store.put_plugin(entry.record)
        await self._on_ready(name)
        return entry

    async def _start(self, entry: PluginEntry) -> None:
        record = entry.record
        entry.state = smi_pb2.PLUGIN_STATE_LOADING
        entry.message = ""
        try:
            # Checked again at every start: the configuration may have changed since.
            source = self.policy.plugin_source(record.source_kind, record.source)
            if record.python:
                self.policy.plugin_interpreter(record.python)
            limits = self.limits_of(entry)
            if self.containment is not None:
                self.containment.check(limits)
        except MLOSError as exc:
            entry.state = smi_pb2.PLUGIN_STATE_FAILED
            entry.message = exc.message
            raise
        try:
            process = await self._spawn(record, source, limits, self._instance(entry))
        except MLOSError as exc:
            entry.state = smi_pb2.PLUGIN_STATE_FAILED
            entry.message = exc.message
            entry.process = None
            raise
        assert process.info is not None
        entry.process = process
        entry.info = process.info
        entry.state = smi_pb2.PLUGIN_STATE_READY
        entry.started_at = time.monotonic()

    async def _spawn(
        self, record: PluginRecord, source: str, limits: Limits, instance: str
    ) -> PluginProcess:
        process = PluginProcess(
            PluginLaunch(record.name, record.source_kind, source, record.python),
            self._process_exited,
            self.containment,
            limits,
            instance,
        )
        info = await process.start()
        if record.version and info.version != record.version:
            await process.stop()
            raise IncompatibleVersion(
                f"plugin {record.name!r} reports version {info.version}, "
                f"registered as {record.version}"
            )
        return process

    def _entry(self, name: str) -> PluginEntry:
        """The entry labelled `name`, else the version reference `name` names."""
        entry = self.entries.get(name)
        return entry if entry is not None else self.get(name)

    def _instance(self, entry: PluginEntry) -> str:
        """A name for a new process of `entry` that no live process of it uses (its directory
        and cgroup are named after it)."""
        name = entry.label
        taken = {p.instance for p in (entry.process, entry.retiring) if p is not None}
        return next(c for c in (name, f"{name}+1", f"{name}+2") if c not in taken)

    async def spawn(self, entry: PluginEntry, record: PluginRecord) -> PluginProcess:
        """Start a process of `record` (the registration `entry` would have after a hot swap)
        beside `entry`'s own, checked as every start is; it serves nothing until
        :meth:`switch`. Stop it when it is not switched to."""
        source = self.policy.plugin_source(record.source_kind, record.source)
        if record.python:
            self.policy.plugin_interpreter(record.python)
        limits = record.limits
        if self.containment is not None:
            limits = self.containment.limits_for(record.name, record.limits)
        if self.containment is not None:
            self.containment.check(limits)
        return await self._spawn(record, source, limits, self._instance(entry))

    def switch(
        self, entry: PluginEntry, process: PluginProcess, record: PluginRecord
    ) -> PluginProcess | None:
        """Route `entry`'s calls to `process` from now on, as `record`; persist `record`.

        One synchronous step: a call that chose the old process before it finishes there; any
        later call goes to `process`. Returns the old process (now `entry.retiring`), if any.
        """
        assert process.info is not None
        self._cancel_restart(entry)
        old, entry.process = entry.process, process
        entry.retiring = old
        entry.info = process.info
        previous = entry.record
        entry.record = dataclasses.replace(record, loaded=True)
        entry.state = smi_pb2.PLUGIN_STATE_READY
        entry.message = ""
        entry.started_at = time.monotonic()
        entry.attempt = 0
        if previous.version != entry.record.version:
            self.store.replace_plugin(previous, entry.record)
        else:
            self.store.put_plugin(entry.record)
        return old

    async def unload(self, name: str) -> PluginEntry:
        """Stop the plugin process and remember that it should not run."""
        entry = self._entry(name)
        name = entry.label
        async with entry.lock:
            self._cancel_restart(entry)
            process, entry.process = entry.process, None
            entry.state = smi_pb2.PLUGIN_STATE_UNLOADED
            entry.message = ""
            self._on_down(name)
            if process is not None:
                await process.stop()
            if entry.record.loaded:
                entry.record = _with_loaded(entry.record, False)
                self.store.put_plugin(entry.record)
        return entry

    async def remove(self, name: str) -> None:
        """Stop and forget the plugin version labelled `name`."""
        entry = await self.unload(name)
        self.store.delete_plugin(entry.record.name, entry.record.version)
        del self.entries[entry.label]

    async def start_all(self) -> None:
        """Start every plugin that should run (after a restart of the core)."""
        for entry in self.should_run():
            try:
                await self.load(entry.label)
            except MLOSError as exc:
                log.error("plugin %s failed to start: %s", entry.label, exc.message)
                self._schedule_restart(entry)

    async def stop_all(self) -> None:
        """Stop every plugin process, leaving the desired state untouched."""
        for entry in self.entries.values():
            self._cancel_restart(entry)
            process, entry.process = entry.process, None
            if process is not None:
                await process.stop()
            retiring, entry.retiring = entry.retiring, None
            if retiring is not None:  # replaced by an upgrade, still finishing its calls
                await retiring.stop()

    # -- reconciliation (desired state written by another node) -------------------------------

    async def follow(self, record: PluginRecord) -> PluginEntry:
        """Match a plugin's record as the registry has it: add it when new, start it when it
        should now run, stop it when it should not. Writes nothing (the record is the
        registry's already)."""
        entry = self.entries.get(record.key)
        if entry is None:
            entry = self.entries[record.key] = PluginEntry(record)
            was_loaded = False
        else:
            was_loaded = entry.record.loaded
            entry.record = record
        if record.loaded and not was_loaded:
            try:
                await self.load(record.key)
            except MLOSError as exc:
                log.error("plugin %s failed to start: %s", record.key, exc.message)
                self._schedule_restart(entry)
        elif not record.loaded and was_loaded:
            await self.unload(record.key)
        return entry

    async def forget(self, name: str) -> None:
        """Stop and drop a plugin another node removed. Writes nothing."""
        entry = self.entries.get(name)
        if entry is None:
            return
        entry.record = _with_loaded(entry.record, False)
        await self.unload(name)
        self.entries.pop(name, None)

    # -- supervision --------------------------------------------------------------------------

    def _process_exited(self, process: PluginProcess) -> None:
        entry = next((e for e in self.entries.values() if e.process is process), None)
        if entry is None:
            return
        entry.process = None
        entry.state = smi_pb2.PLUGIN_STATE_FAILED
        entry.message = process.exit_reason
        if time.monotonic() - entry.started_at >= self.backoff.stable:
            entry.attempt = 0  # it ran long enough: the back-off starts over
        self._on_down(entry.label)
        if entry.restart_task is not None and not entry.restart_task.done():
            # It died while its restart was still loading its models: that restart goes on,
            # and how this process ended is recorded once it is known.
            entry.exit_task = asyncio.ensure_future(self._record_exit(entry, process))
        else:
            self._schedule_restart(entry, process)

    async def _record_exit(self, entry: PluginEntry, process: PluginProcess) -> None:
        await process.ended.wait()
        entry.last_exit = process.exit_reason
        if entry.process is None and entry.state == smi_pb2.PLUGIN_STATE_FAILED:
            entry.message = (
                f"{entry.last_exit}; restarting in {self.backoff.delay(entry.attempt):g} s"
            )
        log.error("plugin %s: %s", entry.label, entry.last_exit)

    def _schedule_restart(self, entry: PluginEntry, ended: PluginProcess | None = None) -> None:
        if entry.restart_task is not None and not entry.restart_task.done():
            return
        entry.restart_task = asyncio.ensure_future(self._restart(entry, ended))

    async def _restart(self, entry: PluginEntry, ended: PluginProcess | None = None) -> None:
        name = entry.label
        if ended is not None:
            await ended.ended.wait()  # reaped: its exit status is known, its cgroup gone
            entry.last_exit = ended.exit_reason
            entry.message = (
                f"{entry.last_exit}; restarting in {self.backoff.delay(entry.attempt):g} s"
            )
            log.error("plugin %s: %s", name, entry.message)
        while entry.record.loaded and not entry.ready and self.entries.get(name) is entry:
            delay = self.backoff.delay(entry.attempt)
            entry.attempt += 1
            await asyncio.sleep(delay)
            async with entry.lock:
                if entry.ready:
                    return
                try:
                    await self._start(entry)
                except MLOSError as exc:
                    entry.message = (
                        f"restart failed: {exc.message}; retrying in "
                        f"{self.backoff.delay(entry.attempt):g} s"
                    )
                    log.error("plugin %s: %s", name, entry.message)
                    continue
                entry.restarts += 1
            log.warning("plugin %s restarted (restart %d)", name, entry.restarts)
            await self._on_ready(name)

    def _cancel_restart(self, entry: PluginEntry) -> None:
        task = entry.restart_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        entry.restart_task = None


def _with_loaded(record: PluginRecord, loaded: bool) -> PluginRecord:
    return dataclasses.replace(record, loaded=loaded)
