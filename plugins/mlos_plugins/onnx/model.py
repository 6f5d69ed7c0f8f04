"""A loaded ONNX model: one onnxruntime session, its metadata, and inference on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import Array, DescribedModel, ModelSpec, TensorSpec
from mlos.sdk.options import max_batch_size
from mlos_plugins.onnx.datatypes import (
    ONNX_DATATYPES,
    bf16_array,
    bf16_value,
    datatype_for,
    decode_strings,
    dims,
)
from mlos_plugins.onnx.header import ModelHeader, read_header
from mlos_plugins.onnx.options import SessionConfig
from mlos_plugins.onnx.session import BAD_REQUEST_ERRORS, ort_message

__all__ = ["OnnxModel"]

_DESCRIPTION_LIMIT = 1024


def _tensor_specs(
    args: Sequence[Any], role: str, file: Path
) -> tuple[list[TensorSpec], dict[str, str]]:
    """Specs of the servable tensors, and the others by name with their onnxruntime type."""
    specs: list[TensorSpec] = []
    unsupported: dict[str, str] = {}
    for arg in args:
        datatype = datatype_for(arg.type)
        if datatype is None:
            unsupported[arg.name] = arg.type
        else:
            specs.append(TensorSpec(arg.name, datatype, dims(arg.shape)))
    if role == "input" and unsupported:
        name, kind = next(iter(unsupported.items()))
        raise InvalidArgument(
            f"{file}: input {name!r} is {kind}; the onnx plugin serves tensors of "
            f"{', '.join(sorted(set(ONNX_DATATYPES.values())))}"
        )
    if role == "output" and not specs:
        raise InvalidArgument(f"{file}: no output is a tensor the onnx plugin can serve")
    return specs, unsupported



def _properties(
    session: Any, header: ModelHeader, file: Path, config: SessionConfig
) -> dict[str, str]:
    meta = session.get_modelmeta()
    opsets = {domain or "ai.onnx": version for domain, version in header.opsets.items()}
    facts: dict[str, Any] = {
        "file": file,
        "producer_name": header.producer_name or meta.producer_name,
        "producer_version": header.producer_version,
        "domain": header.domain or meta.domain,
        "model_version": header.model_version,
        "graph_name": meta.graph_name,
        "description": meta.description[:_DESCRIPTION_LIMIT],
        "ir_version": header.ir_version,
        "opset": opsets.get("ai.onnx", ""),
        "opsets": ",".join(f"{domain}={version}" for domain, version in sorted(opsets.items())),
        "onnxruntime_version": ort.__version__,
        "execution_providers": ",".join(session.get_providers()),
        "intra_op_threads": config.intra_op_threads,
    }
    properties = {key: str(value) for key, value in facts.items() if value not in ("", 0, None)}
    for key, value in meta.custom_metadata_map.items():
        properties[f"metadata.{key}"] = value
    return properties


class OnnxModel(DescribedModel):
    """An ONNX model served by an onnxruntime `InferenceSession`.

    Its inputs have -1 for symbolic or unknown dimensions; its outputs are those MLOS can
    return (tensors of a supported datatype). Its properties: producer, opsets, IR version,
    onnxruntime version and providers, the model's metadata.

    Inference feeds the caller's arrays to onnxruntime as they are (read-only arrays included):
    only string inputs (decoded from UTF-8) and BF16 tensors (wrapped as `OrtValue`s) are
    converted. Errors onnxruntime reports for inputs that do not fit the model become
    `InvalidArgument`; anything else propagates as an internal error.
    """

    platform = "onnxruntime_onnx"

    def __init__(self, session: Any, spec: ModelSpec, file: Path, config: SessionConfig) -> None:
        """Describe `session`; raise InvalidArgument when it has tensors MLOS cannot serve."""
        self.name = spec.name
        self.file = file
        inputs, _ = _tensor_specs(session.get_inputs(), "input", file)
        outputs, skipped = _tensor_specs(session.get_outputs(), "output", file)
        self._output_names = [spec.name for spec in outputs]
        self._known_outputs = frozenset(self._output_names)
        self._string_inputs = tuple(s.name for s in inputs if s.datatype == "BYTES")
        self._bf16_inputs = frozenset(s.name for s in inputs if s.datatype == "BF16")
        self._bf16_outputs = frozenset(s.name for s in outputs if s.datatype == "BF16")
        if self._bf16_outputs and self._string_inputs:
            raise InvalidArgument(
                f"{file}: a model with string inputs and BF16 outputs cannot be served "
                "(onnxruntime returns BF16 outputs only when every input is numeric)"
            )
        self._plain = not (self._string_inputs or self._bf16_inputs or self._bf16_outputs)
        self.max_batch_size = max_batch_size(inputs, outputs, config.max_batch_size)
        properties = _properties(session, read_header(file), file, config)
        if skipped:
            properties["unsupported_outputs"] = ",".join(
                f"{name}:{kind}" for name, kind in skipped.items()
            )
        super().__init__(inputs, outputs, properties)
        self._session: Any = session

    @property
    def session(self) -> Any:
        """The onnxruntime `InferenceSession`, or None once the model is unloaded."""
        return self._session

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        """Run the model for the `outputs` named (all when empty)."""
        session = self._session
        if session is None:
            raise NotFound(f"model {self.name!r} is not loaded")
        if not outputs:
            names = self._output_names
        else:
            names = outputs if type(outputs) is list else list(outputs)
            if not self._known_outputs.issuperset(names):
                unknown = sorted(set(names) - self._known_outputs)
                raise InvalidArgument(
                    f"model {self.name!r} has no output {', '.join(map(repr, unknown))}; "
                    f"outputs: {', '.join(self._output_names)}"
                )
        try:
            if self._plain:
                feed = inputs if type(inputs) is dict else dict(inputs)
                return dict(zip(names, session.run(names, feed), strict=True))
            if self._bf16_outputs:
                return self._run_values(session, inputs, names)
            return dict(zip(names, session.run(names, self._feed(inputs)), strict=True))
        except BAD_REQUEST_ERRORS as exc:
            raise InvalidArgument(f"model {self.name!r}: {ort_message(exc)}") from exc

    def _feed(self, inputs: Mapping[str, Array]) -> dict[str, Any]:
        """The input feed with strings decoded and BF16 inputs wrapped."""
        feed: dict[str, Any] = dict(inputs)
        for name in self._string_inputs:
            array = feed.get(name)
            if array is not None:
                feed[name] = decode_strings(name, array)
        for name in self._bf16_inputs:
            array = feed.get(name)
            if array is not None:
                feed[name] = bf16_value(ort, name, array)
        return feed

    def _run_values(
        self, session: Any, inputs: Mapping[str, Array], names: Sequence[str]
    ) -> dict[str, Array]:
        """Run through `OrtValue`s, the only way onnxruntime hands out BF16 outputs."""
        feed = {
            name: bf16_value(ort, name, array)
            if name in self._bf16_inputs
            else ort.OrtValue.ortvalue_from_numpy(array)
            for name, array in inputs.items()
        }
        values = session.run_with_ort_values(names, feed)
        return {
            name: bf16_array(value) if name in self._bf16_outputs else value.numpy()
            for name, value in zip(names, values, strict=True)
        }

    def unload(self) -> None:
        """Drop the session; onnxruntime frees its memory and threads with it."""
        self._session = None
