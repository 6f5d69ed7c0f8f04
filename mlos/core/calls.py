"""Calls counted per transport and operation: the metrics stage of the call pipeline.

:class:`CallCounter` is an interceptor (:mod:`mlos.core.pipeline`, order 40): every call that
reaches it is counted under its transport and operation, every call that fails is counted again
under the error's status code, and the calls under way are counted while they run. It keeps
plain integers, and :meth:`CallCounter.collect` turns them into Prometheus families when the
metrics are scraped, so counting costs a few dictionary updates per call.

A call refused by an earlier stage (authentication, rate limits, admission) never reaches it;
neither do REST requests that fail before routing or validation lets them into the pipeline.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from mlos.core.pipeline import Call, Next
from mlos.errors import MLOSError

__all__ = ["ORDER", "CallCounter"]

ORDER = 40
"""Where the counter sits in the pipeline: after authentication, limits and admission."""

_Key = tuple[str, str]


def _code(error: BaseException) -> str:
    if isinstance(error, MLOSError):
        return error.code.name
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "INTERNAL"


_Family = tuple[
    type[CounterMetricFamily | GaugeMetricFamily], str, str, Iterable[tuple[tuple[str, ...], int]],
    list[str],
]
"""A Prometheus family: its kind, name, documentation, counts by label values, label names."""


class CallCounter:
    """Counts calls, failed calls and calls under way by transport and operation."""

    def __init__(self) -> None:
        self.calls: defaultdict[_Key, int] = defaultdict(int)
        self.errors: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.in_flight: defaultdict[_Key, int] = defaultdict(int)

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Count `call`, run the rest of the pipeline, count its failure if it fails."""
        # On every call: `_value_` rather than the `value` property, tuples of strings as keys.
        key = (call.caller.transport._value_, call.operation.name)
        self.calls[key] += 1
        in_flight = self.in_flight
        in_flight[key] += 1
        try:
            return await proceed(call, request)
        except BaseException as error:
            self.errors[(*key, _code(error))] += 1
            raise
        finally:
            in_flight[key] -= 1

    def collect(self) -> Iterator[Metric]:
        """The counters as Prometheus families (a prometheus_client collector)."""
        operation = ["transport", "operation"]
        families: tuple[_Family, ...] = (
            (CounterMetricFamily, "mlos_api_requests",
             "Calls that reached the core, by transport and operation.", self.calls.items(),
             operation),
            (CounterMetricFamily, "mlos_api_request_errors",
             "Calls that failed, by transport, operation and status code.", self.errors.items(),
             [*operation, "code"]),
            (GaugeMetricFamily, "mlos_api_requests_in_flight",
             "Calls under way, by transport and operation.", self.in_flight.items(), operation),
        )  # fmt: skip
        for family, name, documentation, counts, labels in families:
            metric = family(name, documentation, labels=labels)
            for key, count in sorted(counts):
                metric.add_metric(list(key), count)
            yield metric
