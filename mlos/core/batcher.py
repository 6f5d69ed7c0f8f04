"""The scheduler of a model version with dynamic batching or several instances.

Requests from every transport meet here once the engine has checked them. Each priority level
has a FIFO queue; `instance_count` workers take work from the queues, highest level first. With
dynamic batching a worker gathers the compatible requests at the head of the queues (same
inputs, trailing shapes, datatypes, requested outputs and parameters) up to the model's
`max_batch_size`: it dispatches at once when the batch reaches that size, when the next waiting
request would not fit, or at one of the preferred sizes, and otherwise waits up to
`max_queue_delay_us` after the oldest request arrived for more to join. The inputs of a batch
are copied once, each into its rows of one buffer per input; the plugin runs the batch in one
call; each caller gets its own rows of every output back (written into its shared-memory region
when it asked for that). Without dynamic
batching each request runs alone: the plugin runs at most `instance_count` at a time, one on
each instance, and the scheduler keeps :data:`IN_FLIGHT_PER_INSTANCE` per instance in the
plugin, so that an instance that finishes a call starts the next one waiting there at once
instead of idling for the round trip through the core (the plugin host queues them in arrival
order, see :mod:`mlos.sdk.instances`).

A full queue refuses a request with :class:`~mlos.core.stats.QueueFull` (UNAVAILABLE, 503).
Statistics are counted the way Triton counts them: every request its own queue time and the
compute durations of the execution it was in; every execution once, under its batch size.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mlos.core.batching import Scheduling
from mlos.core.dataplane import Attachments
from mlos.core.shm import Binding
from mlos.core.stats import ModelStats, QueueFull
from mlos.errors import InternalError, InvalidArgument, MLOSError, Unavailable
from mlos.wire.shared_memory import set_ref_parameters
from mlos.wire.tensors import DATATYPES
from mlos_generated import smi_pb2

__all__ = ["IN_FLIGHT_PER_INSTANCE", "PRIORITY", "Runner", "Scheduler"]

IN_FLIGHT_PER_INSTANCE = 2
"""Requests without batching the scheduler keeps in the plugin per instance: one running, one
waiting for the instance to free. Batches go one per instance: a batch waiting in the core
still grows."""

PRIORITY = "priority"
"""The request parameter that names a request's priority level (Triton's)."""

Runner = Callable[
    [smi_pb2.InferRequest, Binding | None, Attachments | None, int],
    Awaitable[smi_pb2.InferResponse],
]
"""Runs one request (a caller's, or a batch) in the model's plugin: the request, the client
shared-memory binding it reads and writes, inputs given beside it, and its batch size."""

_ITEMSIZE = {name: dtype.itemsize for name, dtype in DATATYPES.items() if name != "BYTES"}


@dataclass(slots=True, eq=False)
class _Pending:
    """A request waiting in a queue, and where its answer goes."""

    request: smi_pb2.InferRequest
    binding: Binding | None
    attachments: Attachments | None
    size: int
    key: tuple[Any, ...] | None  # None: runs alone
    queued_ns: int
    pre_queue_ns: int
    future: asyncio.Future[smi_pb2.InferResponse] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Scheduler:
    """Queues and workers of one model version (see the module's description)."""

    def __init__(
        self,
        metadata: smi_pb2.ModelMetadata,
        scheduling: Scheduling,
        run: Runner,
        stats: ModelStats,
    ) -> None:
        self.metadata = metadata
        self.scheduling = scheduling
        self._run = run
        self._stats = stats
        self._queues: list[deque[_Pending]] = [deque() for _ in range(scheduling.levels)]
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._delay_ns = scheduling.max_queue_delay_us * 1000
        self._batchable = scheduling.batching and _batchable(metadata)
        self._closed = False

    @property
    def depth(self) -> int:
        """Requests waiting in the queues."""
        return sum(len(queue) for queue in self._queues)

    # -- callers ------------------------------------------------------------------------------

    async def infer(
        self,
        request: smi_pb2.InferRequest,
        binding: Binding | None,
        attachments: Attachments | None,
        batch: int,
        pre_queue_ns: int,
    ) -> smi_pb2.InferResponse:
        """Queue a checked request and wait for its answer.

        `pre_queue_ns` is the time the request spent before it reached the scheduler, counted
        as queue time; the request's other phases are the execution's.
        """
        if self._closed:
            raise Unavailable(f"model {self.metadata.name!r} is being unloaded")
        level = self._level(request)
        queue = self._queues[level]
        bound = self.scheduling.max_queue_size
        if bound and len(queue) >= bound:
            raise QueueFull(
                f"the queue of model {self.metadata.name!r} version "
                f"{self.metadata.version!r} is full ({bound} requests waiting at priority "
                f"{level + 1}); retry later",
                details={"retry_after": "1"},
            )
        key = self._key(request, binding, attachments, batch) if self._batchable else None
        pending = _Pending(
            request, binding, attachments, batch, key, time.perf_counter_ns(), pre_queue_ns
        )
        queue.append(pending)
        if not self._workers:
            loop = asyncio.get_running_loop()
            depth = 1 if self._batchable else IN_FLIGHT_PER_INSTANCE
            self._workers = [
                loop.create_task(self._work())
                for _ in range(self.scheduling.instance_count * depth)
            ]
        self._wake.set()
        return await pending.future

    def _level(self, request: smi_pb2.InferRequest) -> int:
        """The 0-based queue of a request, from its `priority` parameter."""
        default = self.scheduling.default_level - 1
        if PRIORITY not in request.parameters:
            return default
        parameter = request.parameters[PRIORITY]
        choice = parameter.WhichOneof("choice")
        value = getattr(parameter, choice) if choice else 0
        if choice not in ("int64_param", "uint64_param") or not 0 <= value <= 2**32:
            raise InvalidArgument("parameter 'priority' must be a non-negative integer")
        if value == 0:
            return default
        levels = self.scheduling.levels
        if value > levels:
            raise InvalidArgument(
                f"priority {value} is not one of model {self.metadata.name!r}'s priority "
                f"levels 1..{levels} (0: the default level)"
            )
        return int(value) - 1

    def _key(
        self,
        request: smi_pb2.InferRequest,
        binding: Binding | None,
        attachments: Attachments | None,
        batch: int,
    ) -> tuple[Any, ...] | None:
        """What requests must share to run in one batch; None when this one cannot."""
        parts: list[Any] = []
        for tensor in request.inputs:
            shape = tuple(tensor.shape)
            if not shape or shape[0] != batch or tensor.datatype not in _ITEMSIZE:
                return None
            expected = _ITEMSIZE[tensor.datatype] * math.prod(shape)
            if len(_data(tensor, binding, attachments)) != expected:
                raise InvalidArgument(
                    f"input {tensor.name!r} has {len(_data(tensor, binding, attachments))} "
                    f"bytes of data, not the {expected} its shape {list(shape)} needs"
                )
            parts.append((tensor.name, tensor.datatype, shape[1:]))
        parts.append(tuple(output.name for output in request.outputs))
        if len(request.parameters) > (1 if PRIORITY in request.parameters else 0):
            parts.append(
                tuple(
                    sorted(
                        (name, value.SerializeToString())
                        for name, value in request.parameters.items()
                        if name != PRIORITY
                    )
                )
            )
        return tuple(parts)

    # -- workers ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            chosen = await self._gather()
            await self._execute(chosen)

    async def _gather(self) -> list[_Pending]:
        """The next batch (one request without batching), waiting as the settings say."""
        while True:
            head = self._head()
            if head is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if head.key is None:
                return self._take([head])
            chosen, total, prefix, full = self._select(head)
            remaining = head.queued_ns + self._delay_ns - time.perf_counter_ns()
            if full or total in self.scheduling.preferred_batch_sizes:
                return self._take(chosen)
            if prefix:  # a preferred size can be formed now from the oldest requests
                return self._take(chosen[:prefix])
            if remaining <= 0:
                return self._take(chosen)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining / 1e9)

    def _head(self) -> _Pending | None:
        """The oldest live request of the highest non-empty level (dropping cancelled ones)."""
        for queue in self._queues:
            while queue and queue[0].future.done():
                queue.popleft()
            if queue:
                return queue[0]
        return None

    def _select(self, head: _Pending) -> tuple[list[_Pending], int, int, bool]:
        """Requests that can join `head`, in priority then arrival order, up to the model's
        max batch size; their total size; how many of them (from the first) make the largest
        preferred size that can be formed, or 0 when none can; and whether the batch is full
        (at the max batch size, or the next request that could join does not fit)."""
        limit = self.metadata.max_batch_size
        preferred = self.scheduling.preferred_batch_sizes
        chosen: list[_Pending] = []
        total = 0
        prefix = 0
        for queue in self._queues:
            for pending in queue:
                if pending.future.done() or pending.key != head.key:
                    continue
                if total + pending.size > limit:
                    return chosen, total, prefix, True
                chosen.append(pending)
                total += pending.size
                if total in preferred:
                    prefix = len(chosen)
        return chosen, total, prefix, total >= limit

    def _take(self, chosen: list[_Pending]) -> list[_Pending]:
        """Remove `chosen` from the queues."""
        taken = {id(pending) for pending in chosen}
        for queue in self._queues:
            if any(id(pending) in taken for pending in queue):
                kept = [pending for pending in queue if id(pending) not in taken]
                queue.clear()
                queue.extend(kept)
        return chosen

    async def _execute(self, chosen: list[_Pending]) -> None:
        """Run a batch and hand every caller its answer (or the batch's error)."""
        live = [pending for pending in chosen if not pending.future.done()]
        if not live:
            return
        dispatched = time.perf_counter_ns()
        try:
            if len(live) == 1:
                only = live[0]
                response = await self._run(only.request, only.binding, only.attachments, only.size)
                ran = time.perf_counter_ns()
                answers: list[smi_pb2.InferResponse | MLOSError] = [response]
                input_ns, infer_ns, output_ns = 0, ran - dispatched, 0
                total = only.size
            else:
                request, attachments, total = _combine(live)
                built = time.perf_counter_ns()
                response = await self._run(request, None, attachments, total)
                ran = time.perf_counter_ns()
                answers = _split(response, live, total)
                input_ns, infer_ns = built - dispatched, ran - built
                output_ns = time.perf_counter_ns() - ran
        except MLOSError as error:
            for pending in live:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        except Exception as error:  # a bug must fail its callers, never the worker
            failure = InternalError(f"batched inference failed: {error!r}")
            for pending in live:
                if not pending.future.done():
                    pending.future.set_exception(failure)
            return
        stats = self._stats
        stats.record_execution(total, input_ns, infer_ns, output_ns)
        for pending, answer in zip(live, answers, strict=True):
            if pending.future.done():
                continue  # the caller went away; its work ran anyway
            queue_ns = pending.pre_queue_ns + dispatched - pending.queued_ns
            if isinstance(answer, MLOSError):
                pending.future.set_exception(answer)
                continue
            stats.record_request(pending.size, queue_ns, input_ns, infer_ns, output_ns)
            pending.future.set_result(answer)

    def close(self) -> None:
        """Stop the workers and fail every request still waiting."""
        self._closed = True
        for task in self._workers:
            task.cancel()
        self._workers = []
        for queue in self._queues:
            while queue:
                pending = queue.popleft()
                if not pending.future.done():
                    pending.future.set_exception(
                        Unavailable(f"model {self.metadata.name!r} was unloaded")
                    )


def _batchable(metadata: smi_pb2.ModelMetadata) -> bool:
    """Whether requests of the model can be concatenated: a batch dimension on every tensor
    and only fixed-size datatypes (BYTES elements cannot be split by rows)."""
    if metadata.max_batch_size <= 0:
        return False
    for spec in (*metadata.inputs, *metadata.outputs):
        if spec.datatype not in _ITEMSIZE or not spec.shape or spec.shape[0] != -1:
            return False
    return True


def _data(
    tensor: smi_pb2.Tensor, binding: Binding | None, attachments: Attachments | None
) -> bytes | memoryview:
    """The bytes of a checked input: in a client region, beside the request, or inline."""
    if binding is not None:
        data = binding.inputs.get(tensor.name)
        if data is not None:
            return data
    if attachments:
        given = attachments.get(tensor.name)
        if given is not None:
            return given
    return tensor.contents


def _combine(live: list[_Pending]) -> tuple[smi_pb2.InferRequest, dict[str, memoryview], int]:
    """One request for a batch: each input's rows copied once into one buffer per input."""
    first = live[0].request
    total = sum(pending.size for pending in live)
    request = smi_pb2.InferRequest(
        model_name=first.model_name, model_version=first.model_version, id=first.id
    )
    for name, value in first.parameters.items():
        if name != PRIORITY:
            request.parameters[name].CopyFrom(value)
    request.outputs.extend(smi_pb2.RequestedOutput(name=o.name) for o in first.outputs)
    buffers: dict[str, memoryview] = {}
    for index, tensor in enumerate(first.inputs):
        row = _ITEMSIZE[tensor.datatype] * math.prod(tensor.shape[1:])
        buffer = bytearray(row * total)
        offset = 0
        for pending in live:
            source = pending.request.inputs[index]
            data = _data(source, pending.binding, pending.attachments)
            buffer[offset : offset + len(data)] = data
            offset += len(data)
        shape = [total, *tensor.shape[1:]]
        request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=shape)
        buffers[tensor.name] = memoryview(buffer)
    return request, buffers, total


