"""The base classes a Python plugin implements.

A plugin is a `ModelPlugin` subclass, published through the `mlos.plugins` entry point group.
The plugin host (`mlos.sdk.host`) runs it in its own process and does all the SMI wiring:
framing, decoding tensors into numpy arrays, threads, typed errors. The plugin itself only
loads models and runs them::

    class EchoPlugin(ModelPlugin):
        name = "echo"
        version = "1.0.0"
        formats = ("echo",)
        file_extensions = (".echo",)

        def load(self, spec: ModelSpec) -> LoadedModel:
            return EchoModel(spec)

Raise `mlos.errors.InvalidArgument` (or another `MLOSError`) for a problem the caller must fix;
any other exception is reported as an internal error of the plugin.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy.typing as npt

from mlos.wire.tensors import DATATYPES
from mlos_generated import smi_pb2

__all__ = ["DescribedModel", "LoadedModel", "ModelPlugin", "ModelSpec", "TensorSpec"]

Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the core asks a plugin to load."""

    name: str
    version: str
    path: Path
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, Open Inference Protocol datatype and shape (-1 for dynamic) of an input or output."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_proto(self) -> smi_pb2.TensorMetadata:
        """As the SMI message."""
        return smi_pb2.TensorMetadata(name=self.name, datatype=self.datatype, shape=self.shape)


class LoadedModel(abc.ABC):
    """A model a plugin has loaded and can run."""

    #: Triton-style platform string, for example "onnxruntime_onnx".
    platform: str = ""
    #: Largest batch along a leading dynamic dimension; 0 when the model does not batch.
    max_batch_size: int = 0

    @property
    @abc.abstractmethod
    def inputs(self) -> Sequence[TensorSpec]:
        """The model's inputs."""

    @property
    @abc.abstractmethod
    def outputs(self) -> Sequence[TensorSpec]:
        """The model's outputs."""

    @abc.abstractmethod
    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        """Run the model.

        `inputs` holds every input by name, already checked against `inputs` (names, datatypes,
        shapes); BYTES inputs arrive as numpy object arrays of `bytes`. `outputs` names the
        outputs wanted. Return arrays by output name; BYTES outputs may be object arrays of
        `bytes` or `str`, or numpy string arrays.
        """

    def unload(self) -> None:  # noqa: B027 - optional hook
        """Release what the model holds; called once, after the last inference."""

    def properties(self) -> Mapping[str, str]:
        """Extra facts reported in the model metadata (for example the producer)."""
        return {}


class DescribedModel(LoadedModel):
    """A `LoadedModel` whose inputs, outputs and properties are known once it has loaded.

    It hands them to `__init__` instead of implementing `inputs`, `outputs` and
    `properties()`; it still implements `infer` (and `unload` when it holds anything)::

        class EchoModel(DescribedModel):
            def __init__(self) -> None:
                spec = TensorSpec("x", "FP32", (-1,))
                super().__init__(inputs=[spec], outputs=[spec], properties={"kind": "echo"})
    """

    def __init__(
        self,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        properties: Mapping[str, str] | None = None,
    ) -> None:
        self._inputs = tuple(inputs)
        self._outputs = tuple(outputs)
        self._properties = dict(properties or {})

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        """The inputs given at creation."""
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        """The outputs given at creation."""
        return self._outputs

    def properties(self) -> Mapping[str, str]:
        """The properties given at creation."""
        return self._properties


class ModelPlugin(abc.ABC):
    """A framework plugin: loads models of the formats it declares."""

    name: ClassVar[str]
    version: ClassVar[str]
    #: Model formats served, for example ("onnx",).
    formats: ClassVar[tuple[str, ...]] = ()
    #: File extensions recognised when a model names no plugin, for example (".onnx",).
    file_extensions: ClassVar[tuple[str, ...]] = ()
    #: Open Inference Protocol datatypes accepted and returned.
    datatypes: ClassVar[tuple[str, ...]] = tuple(DATATYPES)
    #: Inference calls run at the same time (threads in the plugin process).
    max_concurrency: ClassVar[int] = 2
    max_batch_size: ClassVar[int] = 0
    gpu: ClassVar[bool] = False

    def capabilities(self) -> smi_pb2.PluginCapabilities:
        """What this plugin reports in Describe."""
        return smi_pb2.PluginCapabilities(
            formats=self.formats,
            file_extensions=self.file_extensions,
            datatypes=self.datatypes,
            max_batch_size=self.max_batch_size,
            max_concurrency=self.max_concurrency,
            shared_memory=False,
            gpu=self.gpu,
        )

    @abc.abstractmethod
    def load(self, spec: ModelSpec) -> LoadedModel:
        """Load a model; raise InvalidArgument when the file is not a model this plugin serves.

        Loading is all-or-nothing: when this raises, nothing of the model may stay in memory.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release plugin-wide resources before the process exits."""
