"""A loaded TensorFlow model: a `Runner`, its metadata, and inference on it."""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from pathlib import Path

import tensorflow as tf

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import Array, DescribedModel, ModelSpec
from mlos.sdk.options import max_batch_size
from mlos_plugins.tensorflow.options import TensorFlowConfig
from mlos_plugins.tensorflow.runner import Runner

__all__ = ["TensorFlowModel"]

#: Errors of a run that mean "the inputs do not fit the model".
BAD_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    tf.errors.InvalidArgumentError,
    ValueError,
    TypeError,
)



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
        properties = {"file": str(file), "tensorflow_version": tf.__version__, **runner.properties}
        super().__init__(runner.inputs, runner.outputs, properties)

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        """Run the model and return the `outputs` named (all when empty)."""
        runner = self._runner
        if runner is None:
            raise NotFound(f"model {self.name!r} is not loaded")
        try:
            results = runner.run(inputs)
        except BAD_REQUEST_ERRORS as exc:
            message = getattr(exc, "message", None) or str(exc)
            text = " ".join(message.split())[:500]
            raise InvalidArgument(f"model {self.name!r}: {text}") from exc
        if not outputs:
            return results
        return {name: results[name] for name in outputs if name in results}

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
