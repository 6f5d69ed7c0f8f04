"""Second versions of the `double` test plugin (tests/sdk/echo_plugin.py), for hot swaps.

* `DoubleV2`: version 0.0.2, the same answers as 0.0.1 (y = 2x);
* `LoadFails`: version 0.0.3, refuses to load any model;
* `WarmupFails`: version 0.0.4, loads models whose every inference fails;
* `ScalePlugin`: serves files holding a factor f: y = f * x.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import InternalError, InvalidArgument
from mlos.sdk import LoadedModel, ModelSpec
from tests.sdk.echo_plugin import DoubleModel, EchoPlugin


class DoubleV2(EchoPlugin):
    """The same plugin, another version."""

    version = "0.0.2"


class LoadFails(EchoPlugin):
    """A version that cannot load models."""

    version = "0.0.3"

    def load(self, spec: ModelSpec) -> LoadedModel:
        raise InvalidArgument(f"version 0.0.3 cannot read {spec.path.name}")


class _Broken(DoubleModel):
    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        raise InternalError("this version's kernels are broken")


class WarmupFails(EchoPlugin):
    """A version whose models load but fail every inference."""

    version = "0.0.4"

    def load(self, spec: ModelSpec) -> LoadedModel:
        return _Broken()


class _Scale(DoubleModel):
    def __init__(self, factor: float) -> None:
        self.factor = np.float32(factor)

    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        return {"y": inputs["x"] * self.factor}


class ScalePlugin(EchoPlugin):
    """Serves `.double` files that hold a number: y = number * x (a model whose file matters)."""

    version = "0.1.0"

    def load(self, spec: ModelSpec) -> LoadedModel:
        try:
            return _Scale(float(spec.path.read_text()))
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"{spec.path.name} holds no number: {exc}") from None
