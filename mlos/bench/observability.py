"""What counting and exposing metrics costs (the numbers in docs/benchmarks.md).

    .venv/bin/python -m mlos.bench.observability [--calls 20000] [--rounds 30]

Measures, in microseconds, the best round of each (the machine's other work only adds time):

* ``pipeline``: one call through :class:`mlos.core.pipeline.Pipeline` to a handler that returns
  at once — with no interceptor, with a do-nothing interceptor, and with the
  :class:`mlos.core.calls.CallCounter` every server runs at order 40;
* ``record``: :meth:`mlos.core.stats.ModelStats.record_success`, what each inference adds to
  the statistics (and so to the metrics);
* ``scrape``: :meth:`mlos.core.metrics.Metrics.render` of an engine with 10 model versions that
  have served requests of 4 batch sizes, 40 transport/operation pairs and no plugin process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import tempfile
import time
from pathlib import Path
from typing import Any

from mlos.bench.timing import best_per_call_us
from mlos.config import Settings
from mlos.core.calls import ORDER, CallCounter
from mlos.core.engine import Engine
from mlos.core.models import ModelEntry
from mlos.core.operations import OPERATIONS, operation
from mlos.core.pipeline import Call, Caller, Next, Pipeline, Transport
from mlos.core.stats import ModelStats
from mlos.core.store import ModelRecord
from mlos_generated import smi_pb2


async def _handler(request: int, call: Call) -> int:
    return request


async def _nothing(call: Call, request: Any, proceed: Next) -> Any:
    return await proceed(call, request)


async def _pipeline(calls: int, rounds: int) -> dict[str, float]:
    call = Call(operation("infer"), Caller(Transport.GRPC))
    results = {}
    for name, stage in (("no interceptor", None), ("do-nothing", _nothing),
                        ("CallCounter", CallCounter())):  # fmt: skip
        pipeline = Pipeline()
        if stage is not None:
            pipeline.add(stage, ORDER)
        results[name] = await best_per_call_us(
            functools.partial(pipeline.run, call, _handler, 1), calls, rounds
        )
    return results


def _record(calls: int, rounds: int) -> float:
    stats = ModelStats("m", "1")
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            stats.record_success(4, 1000, 2000, 30000, 100)
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


def _scrape(rounds: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as home:
        engine = Engine(Settings(home=Path(home)))
        try:
            for index in range(10):
                # Ten versions in the model registry (no plugin process: the model families
                # list the registry's entries), each with counters of four batch sizes.
                name = f"m{index}"
                record = ModelRecord(name=name, version="1", plugin="none", path="/dev/null")
                engine.models.entries[name] = {
                    "1": ModelEntry(record, state=smi_pb2.MODEL_STATE_READY)
                }
                stats = engine.stats.of(name, "1")
                for batch in (1, 2, 4, 8):
                    stats.record_success(batch, 1000, 2000, 30000, 100)
            for name in list(OPERATIONS)[:20]:
                for transport in (Transport.REST, Transport.GRPC):
                    engine.metrics.calls.calls[(transport.value, name)] += 1
            best = float("inf")
            size = 0
            for _ in range(rounds):
                started = time.perf_counter()
                size = len(engine.metrics.render())
                best = min(best, (time.perf_counter() - started) * 1e6)
            return best, size
        finally:
            engine.resource_monitor.close()
            engine.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    pipeline = asyncio.run(_pipeline(args.calls, args.rounds))
    for name, micros in pipeline.items():
        print(f"pipeline, {name:15} {micros:8.2f} us per call")
    print(f"record_success           {_record(args.calls, args.rounds):8.2f} us per request")
    scrape, size = _scrape(args.rounds)
    print(f"scrape (render)          {scrape:8.0f} us, {size} bytes")


if __name__ == "__main__":
    main()
