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
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy.typing as npt

from mlos.wire.tensors import DATATYPES
from mlos_generated import smi_pb2

__all__ = [
    "INSTANCE_KINDS",
    "DescribedModel",
    "LoadedModel",
    "ModelPlugin",
    "ModelSpec",
    "TensorSpec",
    "available_cpus",
]

Array = npt.NDArray[Any]

INSTANCE_KINDS = ("copies", "shared")
"""The values of :attr:`ModelPlugin.instance_kind`."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the core asks a plugin to load.

    A model registered with `instance_count` N is served as N instances: the host loads it
    once per instance (each load's `instance` is 0..N-1) or once for all of them, as the
    plugin's :attr:`ModelPlugin.instance_kind` says, and runs at most one call at a time on
    each instance. :meth:`instance_threads` is the share of the cores one instance may use.
    """

    name: str
    version: str
    path: Path
    config: Mapping[str, str] = field(default_factory=dict)
    instance_count: int = 0
    """Instances the registration asked for; 0 when it named none (served as before)."""
    instance: int = 0
    """Which instance this load is (0-based; 0 for a load shared by every instance)."""
    cpus: float = 0.0
    """Cores the registration declared for the model; 0: the process's own CPUs."""

    def instance_threads(self, default: int) -> int:
        """Threads one instance may compute with: `default` when the registration named no
        instances, else the cores granted (declared, or this process's CPUs) split evenly
        among the instances, at least one."""
        if self.instance_count <= 0:
            return default
        cores = int(self.cpus) if self.cpus >= 1 else available_cpus()
        return max(1, cores // self.instance_count)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which the resource manager may narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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
    #: How a model registered with N instances is served: "copies" loads it N times (Triton's
    #: instance_group: each copy its own state and threads, one call at a time on each);
    #: "shared" loads it once and runs up to N calls on it at once (for frameworks whose
    #: models are thread-safe and whose thread pools are per process).
    instance_kind: ClassVar[str] = "copies"
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