def _split(
    response: smi_pb2.InferResponse, live: list[_Pending], total: int
) -> list[smi_pb2.InferResponse | MLOSError]:
    """Each caller's rows of every output of a batch's answer (or the error of a caller whose
    shared-memory region cannot take its rows)."""
    answers = [
        smi_pb2.InferResponse(
            model_name=response.model_name,
            model_version=response.model_version,
            id=pending.request.id,
        )
        for pending in live
    ]
    failed: dict[int, MLOSError] = {}
    for output in response.outputs:
        if not output.shape or output.shape[0] != total or len(output.contents) % total:
            raise InternalError(
                f"output {output.name!r} of a batch of {total} has shape {list(output.shape)}"
            )
        row = len(output.contents) // total
        view = memoryview(output.contents)
        rest = list(output.shape[1:])
        start = 0
        for index, (pending, answer) in enumerate(zip(live, answers, strict=True)):
            end = start + pending.size * row
            tensor = answer.outputs.add(
                name=output.name, datatype=output.datatype, shape=[pending.size, *rest]
            )
            for key, value in output.parameters.items():
                tensor.parameters[key].CopyFrom(value)
            target = pending.binding.outputs.get(output.name) if pending.binding else None
            if target is not None:
                try:
                    ref = target.write(view[start:end], f"output {output.name!r}")
                except MLOSError as error:
                    failed[index] = error
                else:
                    tensor.shared_memory.CopyFrom(ref)
                    set_ref_parameters(tensor.parameters, ref)
            else:
                tensor.contents = view[start:end].tobytes()
            start = end
    return [failed.get(index, answer) for index, answer in enumerate(answers)]
