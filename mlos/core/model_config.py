"""Triton's model configuration, derived from the metadata a plugin reports.

The configuration is the `inference.ModelConfig` message: gRPC answers it as it is and REST
answers its JSON mapping (:func:`mlos.wire.encoding.triton_json`); the rule lives here once.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlos.core.batching import Scheduling
from mlos_generated import inference_pb2, smi_pb2

__all__ = ["model_config", "on_gpu", "triton_datatype"]


def triton_datatype(datatype: str) -> inference_pb2.DataType.ValueType:
    """Open Inference Protocol datatype → Triton config `DataType` (BYTES → TYPE_STRING)."""
    name = "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"
    if name not in inference_pb2.DataType.keys():  # noqa: SIM118 (an enum wrapper, not a dict)
        return inference_pb2.TYPE_INVALID
    return inference_pb2.DataType.Value(name)


def _dims(spec: smi_pb2.TensorMetadata, batched: bool) -> Iterable[int]:
    return [int(d) for d in (spec.shape[1:] if batched else spec.shape)]


def model_config(
    metadata: smi_pb2.ModelMetadata, scheduling: Scheduling | None = None
) -> inference_pb2.ModelConfig:
    """The configuration of a loaded model version (with its `scheduling`, when it has one:
    `dynamic_batching` and `instance_group`)."""
    batched = metadata.max_batch_size > 0
    config = inference_pb2.ModelConfig(
        name=metadata.name,
        platform=metadata.platform,
        backend=metadata.plugin,
        max_batch_size=metadata.max_batch_size,
    )
    if metadata.version.isdigit():
        config.version_policy.specific.versions.append(int(metadata.version))
    else:
        config.version_policy.latest.num_versions = 1
    for spec in metadata.inputs:
        config.input.add(
            name=spec.name, data_type=triton_datatype(spec.datatype), dims=_dims(spec, batched)
        )
    for spec in metadata.outputs:
        config.output.add(
            name=spec.name, data_type=triton_datatype(spec.datatype), dims=_dims(spec, batched)
        )
    for key, value in sorted(metadata.properties.items()):
        config.parameters[key].string_value = value
    if scheduling is not None:
        scheduling.to_model_config(config, on_gpu(metadata))
    return config


def on_gpu(metadata: smi_pb2.ModelMetadata) -> bool:
    """Whether a model runs on a GPU, as its plugin reports it: the torch plugin's `device`
    property, the onnx plugin's first `execution_providers` entry."""
    properties = metadata.properties
    device = properties.get("device", "").lower()
    providers = properties.get("execution_providers", "")
    return device.startswith(("cuda", "gpu")) or providers.startswith("CUDA")
