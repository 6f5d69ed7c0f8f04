"""A loaded TensorFlow model: a `Runner`, its metadata, and inference on it."""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from pathlib import Path

import tensorflow as tf

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import Array, DescribedModel, ModelSpec
from mlos.sdk.options import max_batch_size
from mlos.wire.tensors import DATATYPES
from mlos_plugins.tensorflow.options import TensorFlowConfig
from mlos_plugins.tensorflow.runner import Runner

__all__ = ["TensorFlowModel"]

#: Errors of a run that mean "the inputs do not fit the model".
BAD_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    tf.errors.InvalidArgumentError,
    ValueError,
    TypeError,
)


def _fits(array: Array, datatype: str) -> bool:
    """Whether `array` holds elements of `datatype` (BF16 as raw 16-bit patterns)."""
    if datatype == "BYTES":
        return array.dtype.kind in "OSU"
    return bool(array.dtype == DATATYPES[datatype])


def _describe(exc: BaseException) -> str:
    """An error's message on one line, without the Python frames TensorFlow adds.

    A graph error names the frames that built the failing node ("Detected at node ...
    defined at (most recent call last): File ..."): paths of the loading process, no help to
    a caller. They are dropped; the node and TensorFlow's own message remain.
    """
    message = getattr(exc, "message", None) or str(exc)
    kept = [
        line for line in message.splitlines()
        if not line.lstrip().startswith("File ") and "(most recent call last)" not in line
    ]
    return " ".join(" ".join(kept).split())[:500]



class TensorFlowModel(DescribedModel):
    """A SavedModel signature, Keras model or TFLite interpreter behind one interface.

    Its inputs and outputs are the signature's; its properties: file, TensorFlow version,
    signature, tags, loader or interpreter, threads.
    """

    def __init__(
        self, runner: Runner, spec: ModelSpec, file: Path, config: TensorFlowConfig
    ) -> None:
        """Describe `runner`; raise InvalidArgument for a max_batch_size it cannot take."""
        self.name = spec.name
        self.platform = runner.platform
        self.max_batch_size = max_batch_size(runner.inputs, runner.outputs, config.max_batch_size)
        self._runner: Runner | None = runner
        self._input_specs = {spec.name: spec for spec in runner.inputs}
        properties = {"file": str(file), "tensorflow_version": tf.__version__, **runner.properties}
        super().__init__(runner.inputs, runner.outputs, properties)

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        """Run the model and return the `outputs` named (all when empty)."""
        runner = self._runner
        if runner is None:
            raise NotFound(f"model {self.name!r} is not loaded")
        self._check(inputs)
        try:
            results = runner.run(inputs)
        except BAD_REQUEST_ERRORS as exc:
            raise InvalidArgument(f"model {self.name!r}: {_describe(exc)}") from exc
        if not outputs:
            return results
        return {name: results[name] for name in outputs if name in results}

    def _check(self, inputs: Mapping[str, Array]) -> None:
        """Refuse missing or unknown inputs, and arrays of another datatype or shape.

        The plugin host checks requests against the metadata already; this keeps the model
        safe when it is driven directly, where each loader would fail in its own way.
        """
        specs = self._input_specs
        if inputs.keys() != specs.keys():
            problems = [f"missing input {name!r}" for name in sorted(specs.keys() - inputs.keys())]
            problems += [f"unknown input {name!r}" for name in sorted(inputs.keys() - specs.keys())]
            raise InvalidArgument(f"model {self.name!r}: {'; '.join(problems)}")
        for name, array in inputs.items():
            spec = specs[name]
            if not _fits(array, spec.datatype):
                raise InvalidArgument(
                    f"model {self.name!r}: input {name!r} holds {array.dtype}; the model "
                    f"expects {spec.datatype}"
                )
            shape = array.shape
            if len(shape) != len(spec.shape) or any(
                want not in (-1, dim) for dim, want in zip(shape, spec.shape, strict=True)
            ):
                raise InvalidArgument(
                    f"model {self.name!r}: input {name!r} has shape {list(shape)}; the model "
                    f"expects {list(spec.shape)}"
                )

    def unload(self) -> None:
        """Close the runner and drop the model.

        Loaded SavedModels and traced functions hold reference cycles; collecting them here
        returns their memory at once instead of at Python's next full collection.
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()
            runner.holds.clear()
        del runner
        gc.collect()
