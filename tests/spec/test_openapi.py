"""spec/openapi.yaml: a valid document whose schemas agree with the protos they render."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.descriptor import Descriptor

from mlos.wire import encoding, tensors
from mlos_generated import inference_pb2, smi_pb2

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
OPERATIONS = [
    (path, method, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
REQUEST_SCHEMAS = {
    "RegisterPluginRequest", "RegisterModelRequest", "CreateTokenRequest", "PluginLimits",
    "UpgradePluginRequest", "ModelResources", "DynamicBatching",
}


def test_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    assert SPEC["openapi"].startswith("3.1")
    validator.validate(SPEC)


def test_readable_as_openapi_3_0_by_connexion() -> None:
    """Connexion 3 only knows OpenAPI 3.0; the document keeps to what both versions share."""
    from connexion.spec import Specification

    Specification.load({**SPEC, "openapi": "3.0.3"})


def test_operation_ids_are_unique_snake_case_and_tagged() -> None:
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    assert len(ids) == len(set(ids))
    declared_tags = {tag["name"] for tag in SPEC["tags"]}
    for path, method, operation in OPERATIONS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation["operationId"]), (path, method)
        assert operation["tags"] and set(operation["tags"]) <= declared_tags, (path, method)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_error_shapes_follow_each_api() -> None:
    for path, method, operation in OPERATIONS:
        for status, response in operation["responses"].items():
            content = _resolve(response).get("content", {})
            if status != "default" and int(status) < 400:
                continue
            if not content or (path, status) == ("/v1/health", "503"):
                continue  # health answers with its own body or with the status alone
            if not path.startswith("/v2"):  # /v1 and /metrics
                assert list(content) == ["application/problem+json"], (path, method, status)
            else:
                assert list(content) == ["application/json"], (path, method, status)
                assert content["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def _smi_messages() -> list[Descriptor]:
    return [m for name, m in smi_pb2.DESCRIPTOR.message_types_by_name.items() if name in SCHEMAS]


@pytest.mark.parametrize("message", _smi_messages(), ids=lambda m: str(m.name))
def test_v1_schema_has_the_fields_of_its_message(message: Descriptor) -> None:
    schema = SCHEMAS[message.name]
    fields = {f.name for f in message.fields}
    if message.name == "RegisterPluginRequest":
        # The source oneof is flattened into the request: {"name", "module": ...}.
        fields = (fields - {"source"}) | {"entry_point", "module", "executable"}
    if message.name == "UpgradePluginRequest":
        # The same flattened source; the plugin's name is the path's.
        fields = (fields - {"source", "name"}) | {"entry_point", "module", "executable"}
    assert set(schema["properties"]) == fields
    if message.name not in REQUEST_SCHEMAS and message.name != "PluginSource":
        # A oneof's member is rendered only when set (ModelStatus.dynamic_batching).
        always = {f.name for f in message.fields if f.containing_oneof is None}
        assert set(schema["required"]) == always


@pytest.mark.parametrize("enum", [smi_pb2.PluginState, smi_pb2.ModelState])
def test_v1_enum_schemas_match_the_rendering(enum: Any) -> None:
    descriptor = enum.DESCRIPTOR
    names = [encoding.enum_name(descriptor, v.number) for v in descriptor.values]
    assert SCHEMAS[descriptor.name]["enum"] == names


def test_datatypes_match_the_tensor_table() -> None:
    assert set(SCHEMAS["Datatype"]["enum"]) == set(tensors.DATATYPES)


def test_config_datatypes_match_inference_proto() -> None:
    assert SCHEMAS["ConfigDataType"]["enum"] == list(inference_pb2.DataType.keys())


@pytest.mark.parametrize(
    "name",
    [
        "ModelConfig",
        "ModelInput",
        "ModelOutput",
        "ModelInstanceGroup",
        "ModelStatistics",
        "InferStatistics",
        "InferBatchStatistics",
        "StatisticDuration",
        "MemoryUsage",
    ],
)
def test_v2_triton_schemas_use_inference_proto_fields(name: str) -> None:
    message = inference_pb2.DESCRIPTOR.message_types_by_name[name]
    assert set(SCHEMAS[name]["properties"]) <= {f.name for f in message.fields}


def test_static_paths_precede_templated_ones() -> None:
    """Routes match in document order: /v2/models/stats must not be read as a model name."""
    paths = list(SPEC["paths"])
    assert paths.index("/v2/models/stats") < paths.index("/v2/models/{name}")
