"""Triton's model configuration, derived from the metadata a plugin reports.

The dict returned has the shape of the JSON mapping of `inference.ModelConfig`, so REST returns
it as is and gRPC parses it into the message; the rule lives here once.
"""

from __future__ import annotations

from typing import Any

from mlos_generated import smi_pb2

__all__ = ["model_config", "triton_datatype"]


def triton_datatype(datatype: str) -> str:
    """Open Inference Protocol datatype → Triton config `DataType` name (BYTES → TYPE_STRING)."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def _tensors(specs: Any, batched: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "data_type": triton_datatype(spec.datatype),
            "dims": [int(d) for d in (spec.shape[1:] if batched else spec.shape)],
        }
        for spec in specs
    ]


def model_config(metadata: smi_pb2.ModelMetadata) -> dict[str, Any]:
    """The configuration of a loaded model version."""
    batched = metadata.max_batch_size > 0
    return {
        "name": metadata.name,
        "platform": metadata.platform,
        "backend": metadata.plugin,
        "version_policy": {"specific": {"versions": [int(metadata.version)]}}
        if metadata.version.isdigit()
        else {"latest": {"num_versions": 1}},
        "max_batch_size": metadata.max_batch_size,
        "input": _tensors(metadata.inputs, batched),
        "output": _tensors(metadata.outputs, batched),
        "parameters": {
            key: {"string_value": value} for key, value in sorted(metadata.properties.items())
        },
    }
