"""Prometheus's text exposition format (0.0.4), written the way Triton writes its counters.

prometheus_client's own writer names every counter `<name>_total`, in its TYPE line and, for
the families it builds, in its samples. Triton's counters have no such suffix
(`nv_inference_request_success`, `nv_inference_queue_duration_us`), and dashboards written for
Triton query those names. :func:`render` writes each family under the name its samples carry:
a counter family whose samples are `<name>` is written as `<name>` (Triton's), one whose samples
are `<name>_total` as `<name>_total` (Prometheus's convention, which the `mlos_*` counters
follow). Anything that reads the text format — Prometheus, prometheus_client's parser — reads
both.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of :func:`render`'s output."""

_TYPES = {
    "counter": "counter",
    "gauge": "gauge",
    "histogram": "histogram",
    "summary": "summary",
    "unknown": "untyped",
    "info": "gauge",
    "stateset": "gauge",
    "gaugehistogram": "histogram",
}


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    pairs = ",".join(f'{key}="{_escape_value(str(value))}"' for key, value in labels.items())
    return "{" + pairs + "}"


def _family_name(metric: Metric) -> str:
    name = metric.name
    if metric.type == "counter" and (
        isinstance(metric, CounterMetricFamily)  # samples `<name>_total`, even before any
        or any(s.name == f"{name}_total" for s in metric.samples)
    ):
        return f"{name}_total"
    if metric.type == "info":
        return f"{name}_info"
    return name


def _number(value: float) -> str:
    """Whole numbers without a fraction (`42`, as Triton writes its counters), others as Go
    writes floats (`0.25`, `1.5e+07`, `+Inf`)."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def render(collector: Collector) -> bytes:
    """Every family `collector` (a registry, usually) yields, in the text format."""
    lines: list[str] = []
    for metric in collector.collect():
        name = _family_name(metric)
        lines.append(f"# HELP {name} {_escape_help(metric.documentation)}")
        lines.append(f"# TYPE {name} {_TYPES.get(metric.type, 'untyped')}")
        created = f"{metric.name}_created"
        for sample in metric.samples:
            if sample.name == created:
                continue  # an OpenMetrics sample the 0.0.4 format has no place for
            lines.append(f"{sample.name}{_labels(sample.labels)} {_number(sample.value)}")
    return ("\n".join(lines) + "\n").encode() if lines else b""
