"""deploy/grafana/mlos.json: a Grafana dashboard whose queries use only the metrics MLOS serves.

Every metric a panel or a variable queries must be one of docs/metrics.md (which another test
holds to what /metrics serves), and every documented metric must be on the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "mlos.json").read_text())
METRIC = re.compile(r"\b((?:nv|mlos)_[a-z_]+)")
SUFFIXES = ("_bucket", "_sum", "_count")


def _documented() -> set[str]:
    docs = (ROOT / "docs" / "metrics.md").read_text()
    return set(re.findall(r"^\| `((?:nv|mlos)_[a-z_]+)` \|", docs, flags=re.MULTILINE))


def _family(name: str, documented: set[str]) -> str:
    if name in documented:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in documented:
            return name.removesuffix(suffix)
    return name


def _queries() -> list[str]:
    expressions = [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "query":
            expressions.append(variable["query"]["query"])
    return expressions


def test_every_query_uses_documented_metrics_and_every_metric_is_shown() -> None:
    documented = _documented()
    used = {_family(name, documented) for expr in _queries() for name in METRIC.findall(expr)}
    assert used - documented == set()
    assert documented - used == set()


def test_panels_have_unique_ids_a_data_source_and_a_place() -> None:
    panels: list[dict[str, Any]] = DASHBOARD["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def test_variables_feed_the_queries() -> None:
    names = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert {"datasource", "instance", "model", "version", "plugin", "transport"} <= names
    for expr in _queries():
        for variable in re.findall(r"\$(\w+)", expr):
            assert variable in names or variable.startswith("__"), (variable, expr)
    assert DASHBOARD["uid"] == "mlos-overview" and DASHBOARD["schemaVersion"] >= 36
