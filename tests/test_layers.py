"""The packages of `mlos` are layered one way: no module imports a layer above its own, or a
sibling package of its layer, and no import cycle runs between packages.

Imports are read from the source (module level and inside functions alike), so that a lazy
import cannot hide an arrow that runs back up.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import mlos

ROOT = Path(mlos.__file__).parent

LAYERS: list[set[str]] = [
    {"__init__", "errors", "memory", "discovery", "database_url", "columns", "processes",
     "telemetry", "json_log"},
    {"loop", "names"},
    {"wire", "sandbox"},
    {"input_limits", "resource_settings"},
    {"validation", "config", "demo", "cluster"},
    {"core", "sdk", "client"},
    {"rest", "grpc", "ipc", "preload"},
    {"server"},
    {"testing"},
    {"bench"},
    {"cli"},
]
"""Lowest first. A unit is a subpackage of `mlos` or a module directly inside it."""

LAYER_OF = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _unit(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0].removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    units: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "mlos" or len(parts) < 2:
                continue
            if (ROOT / parts[1]).is_dir() or (ROOT / f"{parts[1]}.py").is_file():
                units.add(parts[1])
    return units


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        unit = _unit(path)
        graph[unit] |= _imported_units(path) - {unit}
    return graph


def test_every_unit_has_a_layer() -> None:
    units = {_unit(path) for path in ROOT.rglob("*.py")}
    assert units <= set(LAYER_OF), f"give these a layer: {sorted(units - set(LAYER_OF))}"


def test_no_import_runs_up_or_sideways() -> None:
    wrong = [
        f"mlos.{unit} imports mlos.{target}"
        for unit, targets in sorted(_graph().items())
        for target in sorted(targets)
        if LAYER_OF[target] >= LAYER_OF[unit]
    ]
    assert wrong == []


def test_no_import_cycle_between_packages() -> None:
    graph = _graph()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(unit: str, path: list[str]) -> None:
        seen[unit] = 1
        for target in sorted(graph.get(unit, ())):
            assert seen.get(target) != 1, " -> ".join([*path, unit, target])
            if target not in seen:
                visit(target, [*path, unit])
        seen[unit] = 2

    for unit in sorted(graph):
        if unit not in seen:
            visit(unit, [])


def test_the_wire_and_the_clients_import_no_server() -> None:
    servers = {"core", "rest", "grpc", "ipc", "server", "sdk"}
    graph = _graph()
    assert graph["wire"] & (servers | {"client"}) == set()
    assert graph["client"] & servers == set()
