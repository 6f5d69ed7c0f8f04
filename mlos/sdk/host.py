"""The plugin host: runs one `ModelPlugin` in its own process and serves SMI for it.

The core starts it as

    python -P -m mlos.sdk.host --entry-point onnx --fd 3 --confine '{"open_files":256}'

with one end of a connected Unix socket pair inherited as file descriptor 3; the process exits
when that connection closes (the core stopped or died), on Shutdown, or on SIGTERM. Before it
imports the plugin it applies the confinement the core gives (:mod:`mlos.sandbox.confine`:
cgroup, resource limits, CPU affinity, user, `no_new_privs`); when its memory is limited by
`RLIMIT_DATA` and an allocation fails, it exits with `EXIT_MEMORY_LIMIT`, as the kernel would
kill it in a cgroup. For a plugin under development it can also listen on a path:

    python -m mlos.sdk.host --module my_plugin:MyPlugin --socket /tmp/my-plugin.sock
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import math
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from mlos.discovery import ENTRY_POINT_GROUP, find_entry_point
from mlos.errors import InvalidArgument, MLOSError, NotFound
from mlos.json_log import JsonFormatter
from mlos.loop import PLUGIN_BUSY_POLL_ENV, busy_poll_seconds
from mlos.loop import run as run_loop
from mlos.sandbox.confine import Confinement, confine, die_with_parent
from mlos.sandbox.exits import EXIT_MEMORY_LIMIT
from mlos.sdk.base import LoadedModel, ModelPlugin, ModelSpec
from mlos.sdk.direct import ChannelTable
from mlos.sdk.instances import Instances, load_instances
from mlos.sdk.segments import SegmentMap
from mlos.sdk.tracing import HostTracing, log_fields
from mlos.validation import check_infer_request
from mlos.wire.connection import ServerConnection
from mlos.wire.method import CallContext
from mlos.wire.tensors import DATATYPES, datatype_of, from_numpy, to_numpy
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["PluginHost", "load_plugin_class", "main"]

log = logging.getLogger("mlos.plugin")

LOG_FORMAT_ENV = "MLOS_LOG_FORMAT"
"""`json` when the server writes JSON log lines; the host's lines are then JSON too."""

# Models whose inference takes less than this run inline on the event loop; slower ones run in
# the inference thread pool, so several requests compute in parallel.
INLINE_BELOW_SECONDS = 0.001
# Loads run inline too once this plugin's loads have taken less than this (on average), for
# model files up to INLINE_LOAD_BYTES: handing a 1 ms load to a thread and back costs about half
# a millisecond more. The first load, directories and larger files use the load thread, which
# keeps the host answering while a slow load runs.
INLINE_LOAD_BELOW_SECONDS = 0.005
INLINE_LOAD_BYTES = 8 * 1024 * 1024


def load_plugin_class(*, entry_point: str | None = None, module: str | None = None) -> type[Any]:
    """The plugin class named by an entry point in `mlos.plugins` or by "pkg.module:Class"."""
    if entry_point is not None:
        found = find_entry_point(entry_point)
        if found is None:
            raise NotFound(
                f"no plugin named {entry_point!r} is installed (entry point group "
                f"{ENTRY_POINT_GROUP!r})"
            )
        loaded: type[Any] = found.load()
        return loaded
    if module is None or ":" not in module:
        raise InvalidArgument(
            f"plugin module must look like 'package.module:Class', not {module!r}"
        )
    module_name, _, attribute = module.partition(":")
    try:
        imported = importlib.import_module(module_name)
        cls: type[Any] = getattr(imported, attribute)
    except (ImportError, AttributeError) as exc:
        raise NotFound(f"cannot import plugin {module!r}: {exc}") from exc
    return cls


