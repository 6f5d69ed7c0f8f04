"""Wire compatibility of spec/inference.proto with Triton's protocol.

tritonclient ships the descriptors of Triton's `grpc_service.proto` and `model_config.proto`. They
are read from its generated modules without importing them (both define package `inference`, and
one descriptor pool cannot hold the same symbol twice), loaded into a private pool, and compared
with ours: every message, field, enum value and method we define must have Triton's name, number,
type and cardinality.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
    ServiceDescriptor,
)

from mlos_generated import inference_pb2

TRITON_FILES = ("model_config_pb2.py", "service_pb2.py")


def _serialized_descriptor(module_path: Path) -> bytes:
    """The bytes a generated `_pb2` module passes to `AddSerializedFile`."""
    tree = ast.parse(module_path.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
        ):
            arg = node.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, bytes)
            return arg.value
    raise AssertionError(f"no serialized descriptor in {module_path}")


@pytest.fixture(scope="module")
def triton_pool() -> descriptor_pool.DescriptorPool:
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or spec.origin is None:
        pytest.skip("tritonclient is not installed")
    grpc_dir = Path(spec.origin).parent / "grpc"
    pool = descriptor_pool.DescriptorPool()
    for name in TRITON_FILES:
        serialized = _serialized_descriptor(grpc_dir / name)
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(serialized))
    return pool


def _messages(container: FileDescriptor | Descriptor) -> Iterator[Descriptor]:
    types = (
        container.message_types_by_name.values()
        if isinstance(container, FileDescriptor)
        else container.nested_types
    )
    for message in types:
        yield message
        yield from _messages(message)


def _enums(file: FileDescriptor) -> Iterator[EnumDescriptor]:
    yield from file.enum_types_by_name.values()
    for message in _messages(file):
        yield from message.enum_types


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    return ""


def _field_signature(field: FieldDescriptor) -> tuple[object, ...]:
    oneof = field.containing_oneof
    return (
        field.name,
        field.number,
        field.type,
        bool(field.is_repeated),
        _type_name(field),
        oneof.name if oneof is not None else None,
    )


OURS = list(_messages(inference_pb2.DESCRIPTOR))


def test_package_and_service_name() -> None:
    assert inference_pb2.DESCRIPTOR.package == "inference"
    service = inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"


@pytest.mark.parametrize("ours", OURS, ids=[m.full_name for m in OURS])
def test_message_matches_triton(
    ours: Descriptor, triton_pool: descriptor_pool.DescriptorPool
) -> None:
    theirs = triton_pool.FindMessageTypeByName(ours.full_name)
    assert ours.GetOptions().map_entry == theirs.GetOptions().map_entry
    their_fields = {f.number: f for f in theirs.fields}
    for field in ours.fields:
        assert field.number in their_fields, f"{ours.full_name}: Triton has no field {field.number}"
        assert _field_signature(field) == _field_signature(their_fields[field.number])


def test_every_triton_service_message_is_defined(
    triton_pool: descriptor_pool.DescriptorPool,
) -> None:
    """Everything in grpc_service.proto is ours in full: only model_config.proto is a subset."""
    service_file = triton_pool.FindFileByName("grpc_service.proto")
    ours = {m.full_name: m for m in OURS}
    for theirs in _messages(service_file):
        assert theirs.full_name in ours
        assert sorted(_field_signature(f) for f in theirs.fields) == sorted(
            _field_signature(f) for f in ours[theirs.full_name].fields
        )


@pytest.mark.parametrize(
    "ours", list(_enums(inference_pb2.DESCRIPTOR)), ids=lambda e: str(e.full_name)
)
def test_enum_matches_triton(
    ours: EnumDescriptor, triton_pool: descriptor_pool.DescriptorPool
) -> None:
    theirs = triton_pool.FindEnumTypeByName(ours.full_name)
    assert [(v.name, v.number) for v in ours.values] == [(v.name, v.number) for v in theirs.values]


def test_data_type_enum_is_complete(triton_pool: descriptor_pool.DescriptorPool) -> None:
    theirs = triton_pool.FindEnumTypeByName("inference.DataType")
    assert len(inference_pb2.DataType.DESCRIPTOR.values) == len(theirs.values)


def _methods(service: ServiceDescriptor) -> dict[str, tuple[str, str, bool, bool]]:
    return {
        m.name: (
            m.input_type.full_name,
            m.output_type.full_name,
            m.client_streaming,
            m.server_streaming,
        )
        for m in service.methods
    }


def test_service_matches_triton(triton_pool: descriptor_pool.DescriptorPool) -> None:
    ours = inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = triton_pool.FindServiceByName("inference.GRPCInferenceService")
    assert _methods(ours) == _methods(theirs)


def test_infer_request_round_trips_through_triton_classes(
    triton_pool: descriptor_pool.DescriptorPool,
) -> None:
    """Bytes we write parse with Triton's message classes into the same values, and back."""
    request = inference_pb2.ModelInferRequest(model_name="m", model_version="2", id="r1")
    request.parameters["priority"].int64_param = 3
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    tensor.parameters["binary_data_size"].int64_param = 8
    request.outputs.add(name="y").parameters["binary_data"].bool_param = True
    request.raw_input_contents.append(b"\x00\x00\x80?\x00\x00\x00@")

    their_class = message_factory.GetMessageClass(
        triton_pool.FindMessageTypeByName("inference.ModelInferRequest")
    )
    theirs: Any = their_class.FromString(request.SerializeToString())
    assert theirs.inputs[0].shape == [1, 2]
    assert theirs.parameters["priority"].int64_param == 3
    assert theirs.outputs[0].parameters["binary_data"].bool_param is True
    assert inference_pb2.ModelInferRequest.FromString(theirs.SerializeToString()) == request


def test_model_config_parses_in_triton_classes(
    triton_pool: descriptor_pool.DescriptorPool,
) -> None:
    config = inference_pb2.ModelConfig(
        name="m", platform="onnxruntime_onnx", backend="onnxruntime", max_batch_size=8
    )
    config.input.add(name="x", data_type=inference_pb2.TYPE_FP32, dims=[-1, 4])
    config.output.add(name="y", data_type=inference_pb2.TYPE_STRING, dims=[3])
    config.instance_group.add(kind=inference_pb2.ModelInstanceGroup.KIND_CPU, count=1)
    config.dynamic_batching.max_queue_delay_microseconds = 100
    response = inference_pb2.ModelConfigResponse(config=config)

    their_class = message_factory.GetMessageClass(
        triton_pool.FindMessageTypeByName("inference.ModelConfigResponse")
    )
    theirs: Any = their_class.FromString(response.SerializeToString())
    assert theirs.config.input[0].dims == [-1, 4]
    assert theirs.config.output[0].data_type == 13  # TYPE_STRING
    assert theirs.config.WhichOneof("scheduling_choice") == "dynamic_batching"
    assert theirs.config.instance_group[0].kind == 2  # KIND_CPU
