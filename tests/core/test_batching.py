"""Scheduling settings: what a registration may ask for, and how they are stored and reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlos.core.batching import Scheduling
from mlos.core.model_config import model_config
from mlos.core.store import ModelRecord, RegistryStore
from mlos.errors import InvalidArgument
from mlos_generated import inference_pb2, smi_pb2


def _request(**fields: object) -> smi_pb2.RegisterModelRequest:
    request = smi_pb2.RegisterModelRequest(name="m", path="/m.onnx")
    batching = fields.pop("dynamic_batching", None)
    if isinstance(batching, dict):
        request.dynamic_batching.SetInParent()
        for key, value in batching.items():
            if key == "preferred_batch_size":
                request.dynamic_batching.preferred_batch_size.extend(value)  # type: ignore[arg-type]
            else:
                setattr(request.dynamic_batching, key, value)
    for key, value in fields.items():
        setattr(request, key, value)
    return request


def _metadata(max_batch_size: int) -> smi_pb2.ModelMetadata:
    metadata = smi_pb2.ModelMetadata(name="m", version="1", max_batch_size=max_batch_size)
    metadata.inputs.add(name="x", datatype="FP32", shape=[-1, 4])
    metadata.outputs.add(name="y", datatype="FP32", shape=[-1, 4])
    return metadata


def test_a_registration_without_either_field_has_no_scheduling() -> None:
    assert Scheduling.of_request(_request()) is None


def test_an_empty_dynamic_batching_switches_batching_on_with_triton_s_defaults() -> None:
    scheduling = Scheduling.of_request(_request(dynamic_batching={}))
    assert scheduling == Scheduling(batching=True)
    assert (scheduling.levels, scheduling.default_level, scheduling.instance_count) == (1, 1, 1)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"instance_count": 65}, "instance_count 65"),
        ({"dynamic_batching": {"preferred_batch_size": [4, 0]}}, "at least 1"),
        ({"dynamic_batching": {"max_queue_delay_us": 1_000_001}}, "max_queue_delay_us"),
        ({"dynamic_batching": {"priority_levels": 65}}, "priority_levels"),
        ({"dynamic_batching": {"default_priority_level": 2}}, "not one of the 1 priority"),
    ],
)
def test_settings_out_of_range_are_invalid(fields: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        Scheduling.of_request(_request(**fields))


def test_batching_needs_a_batch_dimension_and_preferred_sizes_within_it() -> None:
    batching = Scheduling(batching=True, preferred_batch_sizes=(4, 16))
    batching.check(_metadata(16))
    with pytest.raises(InvalidArgument, match="no batch dimension"):
        batching.check(_metadata(0))
    with pytest.raises(InvalidArgument, match="preferred_batch_size 16 is larger"):
        batching.check(_metadata(8))
    Scheduling(instance_count=2).check(_metadata(0))  # instances alone need no batch dimension


def test_settings_are_stored_apart_from_the_plugin_config(tmp_path: Path) -> None:
    scheduling = Scheduling.of_request(
        _request(
            dynamic_batching={"preferred_batch_size": [8, 2, 8], "max_queue_delay_us": 100,
                              "priority_levels": 3, "max_queue_size": 7},
            instance_count=2,
        )
    )  # fmt: skip
    assert scheduling is not None and scheduling.preferred_batch_sizes == (2, 8)
    store = RegistryStore(f"sqlite:///{tmp_path / 'registry.db'}")
    record = ModelRecord("m", "1", "onnx", "/m.onnx", {"k": "v"}, scheduling=scheduling.to_json())
    store.put_model(record)
    store.close()
    reopened = RegistryStore(f"sqlite:///{tmp_path / 'registry.db'}")
    (read,) = reopened.models()
    reopened.close()
    assert read == record and read.config == {"k": "v"}  # the plugin never sees the settings
    assert Scheduling.of_json(read.scheduling) == scheduling


def test_status_and_model_config_report_the_settings_as_triton_does() -> None:
    scheduling = Scheduling(
        batching=True, preferred_batch_sizes=(4,), max_queue_delay_us=250, priority_levels=2,
        max_queue_size=9, instance_count=3,
    )  # fmt: skip
    status = smi_pb2.ModelStatus(name="m")
    scheduling.to_status(status)
    assert status.HasField("dynamic_batching") and status.instance_count == 3
    assert list(status.dynamic_batching.preferred_batch_size) == [4]
    config = model_config(_metadata(16), scheduling)
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
    assert config.dynamic_batching.default_priority_level == 2  # the lowest of two levels
    assert config.dynamic_batching.default_queue_policy.max_queue_size == 9
    (group,) = config.instance_group
    assert (group.count, group.kind) == (3, inference_pb2.ModelInstanceGroup.KIND_CPU)
    plain = model_config(_metadata(16))
    assert not plain.HasField("dynamic_batching") and not plain.instance_group
    instances_only = model_config(_metadata(0), Scheduling(instance_count=2))
    assert not instances_only.HasField("dynamic_batching")
    assert instances_only.instance_group[0].count == 2
    on_cuda = _metadata(0)
    on_cuda.properties["execution_providers"] = "CUDAExecutionProvider,CPUExecutionProvider"
    (group,) = model_config(on_cuda, Scheduling(instance_count=2)).instance_group
    assert group.kind == inference_pb2.ModelInstanceGroup.KIND_GPU
    on_cuda = _metadata(0)
    on_cuda.properties["device"] = "cuda:1"
    (group,) = model_config(on_cuda, Scheduling(instance_count=2)).instance_group
    assert group.kind == inference_pb2.ModelInstanceGroup.KIND_GPU
