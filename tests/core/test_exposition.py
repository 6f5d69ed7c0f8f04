"""The text exposition: Triton's counter names kept as they are, Prometheus's parser agreeing."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from mlos.core.exposition import CONTENT_TYPE, render


class _Fixed:
    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _registry(*families: Metric) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(*families))  # type: ignore[arg-type]
    return registry


def test_triton_counters_keep_their_names_and_ours_end_in_total() -> None:
    triton = Metric("nv_inference_request_success", "Successful requests.", "counter")
    triton.add_sample("nv_inference_request_success", {"model": "m", "version": "1"}, 3)
    ours = CounterMetricFamily("mlos_api_requests", "Calls.", labels=["transport"])
    ours.add_metric(["rest"], 5)
    empty = CounterMetricFamily("mlos_api_request_errors", "Errors.", labels=["code"])
    text = render(_registry(triton, ours, empty)).decode()
    assert text.splitlines()[:3] == [
        "# HELP nv_inference_request_success Successful requests.",
        "# TYPE nv_inference_request_success counter",
        'nv_inference_request_success{model="m",version="1"} 3',
    ]
    assert "# TYPE mlos_api_requests_total counter" in text
    assert 'mlos_api_requests_total{transport="rest"} 5' in text
    assert "# TYPE mlos_api_request_errors_total counter" in text  # named alike when empty
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["nv_inference_request_success"].type == "counter"
    assert families["nv_inference_request_success"].samples[0].value == 3
    assert families["mlos_api_requests"].samples[0].value == 5
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_values_labels_and_help_are_written_safely() -> None:
    gauge = GaugeMetricFamily("g", 'Help with a \\ and\na newline.', labels=["name"])
    gauge.add_metric(['say "hi"\\\n'], 0.25)
    big = GaugeMetricFamily("big", "Big.")
    big.add_metric([], 74350592.0)
    histogram = HistogramMetricFamily("h", "Sizes.", labels=["m"])
    histogram.add_metric(["x"], [("1", 2), ("+Inf", 3)], 5.0)
    text = render(_registry(gauge, big, histogram)).decode()
    assert "# HELP g Help with a \\\\ and\\na newline." in text
    assert 'g{name="say \\"hi\\"\\\\\\n"} 0.25' in text
    assert "big 74350592" in text
    assert 'h_bucket{m="x",le="+Inf"} 3' in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["g"].samples[0].labels == {"name": 'say "hi"\\\n'}
    assert families["h"].type == "histogram"
    assert render(_registry()) == b""