class PluginHost(
    smi_ipc.PluginServicer[CallContext], smi_ipc.PluginChannelsServicer[CallContext]
):
    """Serves the SMI `Plugin` service for one plugin instance, and the direct channels the
    core grants its clients (:mod:`mlos.sdk.direct`)."""

    METHODS = (  # type: ignore[assignment]  # both services' methods, by the bases' tables
        *smi_ipc.PluginServicer.METHODS,
        *smi_ipc.PluginChannelsServicer.METHODS,
    )

    def __init__(self, plugin: ModelPlugin, *, exit_on_memory_error: bool = False) -> None:
        self.plugin = plugin
        self.exit_on_memory_error = exit_on_memory_error
        self.models: dict[tuple[str, str], tuple[LoadedModel, smi_pb2.ModelMetadata]] = {}
        # The instances of each model loaded with an instance_count (mlos.sdk.instances);
        # its entry in `models` holds the first instance.
        self.instances: dict[tuple[str, str], Instances] = {}
        self._infer_pool = ThreadPoolExecutor(
            max_workers=max(1, plugin.max_concurrency), thread_name_prefix="infer"
        )
        self._load_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        self._loading = asyncio.Lock()
        # Moving average of this plugin's load times (inf: none yet), which decides where loads run.
        self._load_cost = math.inf
        # Moving average of each model's inference time, which decides where it runs.
        self._cost: dict[tuple[str, str], float] = {}
        # Output names and datatypes of each model, with the metadata they were read from.
        self._outputs: dict[
            tuple[str, str], tuple[smi_pb2.ModelMetadata, list[str], dict[str, str]]
        ] = {}
        # The core's shared-memory segments, for large tensors (mlos.sdk.segments).
        self.segments = SegmentMap()
        self.stopped = asyncio.Event()
        # Direct channels to IPC clients, over the channel socket the core passed (if any).
        self.channels = ChannelTable(
            self.infer_checked, self._metadata_of, segments=self.segments
        )
        # Spans around the loads and inferences the core traces (mlos.sdk.tracing).
        self.tracing = HostTracing(plugin.name)

    async def describe(
        self, request: smi_pb2.DescribeRequest, context: CallContext
    ) -> smi_pb2.PluginInfo:
        """Name, version, SMI versions and capabilities."""
        capabilities = self.plugin.capabilities()
        capabilities.shared_memory = True  # the host maps the core's segments for the plugin
        return smi_pb2.PluginInfo(
            name=self.plugin.name,
            version=self.plugin.version,
            smi_versions=[smi_ipc.SMI_VERSION],
            capabilities=capabilities,
        )

    async def load_model(
        self, request: smi_pb2.LoadModelRequest, context: CallContext
    ) -> smi_pb2.LoadModelResponse:
        """Load (or replace) a model; all-or-nothing (in a span when the core traces it)."""
        if request.trace_context:
            attributes = {"model_name": request.name, "model_version": request.version}
            return await self.tracing.around(
                "plugin.load",
                request.trace_context,
                attributes,
                lambda: self._load_model(request),
            )
        return await self._load_model(request)

    async def _load_model(self, request: smi_pb2.LoadModelRequest) -> smi_pb2.LoadModelResponse:
        count = int(request.instance_count)
        specs = [
            ModelSpec(
                request.name, request.version, Path(request.path), dict(request.config),
                instance_count=count, instance=index, cpus=request.cpus,
            )
            for index in range(count if count > 1 and self._copies else 1)
        ]  # fmt: skip
        spec = specs[0]
        loop = asyncio.get_running_loop()
        async with self._loading:
            started = time.perf_counter()
            try:
                if self._load_cost < INLINE_LOAD_BELOW_SECONDS and _small_file(spec.path):
                    loaded = load_instances(self.plugin.load, specs)
                else:
                    loaded = await loop.run_in_executor(
                        self._load_pool, load_instances, self.plugin.load, specs
                    )
            except MLOSError:
                raise
            except MemoryError:
                if self.exit_on_memory_error:
                    self._out_of_memory()
                raise
            except Exception as exc:
                raise InvalidArgument(f"cannot load {request.path}: {exc}") from exc
            elapsed = (time.perf_counter() - started) / len(specs)
            cost = self._load_cost
            self._load_cost = elapsed if cost == math.inf else 0.8 * cost + 0.2 * elapsed
            model = loaded[0]
            metadata = smi_pb2.ModelMetadata(
                name=request.name,
                version=request.version,
                plugin=self.plugin.name,
                platform=model.platform,
                inputs=[spec.to_proto() for spec in model.inputs],
                outputs=[spec.to_proto() for spec in model.outputs],
                max_batch_size=model.max_batch_size,
                properties=model.properties(),
            )
            key = (request.name, request.version)
            previous = self._release(key)
            self.models[key] = (model, metadata)
            if count >= 1:  # a shared model is listed once per instance
                models = loaded if len(loaded) > 1 else loaded * count
                self.instances[key] = Instances(models, request.name)
            if previous is not None:
                await loop.run_in_executor(self._load_pool, previous)
        return smi_pb2.LoadModelResponse(metadata=metadata)

    @property
    def _copies(self) -> bool:
        """Whether the plugin's instances are copies of the model (else one shared model)."""
        return self.plugin.instance_kind != "shared"

    def _release(self, key: tuple[str, str]) -> Callable[[], None] | None:
        """Forget a loaded model version; what unloads it (every instance), or None."""
        entry = self.models.pop(key, None)
        instances = self.instances.pop(key, None)
        if instances is not None:
            instances.close()
            return instances.unload
        return entry[0].unload if entry is not None else None

    async def unload_model(
        self, request: smi_pb2.UnloadModelRequest, context: CallContext
    ) -> smi_pb2.UnloadModelResponse:
        """Unload a model; unknown models succeed too."""
        self.channels.close_model(request.name, request.version)
        unload = self._release((request.name, request.version))
        self._cost.pop((request.name, request.version), None)
        self._outputs.pop((request.name, request.version), None)
        if unload is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._load_pool, unload)
        return smi_pb2.UnloadModelResponse()

    def infer(
        self, request: smi_pb2.InferRequest, context: CallContext
    ) -> Coroutine[Any, Any, smi_pb2.InferResponse]:
        """Check the request, run the model in the inference pool, encode the outputs (in a
        span when the core traces the request)."""
        # Not a coroutine itself: an untraced request costs no extra frame.
        if request.trace_context:
            attributes = {"model_name": request.model_name, "model_version": request.model_version}
            return self.tracing.around(
                "plugin.infer", request.trace_context, attributes, lambda: self._infer(request)
            )
        return self._infer(request)

    async def _infer(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        name, version = request.model_name, request.model_version
        entry = self.models.get((name, version))
        if entry is None:
            raise NotFound(f"model {name!r} version {version!r} is not loaded")
        check_infer_request(request, entry[1])
        return await self.infer_checked(request)

    async def infer_checked(self, request: smi_pb2.InferRequest) -> smi_pb2.InferResponse:
        """:meth:`infer` of a request its caller has checked against the model's metadata
        (a direct channel checks it with the core's limits as well)."""
        name, version = request.model_name, request.model_version
        key = (name, version)
        entry = self.models.get(key)
        if entry is None:
            raise NotFound(f"model {name!r} version {version!r} is not loaded")
        model, metadata = entry
        inputs = {tensor.name: self._array(tensor) for tensor in request.inputs}
        names, datatypes = self._outputs_of(key, metadata)
        requested_outputs = request.outputs
        asked = len(requested_outputs) > 0
        wanted = [output.name for output in requested_outputs] if asked else list(names)
        started = time.perf_counter()
        instances = self.instances.get(key)
        try:
            if instances is not None:  # each call on a free instance, on its threads
                results = await instances.infer(inputs, wanted)
            elif self._cost.get(key, 0.0) < INLINE_BELOW_SECONDS:
                # Fast models run on the event loop: a hand-off would cost more than the call.
                results = model.infer(inputs, wanted)
            else:
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self._infer_pool, model.infer, inputs, wanted)
        except MemoryError:
            if self.exit_on_memory_error:
                self._out_of_memory()
            raise
        elapsed = time.perf_counter() - started
        cost = self._cost.get(key)
        self._cost[key] = elapsed if cost is None else 0.8 * cost + 0.2 * elapsed
        response = smi_pb2.InferResponse(model_name=name, model_version=version, id=request.id)
        requested = {o.name: o for o in requested_outputs if o.parameters} if asked else {}
        outputs = response.outputs
        for output_name in wanted:
            if output_name not in results:
                raise InvalidArgument(f"the model produced no output {output_name!r}")
            array = results[output_name]
            datatype = datatypes.get(output_name)
            output = requested.get(output_name)
            if output is not None:
                placed = self.segments.place(output, array, datatype or datatype_of(array))
                if placed is not None:
                    outputs.append(placed)
                    continue
            dtype = DATATYPES.get(datatype or "")
            if dtype is None or datatype == "BYTES":
                outputs.append(from_numpy(output_name, array, datatype))
            else:  # the common case, without building a Tensor to copy into the response
                outputs.add(
                    name=output_name,
                    datatype=datatype,
                    shape=array.shape,
                    contents=np.ascontiguousarray(array, dtype=dtype).tobytes(),
                )
        return response

    def _out_of_memory(self) -> NoReturn:
        """An allocation failed under the memory limit: exit, as the kernel would kill us."""
        log.error("memory limit reached (an allocation failed); exiting")
        logging.shutdown()
        os._exit(EXIT_MEMORY_LIMIT)

    def _array(self, tensor: smi_pb2.Tensor) -> Any:
        """An input as a numpy array (over the core's segment when it travelled there)."""
        if tensor.HasField("shared_memory"):
            return self.segments.array(tensor)
        dtype = DATATYPES.get(tensor.datatype)
        if dtype is None or tensor.datatype == "BYTES":
            return to_numpy(tensor)
        # The request was checked: the contents hold exactly the shape's elements.
        return np.frombuffer(tensor.contents, dtype=dtype).reshape(tensor.shape[:])

    def _outputs_of(
        self, key: tuple[str, str], metadata: smi_pb2.ModelMetadata
    ) -> tuple[list[str], dict[str, str]]:
        """A model's output names and their datatypes, read from its metadata once."""
        known = self._outputs.get(key)
        if known is None or known[0] is not metadata:
            names = [spec.name for spec in metadata.outputs]
            datatypes = {spec.name: spec.datatype for spec in metadata.outputs}
            known = self._outputs[key] = (metadata, names, datatypes)
        return known[1], known[2]

    def _metadata_of(self, name: str, version: str) -> smi_pb2.ModelMetadata | None:
        """The metadata of a loaded model version, or None."""
        entry = self.models.get((name, version))
        return entry[1] if entry is not None else None

    async def open_channel(
        self, request: smi_pb2.ChannelGrant, context: CallContext
    ) -> smi_pb2.OpenChannelResponse:
        """Serve a direct channel the core granted (:mod:`mlos.sdk.direct`)."""
        return await self.channels.open(request)

    async def close_channels(
        self, request: smi_pb2.CloseChannelsRequest, context: CallContext
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Close direct channels; their last statistics."""
        return self.channels.close(request)

    async def channel_statistics(
        self, request: smi_pb2.ChannelStatisticsRequest, context: CallContext
    ) -> smi_pb2.ChannelStatisticsResponse:
        """Apply the core's allowances; what the direct channels served since the last
        report."""
        return self.channels.report(request)

    async def health(
        self, request: smi_pb2.PluginHealthRequest, context: CallContext
    ) -> smi_pb2.PluginHealthResponse:
        """Ready, with the loaded models."""
        return smi_pb2.PluginHealthResponse(
            ready=True, models=[f"{name}/{version}" for name, version in self.models]
        )

    async def shutdown(
        self, request: smi_pb2.ShutdownRequest, context: CallContext
    ) -> smi_pb2.ShutdownResponse:
        """Answer, then stop the process."""
        asyncio.get_running_loop().call_soon(self.stopped.set)
        return smi_pb2.ShutdownResponse()

    def close(self) -> None:
        """Unload every model and release the plugin."""
        for key in list(self.models):
            unload = self._release(key)
            if unload is not None:
                with contextlib.suppress(Exception):
                    unload()
        self.channels.shutdown()
        self.segments.close()
        with contextlib.suppress(Exception):
            self.plugin.close()
        self._infer_pool.shutdown(wait=False, cancel_futures=True)
        self._load_pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.tracing.close()


def _small_file(path: Path) -> bool:
    """Whether `path` is a file of at most INLINE_LOAD_BYTES."""
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size <= INLINE_LOAD_BYTES


async def _serve(host: PluginHost, fd: int | None, path: str | None) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, host.stopped.set)
    if fd is not None:
        sock = socket.socket(fileno=fd)
        _, connection = await loop.create_unix_connection(lambda: ServerConnection(host), sock=sock)
        lost = connection.lost
        stop: asyncio.Future[Any] = asyncio.ensure_future(host.stopped.wait())
        await asyncio.wait([lost, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        return
    assert path is not None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await loop.create_unix_server(lambda: ServerConnection(host), path)
    os.chmod(path, 0o600)
    try:
        await host.stopped.wait()
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    """Run a plugin host process."""
    parser = argparse.ArgumentParser(prog="python -m mlos.sdk.host", description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--entry-point", help="entry point name in the group mlos.plugins")
    which.add_argument("--module", help="plugin class as package.module:Class")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="inherited connected Unix socket")
    where.add_argument("--socket", help="Unix socket path to listen on")
    parser.add_argument(
        "--confine", metavar="JSON", help="confinement to apply first (mlos.sandbox.confine)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("MLOS_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s plugin[%(process)d] %(name)s: %(message)s",
    )
    if os.environ.get(LOG_FORMAT_ENV) == "json":  # the server logs JSON lines: so do we
        plugin_name = args.entry_point or args.module or ""
        extra = {"plugin": plugin_name, "pid": str(os.getpid())}
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter(context=log_fields, extra=extra))
    memory_limited = False
    if args.confine:
        try:
            confinement = Confinement.from_json(args.confine)
            confine(confinement)
        except (ValueError, TypeError, OSError) as exc:
            print(f"mlos plugin host: cannot confine the process: {exc}", file=sys.stderr)
            return 126
        memory_limited = confinement.memory_bytes > 0
    else:
        die_with_parent()
    try:
        cls = load_plugin_class(entry_point=args.entry_point, module=args.module)
        plugin = cls()
        if not isinstance(plugin, ModelPlugin):
            raise InvalidArgument(f"{cls.__qualname__} is not an mlos.sdk.ModelPlugin")
    except MLOSError as exc:
        print(f"mlos plugin host: {exc.message}", file=sys.stderr)
        return 2

    async def run() -> None:
        host = PluginHost(plugin, exit_on_memory_error=memory_limited)
        try:
            await _serve(host, args.fd, args.socket)
        finally:
            host.close()

    run_loop(run(), busy_poll=busy_poll_seconds(os.environ.get(PLUGIN_BUSY_POLL_ENV, "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
