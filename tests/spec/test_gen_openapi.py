"""tools/gen_openapi.py: deterministic, typed output that covers the whole document."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "openapi.yaml"


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return _import(ROOT / "tools" / "gen_openapi.py", "gen_openapi_under_test")


@pytest.fixture(scope="module")
def out(tool: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    tool.generate(SPEC, folder)
    return folder


def test_output_is_deterministic(tool: ModuleType, out: Path, tmp_path: Path) -> None:
    tool.generate(SPEC, tmp_path)
    for name in ("openapi_models.py", "openapi_operations.py"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
        assert (out / name).read_text().startswith("# DO NOT EDIT")


def test_operation_table_covers_every_operation(out: Path) -> None:
    operations = _import(out / "openapi_operations.py", "openapi_operations_under_test")
    document = yaml.safe_load(SPEC.read_text())
    expected = {
        (op["operationId"], method.upper(), path, op["tags"][0])
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    rows = {(o.operation_id, o.method, o.path, o.tag) for o in operations.OPERATIONS}
    assert rows == expected
    assert frozenset(row[0] for row in expected) == operations.OPERATION_IDS
    with pytest.raises(AttributeError):
        operations.OPERATIONS[0].path = "/elsewhere"


def test_models_are_typed_dicts_with_required_keys(out: Path) -> None:
    models = _import(out / "openapi_models.py", "openapi_models_under_test")
    assert models.RegisterModelRequest.__required_keys__ == {"name", "path"}
    assert models.RegisterModelRequest.__optional_keys__ == {
        "version", "plugin", "config", "files", "files_root", "resources", "dynamic_batching",
        "instance_count"}
    assert models.PluginStatus.__optional_keys__ == frozenset()
    assert "plugins" in models.HealthResponse.__required_keys__
    document = yaml.safe_load(SPEC.read_text())
    assert set(models.__all__) == set(document["components"]["schemas"])


def test_property_that_is_not_an_identifier(tool: ModuleType) -> None:
    document: dict[str, Any] = {
        "components": {
            "schemas": {
                "Odd": {
                    "type": "object",
                    "required": ["class"],
                    "properties": {"class": {"type": "string"}, "a-b": {"type": "integer"}},
                }
            }
        }
    }
    source = tool.render_models(document)
    namespace: dict[str, Any] = {}
    exec(compile(source, "openapi_models.py", "exec"), namespace)
    assert namespace["Odd"].__required_keys__ == {"class"}
    assert namespace["Odd"].__optional_keys__ == {"a-b"}


def test_duplicate_operation_ids_are_rejected(tool: ModuleType) -> None:
    operation = {
        "operationId": "same", "x-mlos-operation": "health", "tags": ["t"], "responses": {}
    }
    document = {"paths": {"/a": {"get": operation}, "/b": {"get": operation}}}
    with pytest.raises(ValueError, match="duplicate operationId: same"):
        tool.render_operations(document)


def test_an_operation_without_its_mlos_operation_is_rejected(tool: ModuleType) -> None:
    document = {"paths": {"/a": {"get": {"operationId": "a", "responses": {}}}}}
    with pytest.raises(ValueError, match="GET /a has no x-mlos-operation"):
        tool.render_operations(document)
