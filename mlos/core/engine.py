"""The core engine: the one dataplane behind every transport.

REST, gRPC and IPC adapters decode a request, call one method here, and encode the answer.
Every rule — lifecycle, validation, version resolution, statistics — lives here or below.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import mlos
from mlos.config import DEFAULT_RATE_LIMITS, default_model_roots
from mlos.core import calls, tracing
from mlos.core.allocator import Allocator
from mlos.core.arena import Arenas, sweep
from mlos.core.audit import AuditLog
from mlos.core.auth import ROLE_NAMES, Authenticator, Principal, role_by_name
from mlos.core.batching import Scheduling
from mlos.core.channels import ChannelBroker
from mlos.core.containment import Containment
from mlos.core.dataplane import Attachments
from mlos.core.exchange import Hop, attach, exchange
from mlos.core.limits import Admission, Rate, RateLimiter
from mlos.core.log_settings import LogSettings
from mlos.core.metrics import Metrics
from mlos.core.model_config import model_config
from mlos.core.models import ModelRegistry
from mlos.core.nodes import NodeReport
from mlos.core.pipeline import Call, Pipeline
from mlos.core.plugins import Backoff, PluginRegistry
from mlos.core.policy import AccessPolicy
from mlos.core.reconcile import Reconciler
from mlos.core.resources import ResourceMonitor
from mlos.core.scheduling import Schedulers
from mlos.core.shm import Region, RegionStatus, SystemSharedMemory
from mlos.core.stats import StatsBook, failure_reason
from mlos.core.store import RegistryStore
from mlos.core.tokens import ADMIN_TOKEN_FILE, TokenBook, ensure_admin_token
from mlos.core.trace_settings import TraceSettings, TraceValue
from mlos.core.tracing import Tracer
from mlos.core.upgrade import PluginUpgrades
from mlos.errors import FailedPrecondition, InvalidArgument, MLOSError, NotFound
from mlos.input_limits import InputLimits, check_strings
from mlos.loop import PLUGIN_BUSY_POLL_ENV
from mlos.telemetry import DEFAULT_ENDPOINT, ENDPOINT_ENV, Exporting
from mlos.validation import check_infer_request
from mlos_generated import inference_pb2, smi_pb2

__all__ = ["Engine", "EngineSettings"]

CudaRegionStatus = inference_pb2.CudaSharedMemoryStatusResponse.RegionStatus

INFER_TIMEOUT = 60.0
EXTENSIONS = [
    "binary_tensor_data",
    "model_configuration",
    "statistics",
    "model_repository",
    "system_shared_memory",
    "trace",
    "logging",
]
_SERVER_METADATA = smi_pb2.ServerMetadata(
    name="mlos", version=mlos.__version__, extensions=EXTENSIONS
)


class EngineSettings(Protocol):
    """What the engine needs from the server settings."""

    @property
    def home(self) -> Path:
        """The MLOS home directory (registry database, sockets, demo models)."""

    @property
    def log_level(self) -> str:
        """Log level, passed on to plugin processes."""

    @property
    def restart_backoff_initial(self) -> float:
        """Seconds before the first restart of a dead plugin."""

    @property
    def restart_backoff_max(self) -> float:
        """Longest wait between restarts of a plugin that keeps dying."""


_OPTIONAL_SETTINGS: dict[str, Any] = {
    "restart_backoff_stable": 60.0,
    "model_roots": (),
    "plugin_modules": (),
    "plugin_executables": (),
    "plugin_python_path": (),
    "plugin_env": (),
    "plugin_limits": {},
    "plugin_cgroup": "auto",
    "plugin_busy_poll_us": 0,
    "upgrade_drain_timeout": 30.0,
    "budget_memory": 0,
    "budget_cpus": (),
    "gpus": "auto",
    "gpu_sharing": False,
    "plugin_resources": {},
    "memory_factors": {},
}
"""Settings the engine reads when they are there (`mlos.config.Settings` has them all), with
the value it uses otherwise: nothing allowed beyond installed plugins and the default roots."""


def _setting(settings: EngineSettings, name: str) -> Any:
    return getattr(settings, name, _OPTIONAL_SETTINGS[name])


class Engine:
    """Plugins, models, inference, health and resources of one MLOS node."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.home = Path(settings.home).expanduser()
        self.home.mkdir(parents=True, exist_ok=True)
        # The registry database: the settings' URL (SQLite or a PostgreSQL shared by several
        # nodes), else the embedded SQLite file in the home.
        url = getattr(settings, "database_url", "") or f"sqlite:///{self.home / 'registry.db'}"
        self.store = RegistryStore(url)
        backoff = Backoff(
            initial=settings.restart_backoff_initial,
            maximum=settings.restart_backoff_max,
            stable=_setting(settings, "restart_backoff_stable"),
        )
        self.policy = AccessPolicy(
            model_roots=_setting(settings, "model_roots") or default_model_roots(self.home),
            plugin_modules=_setting(settings, "plugin_modules"),
            plugin_executables=_setting(settings, "plugin_executables"),
        )
        self.containment = Containment(
            self.home,
            python_path=_setting(settings, "plugin_python_path"),
            env_entries=_setting(settings, "plugin_env"),
            limits=_setting(settings, "plugin_limits"),
            cgroup=_setting(settings, "plugin_cgroup"),
            host_env={
                "MLOS_LOG_LEVEL": settings.log_level.upper(),
                PLUGIN_BUSY_POLL_ENV: str(_setting(settings, "plugin_busy_poll_us")),
                ENDPOINT_ENV: getattr(settings, "trace_endpoint", None) or DEFAULT_ENDPOINT,
                "MLOS_LOG_FORMAT": getattr(settings, "log_format", "default"),
            },
        )
        self.plugins = PluginRegistry(
            self.store,
            backoff,
            self._plugin_ready,
            self._plugin_down,
            policy=self.policy,
            containment=self.containment,
        )
        self.models = ModelRegistry(self.store, self.plugins)
        self.upgrades = PluginUpgrades(
            self.plugins, self.models, _setting(settings, "upgrade_drain_timeout")
        )
        self.allocator = Allocator.create(
            memory_bytes=_setting(settings, "budget_memory") or 0,
            cpus=tuple(_setting(settings, "budget_cpus") or ()),
            gpus=_setting(settings, "gpus"),
            gpu_sharing=_setting(settings, "gpu_sharing"),
            plugin_resources=_setting(settings, "plugin_resources"),
            memory_factors=_setting(settings, "memory_factors"),
        )
        self.containment.allocator = self.allocator
        self.models.allocator = self.allocator
        self.resource_monitor = ResourceMonitor()
        self.stats = StatsBook()
        self.shm = SystemSharedMemory()
        self.arenas = Arenas()
        self.schedulers = Schedulers(self.plugins, self.arenas, timeout=INFER_TIMEOUT)
        self.tokens = TokenBook(self.store)
        self.auth = bool(getattr(settings, "auth", False))
        self.pipeline = Pipeline()
        audit_path = getattr(settings, "audit_log", None)
        self.audit = AuditLog(Path(audit_path)) if audit_path else None
        if self.audit is not None:
            self.pipeline.add(self.audit, order=5)
        rates = {**DEFAULT_RATE_LIMITS, **(getattr(settings, "rate_limits", None) or {})}
        self.rate_limiter = RateLimiter(
            {role: Rate.parse(rates[name]) for role, name in ROLE_NAMES.items()},
            Rate.parse(rates["anonymous"]),
            self.tokens.rate_limit_of,
            unauthenticated_role=None if self.auth else smi_pb2.ROLE_ADMIN,
        )
        self.pipeline.add(self.rate_limiter, order=20)
        self.limits = InputLimits.of(settings)
        self.admission = Admission(int(getattr(settings, "max_in_flight_per_model", 512)))
        self.channels = ChannelBroker(
            self.plugins,
            self.models,
            self.stats,
            self.limits,
            int(getattr(settings, "max_body_bytes", 64 * 2**20)),
            self.tokens,
            self.rate_limiter,
            self.admission,
        )
        self.upgrades.on_switch = self.channels.revoke_plugin
        self.pipeline.add(self.admission, order=30)
        if self.auth:
            uid_roles = getattr(settings, "ipc_uid_roles", None) or {}
            self.pipeline.add(
                Authenticator(
                    self.tokens, {uid: role_by_name(role) for uid, role in uid_roles.items()}
                ),
                order=10,
            )
        self.metrics = Metrics(
            self.stats,
            self.models,
            self.plugins,
            self.resource_monitor,
            version=mlos.__version__,
            is_ready=self.is_ready,
            pending=self.schedulers.depth,
        )
        self.pipeline.add(self.metrics.calls, calls.ORDER)
        self.trace_settings = TraceSettings()
        self.trace_settings.update("", {
            name: getattr(settings, name) for name in ("trace_level", "trace_rate", "trace_count")
            if getattr(settings, name, None) is not None
        })
        self.tracer = Tracer(
            self.trace_settings,
            Exporting.otlp(
                getattr(settings, "trace_endpoint", None) or DEFAULT_ENDPOINT, "mlos"
            ),
        )
        self.pipeline.add(self.tracer, tracing.ORDER)
        self.log_settings = LogSettings(
            settings.log_level, log_format=getattr(settings, "log_format", "default")
        )
        self.started = False
        self.draining = False
        """The node is stopping: readiness is false while requests in flight finish."""
        self.reconciler: Reconciler | None = None
        self.node_id = str(getattr(settings, "node_id", "") or socket.gethostname())
        self.node_address = ""
        self.node_grpc_address = ""
        self.started_at = time.time()

    # -- lifetime -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every plugin that should run and load its models (state from the registry)."""
        sweep()  # shared-memory segments left by a core that was killed
        if self.auth:
            ensure_admin_token(self.tokens, self.home / ADMIN_TOKEN_FILE)
        await self.plugins.start_all()
        interval = float(getattr(self.settings, "reconcile_interval", 2.0))
        self.reconciler = Reconciler(self, interval=interval)
        await self.reconciler.start()
        self.started = True
        await self.reconciler.heartbeat()  # ready now: say so without waiting for the next pass

    async def stop(self) -> None:
        """Stop every plugin process; the registry keeps what should run next time."""
        self.started = False
        self.schedulers.close()
        await self.channels.close()
        if self.reconciler is not None:
            await self.reconciler.stop()
        await self.plugins.stop_all()
        self.containment.close()
        self.arenas.close()
        self.shm.close()
        self.resource_monitor.close()
        self.allocator.close()
        if self.audit is not None:
            self.audit.close()
        if self.tracer.exporting.provider is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.tracer.exporting.shutdown)
        self.store.close()

    async def _plugin_ready(self, plugin: str) -> None:
        process = self.plugins.entries[plugin].process
        self.arenas.set_owner(plugin, process.uid if process is not None else -1)
        self.allocator.plugin_started(plugin, process.pid if process is not None else 0)
        await self.models.reload_plugin_models(plugin)

    def _plugin_down(self, plugin: str) -> None:
        self.channels.forget_plugin(plugin)
        self.models.plugin_down(plugin)
        self.arenas.drop(plugin)
        self.allocator.plugin_stopped(plugin)

    # -- health -------------------------------------------------------------------------------

    async def health(self) -> smi_pb2.HealthResponse:
        """Live when the core runs; ready when every plugin that should run is ready."""
        plugins = [self._plugin_status(name) for name in sorted(self.plugins.entries)]
        return smi_pb2.HealthResponse(live=True, ready=self.is_ready(), plugins=plugins)

    def is_ready(self) -> bool:
        """The readiness that `health` reports, without building the message: started, not
        draining, matched to the registry once, every plugin that should run ready."""
        return (
            self.started
            and not self.draining
            and (self.reconciler is None or self.reconciler.synced)
            and all(entry.ready for entry in self.plugins.should_run())
        )

    # -- cluster ------------------------------------------------------------------------------

    def identify(self, node_id: str, address: str, grpc_address: str) -> None:
        """Name this node and say where it serves, for its heartbeat (before `start`)."""
        if node_id:
            self.node_id = node_id
        self.node_address = address
        self.node_grpc_address = grpc_address

    async def drain(self) -> None:
        """Turn readiness false for good (the node is stopping) and say so in the registry."""
        self.draining = True
        if self.reconciler is not None:
            await self.reconciler.heartbeat()

    def report(self, converged: bool) -> NodeReport:
        """This node's actual state, as its heartbeat writes it."""
        states = smi_pb2.ModelState.Name
        models = []
        for e in self.models.all():
            model = {
                "name": e.record.name,
                "version": e.record.version,
                "state": states(e.state).removeprefix("MODEL_STATE_").lower(),
            }
            if e.message:
                model["message"] = e.message
            models.append(model)
        plugins = [
            {
                "name": name,
                "state": smi_pb2.PluginState.Name(entry.state)
                .removeprefix("PLUGIN_STATE_")
                .lower(),
            }
            for name, entry in sorted(self.plugins.entries.items())
        ]
        return NodeReport(
            id=self.node_id,
            address=self.node_address,
            grpc_address=self.node_grpc_address,
            version=mlos.__version__,
            started_at=self.started_at,
            heartbeat_at=time.time(),
            ready=self.is_ready(),
            converged=converged,
            draining=self.draining,
            models=tuple(models),
            plugins=tuple(plugins),
        )

    async def _catch_up(self) -> None:
        """Apply what other nodes wrote to the registry before changing it through this one."""
        if self.reconciler is not None and self.started:
            await self.reconciler.catch_up()

    def model_dropped(self, name: str, version: str) -> None:
        """Forget the statistics (and, with its last version, the trace settings) of a model
        version another node removed."""
        self.stats.drop(name, version)
        if name not in self.models.entries:
            self.trace_settings.forget(name)

    async def tokens_revoked(self, token_ids: list[str]) -> None:
        """Close the direct channels granted to tokens another node revoked."""
        for token_id in token_ids:
            await self.channels.revoke_principal(f"token:{token_id}")

    async def cluster_status(self) -> dict[str, Any]:
        """Every node sharing this registry as its last heartbeat reports it (`/v1/cluster`)."""
        reconciler = self.reconciler
        interval = reconciler.interval if reconciler is not None else 2.0
        lost_after = max(3 * interval, 5.0)
        nodes = await asyncio.to_thread(self.store_nodes)
        now = time.time()
        return {
            "node": self.node_id,
            "database": self.store.dialect,
            "listening": bool(reconciler is not None and reconciler.listening),
            "lost_after_seconds": lost_after,
            "nodes": [node.to_json(now, lost_after) for node in nodes],
        }

    def store_nodes(self) -> list[NodeReport]:
        """Every node's last report (blocking)."""
        if self.reconciler is None:
            return [self.report(False)]
        return self.reconciler.nodes.all()

    # -- plugins ------------------------------------------------------------------------------

    def _plugin_status(self, name: str) -> smi_pb2.PluginStatus:
        models = [f"{e.record.name}/{e.record.version}" for e in self.models.of_plugin(name)]
        return self.plugins.status(name, models)

    async def register_plugin(self, request: smi_pb2.RegisterPluginRequest) -> smi_pb2.PluginStatus:
        """Register a plugin, or another version of a registered one; it starts on
        `load_plugin`. A version registered as the default takes the models that follow it."""
        await self._catch_up()
        check_strings(request, self.limits)
        entry = self.plugins.register(request)
        if request.default and not entry.record.is_default:
            await self.models.follow_default(entry)
        return self._plugin_status(entry.label)

    async def list_plugins(self) -> smi_pb2.ListPluginsResponse:
        """Every registered plugin."""
        return smi_pb2.ListPluginsResponse(
            plugins=[self._plugin_status(name) for name in sorted(self.plugins.entries)]
        )

    async def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """One plugin version's status (`name`, its default version, or `name@version`)."""
        return self._plugin_status(self.plugins.get(name).label)

    async def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Start the plugin process and load its models."""
        await self._catch_up()
        label = self.plugins.get(name).label
        await self.plugins.load(label)
        return self._plugin_status(label)

    async def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Stop the plugin process; its models stay registered and become unavailable."""
        await self._catch_up()
        label = self.plugins.get(name).label
        await self.channels.revoke_plugin(label)
        await self.plugins.unload(label)
        return self._plugin_status(label)

    async def upgrade_plugin(
        self, request: smi_pb2.UpgradePluginRequest
    ) -> smi_pb2.PluginStatus:
        """Hot swap a plugin to a new version or source (:mod:`mlos.core.upgrade`)."""
        check_strings(request, self.limits)
        entry = await self.upgrades.upgrade(request)
        return self._plugin_status(entry.label)

    async def set_default_plugin(self, name: str, version: str) -> smi_pb2.PluginStatus:
        """Make version `version` of plugin `name` its default; the models that follow the
        default move to it (:meth:`ModelRegistry.follow_default`)."""
        await self._catch_up()
        if not version:
            raise InvalidArgument("name the version to make the default")
        entry = self.plugins.get(name, version)
        if not entry.record.is_default:
            await self.models.follow_default(entry)
        return self._plugin_status(entry.label)

    async def remove_plugin(self, name: str) -> None:
        """Stop and forget a plugin that serves no model."""
        await self._catch_up()
        entry = self.plugins.get(name)
        label = entry.label
        self.models.ensure_plugin_unused(label)
        others = [e for e in self.plugins.versions(entry.record.name) if e is not entry]
        if entry.record.is_default and others:
            raise FailedPrecondition(
                f"plugin {entry.record.name!r} version {entry.record.version!r} is the default "
                f"of {len(others)} other version(s); register another version as the default "
                "or remove those first"
            )
        await self.channels.revoke_plugin(label)
        await self.plugins.remove(label)

    # -- models -------------------------------------------------------------------------------

    async def register_model(self, request: smi_pb2.RegisterModelRequest) -> smi_pb2.ModelStatus:
        """Load a model version into its plugin and register it."""
        await self._catch_up()
        check_strings(request, self.limits)
        # A registered version given another file is swapped in under load (upgrade.py).
        entry = await self.upgrades.swap_model(request) or await self.models.register(request)
        await self.channels.revoke_model(request.name)  # re-pointed by the clients' next call
        return entry.status()

    async def list_models(self) -> smi_pb2.ListModelsResponse:
        """Every model version."""
        return smi_pb2.ListModelsResponse(models=[e.status() for e in self.models.all()])

    async def get_model(self, name: str, version: str = "") -> smi_pb2.Model:
        """A model with all its versions, or only `version`."""
        if version:
            entries = [self.models.get(name, version)]
        else:
            entries = [e for e in self.models.all() if e.record.name == name]
            if not entries:
                self.models.versions(name)  # raises NotFound
        return smi_pb2.Model(name=name, versions=[e.status() for e in entries])

    async def remove_model(self, name: str, version: str = "") -> smi_pb2.RemoveModelResponse:
        """Unload and forget a version, or all versions."""
        await self._catch_up()
        await self.channels.revoke_model(name)
        removed = await self.models.remove(name, version)
        if not version:
            self.trace_settings.forget(name)
            self.tracer.refresh()
        for entry in removed:
            self.stats.drop(entry.record.name, entry.record.version)
            self.schedulers.drop(entry.record.name, entry.record.version)
        return smi_pb2.RemoveModelResponse(removed=[e.status() for e in removed])

    async def load_model(self, name: str, version: str = "") -> None:
        """Load registered versions again (Triton's repository load)."""
        await self._catch_up()
        await self.channels.revoke_model(name)
        await self.models.set_loaded(name, True, version)

    async def unload_model(self, name: str, version: str = "") -> None:
        """Unload versions but keep them registered (Triton's repository unload)."""
        await self._catch_up()
        await self.channels.revoke_model(name)
        await self.models.set_loaded(name, False, version)

    async def model_metadata(self, name: str, version: str = "") -> smi_pb2.ModelMetadata:
        """Metadata of the version that would serve a request."""
        entry = self.models.ready(name, version)
        assert entry.metadata is not None
        return entry.metadata

    async def model_ready(self, name: str, version: str = "") -> bool:
        """Whether a request for this model (version) would be served."""
        try:
            self.models.ready(name, version)
        except MLOSError:
            return False
        return True

    def metadata_versions(self, metadata: smi_pb2.ModelMetadata) -> list[str]:
        """The `versions` of Open Inference Protocol model metadata.

        The version the metadata describes comes first, then the other ready versions, newest
        first, so a client reading `versions[0]` learns which version answered.
        """
        others = self.model_versions(metadata.name, ready_only=True)[::-1]
        return [metadata.version, *(v for v in others if v != metadata.version)]

    def model_versions(self, name: str, ready_only: bool = False) -> list[str]:
        """Registered versions of a model (or only the ready ones), oldest first."""
        return [
            e.record.version
            for e in self.models.all()
            if e.record.name == name and (e.ready or not ready_only)
        ]

    async def model_config(self, name: str, version: str = "") -> inference_pb2.ModelConfig:
        """Triton's model configuration for the serving version."""
        entry = self.models.ready(name, version)
        assert entry.metadata is not None
        scheduling = entry.record.scheduling
        return model_config(entry.metadata, Scheduling.of_json(scheduling) if scheduling else None)

    async def model_statistics(
        self, name: str = "", version: str = ""
    ) -> inference_pb2.ModelStatisticsResponse:
        """Triton's statistics for one model (version) or all of them."""
        if name:
            entries = (
                [self.models.get(name, version)]
                if version
                else [e for e in self.models.all() if e.record.name == name]
            )
            if not entries:
                self.models.versions(name)
        else:
            entries = self.models.all()
        return inference_pb2.ModelStatisticsResponse(
            model_stats=[self.stats.of(e.record.name, e.record.version).to_proto() for e in entries]
        )

    async def repository_index(
        self, ready_only: bool = False
    ) -> inference_pb2.RepositoryIndexResponse:
        """Triton's repository index: every version with its state (only ready ones if asked)."""
        names = {
            smi_pb2.MODEL_STATE_READY: "READY",
            smi_pb2.MODEL_STATE_LOADING: "LOADING",
            smi_pb2.MODEL_STATE_UNLOADED: "UNAVAILABLE",
            smi_pb2.MODEL_STATE_UNAVAILABLE: "UNAVAILABLE",
            smi_pb2.MODEL_STATE_FAILED: "UNAVAILABLE",
        }
        index = inference_pb2.RepositoryIndexResponse()
        for e in self.models.all():
            if e.ready or not ready_only:
                index.models.add(
                    name=e.record.name,
                    version=e.record.version,
                    state=names.get(e.state, "UNKNOWN"),
                    reason=e.message,
                )
        return index

    async def server_metadata(self) -> smi_pb2.ServerMetadata:
        """Open Inference Protocol server metadata."""
        return _SERVER_METADATA

    # -- inference ----------------------------------------------------------------------------

    async def infer(
        self, request: smi_pb2.InferRequest, attachments: Attachments | None = None
    ) -> smi_pb2.InferResponse:
        """Check the request against the model's metadata and run it in the model's plugin.

        `attachments` holds input data beside the request (see :data:`Attachments`): inputs
        bound for the plugin's shared-memory segment are copied there straight from them.
        """
        started = time.perf_counter_ns()
        if not request.model_name:
            raise InvalidArgument("an inference request must name a model")
        entry = self.models.ready(request.model_name, request.model_version)
        metadata = entry.metadata
        assert metadata is not None
        stats = self.stats.of(entry.record.name, entry.record.version)
        trace = tracing.current()
        begun = time.perf_counter_ns()  # no scheduler: the queue ends once the version is known
        binding = None
        in_backend = False
        process = None
        try:
            binding = self.shm.bind(request)
            target = self.plugins.get(entry.record.plugin)
            # The route is chosen once; a hot swap lets this process finish the call.
            process = self.plugins.route(entry.record.plugin)
            process.in_flight.enter()
            client = process.client
            assert client is not None
            hop = Hop.into(target, client, self.arenas)
            # Inputs bound for the plugin's segments are measured as exchange() reads them.
            large_from = hop.large_from
            if attachments:
                attachments = attach(request, attachments, large_from)
            check_infer_request(request, metadata, large_from=large_from, limits=self.limits)
            request.model_version = entry.record.version
            inputs = request.inputs
            batch = int(inputs[0].shape[0]) if inputs and inputs[0].shape else 1
            checked = time.perf_counter_ns()
            if trace is not None:
                trace.forward(request, started, begun, checked)
            elif request.trace_context:  # an IPC caller's context, for a call not traced here:
                request.trace_context.clear()  # the plugin must not trace it either
            in_backend = True
            if entry.record.scheduling:  # dynamic batching or instances: the scheduler runs it
                scheduler = self.schedulers.of(entry, stats)
                pre_queue_ns = checked - started
                return await scheduler.infer(request, binding, attachments, batch, pre_queue_ns)
            response = await exchange(
                hop,
                request,
                metadata,
                binding=binding,
                attachments=attachments,
                timeout=INFER_TIMEOUT,
                batch=batch,
            )
            done = time.perf_counter_ns()
            if trace is not None:
                trace.returned(response, done)
        except (MLOSError, asyncio.CancelledError) as error:
            ns = time.perf_counter_ns() - started
            stats.record_failure(ns, failure_reason(error, in_backend))
            raise
        finally:
            if binding is not None:
                binding.release()
            if process is not None:
                process.in_flight.leave()
        output_ns = time.perf_counter_ns() - done
        stats.record_success(batch, begun - started, checked - begun, done - checked, output_ns)
        return response

    # -- shared memory (Triton's system and CUDA shared-memory extensions) --------------------

    async def register_system_shm(
        self, name: str, key: str, offset: int, byte_size: int
    ) -> Region:
        """Register `byte_size` bytes of the POSIX shm object `key` from `offset` as `name`."""
        return self.shm.register(name, key, offset, byte_size)

    def release_system_shm(self, region: Region) -> None:
        """Unregister `region` unless it was unregistered (and its name reused) already."""
        self.shm.release(region)

    async def system_shm_status(self, name: str = "") -> list[RegionStatus]:
        """Registered system shared-memory regions (one, or all when `name` is empty)."""
        return self.shm.status(name)

    async def unregister_system_shm(self, name: str = "") -> None:
        """Unregister one region (unknown names succeed), or all when `name` is empty."""
        self.shm.unregister(name)

    async def register_cuda_shm(
        self, name: str, raw_handle: bytes, device_id: int, byte_size: int
    ) -> None:
        """CUDA shared memory is not supported: always NotFound (this server has no CUDA
        device, whatever `device_id` names)."""
        raise NotFound(
            f"cannot register CUDA shared memory region {name!r}: no CUDA device {device_id} "
            "(CUDA shared memory is not supported on this server)"
        )

    async def cuda_shm_status(self, name: str = "") -> list[CudaRegionStatus]:
        """No CUDA region is ever registered: empty, or NotFound for a named region."""
        if name:
            raise NotFound(
                f"unable to find CUDA shared memory region {name!r}: "
                "CUDA shared memory is not supported on this server"
            )
        return []

    async def unregister_cuda_shm(self, name: str = "") -> None:
        """Nothing to unregister: succeeds, as Triton does for unknown regions."""

    # -- tokens -------------------------------------------------------------------------------

    async def create_token(
        self, request: smi_pb2.CreateTokenRequest
    ) -> smi_pb2.CreateTokenResponse:
        """A new token; the answer is the only place its secret ever appears."""
        check_strings(request, self.limits)
        token, record = self.tokens.create(
            request.name,
            request.role,
            tuple(request.models),
            request.ttl_seconds,
            request.rate_limit,
        )
        return smi_pb2.CreateTokenResponse(token=token, info=record.info())

    async def list_tokens(self) -> smi_pb2.ListTokensResponse:
        """Every token, without secrets."""
        return smi_pb2.ListTokensResponse(tokens=[r.info() for r in self.tokens.all()])

    async def revoke_token(self, token_id: str) -> smi_pb2.TokenInfo:
        """Revoke a token for good (and close the direct channels granted to it)."""
        await self._catch_up()
        info = self.tokens.revoke(token_id).info()
        await self.channels.revoke_principal(f"token:{token_id}")
        return info

    async def open_channel(
        self, name: str, version: str, principal: str, call: Call | None = None,
        max_in_flight: int = 0,
    ) -> tuple[smi_pb2.DirectChannel, tuple[int, int]]:
        """A direct channel to the plugin serving a model (:mod:`mlos.core.channels`): its
        description and the client's ends of its socket and region socket (the caller owns them).
        `call`, the admitted call that asks for it, lends the channel shares of its limits."""
        return await self.channels.open(name, version, principal, call, max_in_flight)

    def authenticate(self, token: str) -> Principal:
        """The principal a token stands for (Unauthenticated when it is not valid)."""
        record = self.tokens.verify(token)
        return Principal(f"token:{record.id}", record.role, frozenset(record.models))

    # -- observability ------------------------------------------------------------------------

    async def scrape_metrics(self) -> bytes:
        """Every metric, in Prometheus's text format (docs/metrics.md)."""
        return self.metrics.render()

    async def update_trace_setting(
        self, model: str = "", changes: Mapping[str, TraceValue] | None = None
    ) -> dict[str, list[str] | str]:
        """Change trace settings (of a registered model, or server-wide) and report them."""
        if model:
            self.models.versions(model)  # NotFound for a model that is not registered
        updated = self.trace_settings.update(model, changes or {})
        self.tracer.refresh()
        return updated

    async def update_log_settings(
        self, changes: Mapping[str, bool | int | str | None] | None = None
    ) -> dict[str, bool | int | str]:
        """Change the server's log settings and report them."""
        return self.log_settings.update(changes or {})

    # -- resources ----------------------------------------------------------------------------

    async def resources(self) -> smi_pb2.ResourcesResponse:
        """Host inventory, the budget, and per plugin process and per model version what is
        used against what was granted."""
        usage = []
        pids = set()
        for name in sorted(self.plugins.entries):
            entry = self.plugins.entries[name]
            pid = entry.process.pid if entry.process is not None else 0
            pids.add(pid)
            usage.append(self.allocator.granted(self.resource_monitor.process(name, pid)))
        self.resource_monitor.forget(pids)
        return smi_pb2.ResourcesResponse(
            host=self.resource_monitor.host(),
            plugins=usage,
            budget=self.allocator.budget.to_proto(),
            models=self.allocator.models(),
        )
