"""A tiny plugin used by the SDK and core tests: returns its input, doubled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument
from mlos.sdk import LoadedModel, ModelPlugin, ModelSpec, TensorSpec


class DoubleModel(LoadedModel):
    """y = 2 * x for FP32 x of shape [-1, 4]."""

    platform = "test_double"

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("x", "FP32", (-1, 4))]

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("y", "FP32", (-1, 4))]

    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        return {"y": inputs["x"] * np.float32(2)}


class EchoPlugin(ModelPlugin):
    """Serves `.double` files."""

    name = "double"
    version = "0.0.1"
    formats = ("double",)
    file_extensions = (".double",)

    def load(self, spec: ModelSpec) -> LoadedModel:
        if not spec.path.exists():
            raise InvalidArgument(f"{spec.path} does not exist")
        return DoubleModel()
