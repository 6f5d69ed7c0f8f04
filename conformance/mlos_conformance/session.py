"""One conformance run's view of the plugin: the process, its Describe answer, the model under
test, and the calls every check makes (each with a deadline)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy.typing as npt
import psutil

from mlos.core.supervisor import PluginLaunch
from mlos.wire.method import Method, RequestT, ResponseT
from mlos_conformance.check import Failed, Skipped
from mlos_conformance.fixtures import Fixture
from mlos_conformance.process import PluginUnderTest
from mlos_conformance.samples import build_inputs
from mlos_conformance.wire import ConnectionDropped, ErrorFrame, Frame
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["MODEL_NAME", "MODEL_VERSION", "Options", "Session"]

MODEL_NAME = "conformance"
MODEL_VERSION = "1"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Options:
    """How hard and how long the kit pushes the plugin."""

    #: Load/unload cycles of `lifecycle.cycles`.
    cycles: int = 20
    #: RSS growth tolerated after failed loads and after the cycles, in bytes.
    rss_tolerance: int = 32 * MIB
    #: Deadline of every ordinary call, in seconds.
    call_timeout: float = 30.0
    #: Deadline of a LoadModel call, in seconds.
    load_timeout: float = 120.0
    #: Deadline of the first Describe (the plugin imports its framework first), in seconds.
    start_timeout: float = 60.0
    #: `ShutdownRequest.deadline_ms`, in seconds.
    shutdown_deadline: float = 5.0
    #: How long released resources may take to return to baseline, in seconds.
    settle_timeout: float = 3.0
    #: Upper bound on the requests `infer.concurrent` keeps in flight.
    max_in_flight: int = 64
    #: `LoadModelRequest.config` for the model under test.
    model_config: Mapping[str, str] = field(default_factory=dict)
    #: Extra environment for the plugin process.
    env: Mapping[str, str] = field(default_factory=dict)


class Session:
    """The plugin under test and what the checks have learnt about it so far."""

    def __init__(
        self,
        launch: PluginLaunch,
        model: Path | None,
        inputs: Mapping[str, npt.NDArray[Any]],
        options: Options,
        fixtures: Sequence[Fixture] = (),
    ) -> None:
        self.launch = launch
        self.model = model
        self.inputs = dict(inputs)
        self.options = options
        self.fixtures = tuple(fixtures)
        self.scratch = tempfile.TemporaryDirectory(prefix="mlos-conformance-")
        # Closed by the runner once it has read the tail.
        self.log: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="mlos-conformance-", suffix=".log"
        )
        self._plugin: PluginUnderTest | None = None
        self.info: smi_pb2.PluginInfo | None = None
        self.metadata: smi_pb2.ModelMetadata | None = None
        # Why the model under test did not load, once a load failed.
        self.load_failure: str | None = None
        # Whether the model under test is loaded in the current process.
        self.loaded = False
        self.restarts = 0
        # Set once Shutdown was sent: nothing is restarted after that.
        self.finished = False

    # -- the process --------------------------------------------------------------------------

    @property
    def plugin(self) -> PluginUnderTest:
        """The running plugin; `Skipped` when there is none."""
        if self._plugin is None:
            raise Skipped("the plugin is not running")
        return self._plugin

    @property
    def process(self) -> psutil.Process:
        """The plugin's process as psutil sees it."""
        handle = self.plugin.handle
        if handle is None:
            raise Skipped("psutil cannot see the plugin process")
        return handle

    async def start(self) -> smi_pb2.PluginInfo:
        """Start the plugin and Describe it; raises `Failed` when it does not answer."""
        self._plugin = await PluginUnderTest.start(self.launch, self.log, self.options.env)
        self.loaded = False
        try:
            self.info = await self.call(
                smi_ipc.PLUGIN_DESCRIBE,
                smi_pb2.DescribeRequest(core_smi_version=smi_ipc.SMI_VERSION),
                self.options.start_timeout,
            )
        except ConnectionDropped:
            await self._plugin.wait_exit(2.0)
            raise Failed(f"the plugin process {self._plugin.describe_exit()} at start") from None
        except ErrorFrame as exc:
            raise Failed(f"Describe failed with {exc}") from None
        return self.info

    async def dropped(self) -> str:
        """Why the connection dropped, with how the process ended."""
        plugin = self.plugin
        await plugin.wait_exit(2.0)
        return f"the connection dropped: the plugin process {plugin.describe_exit()}"

    async def close(self) -> None:
        """Stop the plugin and remove the scratch files (the log stays open for `log_tail`)."""
        if self._plugin is not None:
            await self._plugin.stop(self.options.shutdown_deadline)
        self.scratch.cleanup()

    def log_tail(self, limit: int = 8192) -> str:
        """The end of what the plugin wrote to stdout and stderr."""
        self.log.flush()
        self.log.seek(0, 2)
        size = self.log.tell()
        self.log.seek(max(0, size - limit))
        return self.log.read().decode("utf-8", "replace")

    # -- calls --------------------------------------------------------------------------------

    async def call(
        self,
        method: Method[RequestT, ResponseT],
        request: RequestT | bytes,
        timeout: float | None = None,
    ) -> ResponseT:
        """A typed call with a deadline (the ordinary call deadline unless given)."""
        return await self.plugin.connection.call(
            method, request, self.options.call_timeout if timeout is None else timeout
        )

    async def exchange(self, method_id: int, payload: bytes) -> Frame:
        """A raw request frame with the ordinary deadline; the answer frame."""
        return await self.plugin.connection.exchange(method_id, payload, self.options.call_timeout)

    async def still_up(self, after: str) -> None:
        """`Failed` unless the plugin still answers Health on the same connection."""
        try:
            await self.call(smi_ipc.PLUGIN_HEALTH, smi_pb2.PluginHealthRequest())
        except ConnectionDropped:
            raise Failed(f"{await self.dropped()} after {after}") from None

    async def loaded_models(self) -> list[str]:
        """What Health says is loaded ("name/version")."""
        health = await self.call(smi_ipc.PLUGIN_HEALTH, smi_pb2.PluginHealthRequest())
        return list(health.models)

    def scratch_file(self, name: str) -> Path:
        """A path in this run's scratch directory."""
        return Path(self.scratch.name) / name

    def extension(self) -> str:
        """The first file extension the plugin claims, or ".bin"."""
        extensions = self.info.capabilities.file_extensions if self.info else ()
        return extensions[0] if extensions else ".bin"

    # -- the model under test -----------------------------------------------------------------

    async def load(
        self,
        path: Path,
        name: str = MODEL_NAME,
        version: str = MODEL_VERSION,
        config: Mapping[str, str] | None = None,
    ) -> smi_pb2.ModelMetadata:
        """LoadModel with the load deadline (and the model config of the options unless
        `config` is given); its metadata."""
        given = dict(self.options.model_config if config is None else config)
        response = await self.call(
            smi_ipc.PLUGIN_LOAD_MODEL,
            smi_pb2.LoadModelRequest(name=name, version=version, path=str(path), config=given),
            self.options.load_timeout,
        )
        return response.metadata

    async def unload(self, name: str = MODEL_NAME, version: str = MODEL_VERSION) -> None:
        """UnloadModel."""
        await self.call(
            smi_ipc.PLUGIN_UNLOAD_MODEL, smi_pb2.UnloadModelRequest(name=name, version=version)
        )
        if name == MODEL_NAME:
            self.loaded = False

    async def ensure_loaded(self) -> smi_pb2.ModelMetadata:
        """The model under test, loaded in the current process; `Skipped` when it cannot be."""
        if self.model is None:
            raise Skipped("no model given (--model)")
        if self.load_failure is not None:
            raise Skipped(f"the model did not load: {self.load_failure}")
        if self.loaded and self.metadata is not None:
            return self.metadata
        try:
            self.metadata = await self.load(self.model)
        except ErrorFrame as exc:
            self.load_failure = str(exc)
            raise Failed(f"loading {self.model} failed with {exc}") from None
        self.loaded = True
        return self.metadata

    def infer_request(self, batch: int | None = None, tag: str = "") -> smi_pb2.InferRequest:
        """An Infer request for the loaded model, with the given or generated inputs."""
        if self.metadata is None:
            raise Skipped("the model is not loaded")
        return smi_pb2.InferRequest(
            model_name=MODEL_NAME,
            model_version=MODEL_VERSION,
            id=f"conformance{tag}",
            inputs=build_inputs(self.metadata, self.inputs, batch),
        )

    async def infer(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        """Infer with the ordinary deadline."""
        return await self.call(smi_ipc.PLUGIN_INFER, request)
