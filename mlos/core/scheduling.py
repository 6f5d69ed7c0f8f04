"""The schedulers of the model versions registered with dynamic batching or instances.

    schedulers = Schedulers(engine.plugins, engine.arenas, timeout=INFER_TIMEOUT)
    if entry.record.scheduling:
        response = await schedulers.of(entry, stats).infer(request, binding, attachments, ...)

One :class:`~mlos.core.batcher.Scheduler` per model version, made on its first request and
closed when the version is removed or the engine stops. Its runner takes a request, or a
batch, to the version's plugin the way every other request goes (:func:`exchange`).
"""

from __future__ import annotations

from mlos.core.arena import Arenas
from mlos.core.batcher import Scheduler
from mlos.core.batching import Scheduling
from mlos.core.dataplane import Attachments
from mlos.core.exchange import Hop, attach, exchange
from mlos.core.models import ModelEntry
from mlos.core.plugins import PluginRegistry
from mlos.core.shm import Binding
from mlos.core.stats import ModelStats
from mlos_generated import smi_pb2

__all__ = ["Schedulers"]


class Schedulers:
    """The scheduler of each model version that has one."""

    def __init__(self, plugins: PluginRegistry, arenas: Arenas, *, timeout: float) -> None:
        self._plugins = plugins
        self._arenas = arenas
        self._timeout = timeout
        self._schedulers: dict[tuple[str, str], tuple[ModelEntry, Scheduler]] = {}

    def of(self, entry: ModelEntry, stats: ModelStats) -> Scheduler:
        """The scheduler of a ready version registered with scheduling settings."""
        key = (entry.record.name, entry.record.version)
        known = self._schedulers.get(key)
        if known is not None and known[0] is entry:
            return known[1]
        if known is not None:  # the version was removed and registered again
            known[1].close()
        assert entry.metadata is not None

        async def run(
            request: smi_pb2.InferRequest,
            binding: Binding | None,
            attachments: Attachments | None,
            batch: int,
        ) -> smi_pb2.InferResponse:
            return await self._run(entry, request, binding, attachments, batch)

        scheduler = Scheduler(
            entry.metadata, Scheduling.of_json(entry.record.scheduling), run, stats
        )
        self._schedulers[key] = (entry, scheduler)
        return scheduler

    def depth(self, name: str, version: str) -> int:
        """Requests waiting in a version's queues (0 without a scheduler)."""
        known = self._schedulers.get((name, version))
        return known[1].depth if known is not None else 0

    async def _run(
        self,
        entry: ModelEntry,
        request: smi_pb2.InferRequest,
        binding: Binding | None,
        attachments: Attachments | None,
        batch: int,
    ) -> smi_pb2.InferResponse:
        """Run a request (or a batch) in the plugin serving the version now."""
        metadata = entry.metadata
        assert metadata is not None
        # As the engine does: the version serving now (a moved default moves it).
        ref = entry.record.plugin
        hop = Hop.into(self._plugins.get(ref), self._plugins.client(ref), self._arenas)
        if attachments:
            attachments = attach(request, attachments, hop.large_from)
        return await exchange(
            hop,
            request,
            metadata,
            binding=binding,
            attachments=attachments,
            timeout=self._timeout,
            batch=batch,
        )

    def drop(self, name: str, version: str) -> None:
        """Close the scheduler of a removed version."""
        known = self._schedulers.pop((name, version), None)
        if known is not None:
            known[1].close()

    def close(self) -> None:
        """Close every scheduler."""
        for _, scheduler in self._schedulers.values():
            scheduler.close()
        self._schedulers.clear()
