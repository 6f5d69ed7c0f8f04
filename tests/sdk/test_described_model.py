"""mlos.sdk.DescribedModel: a model that hands its tensors and properties to the base class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from mlos.sdk import DescribedModel, LoadedModel, TensorSpec
from mlos.sdk.base import Array


class Doubler(DescribedModel):
    def __init__(self) -> None:
        spec = TensorSpec("x", "FP32", (-1,))
        super().__init__([spec], [TensorSpec("y", "FP32", (-1,))], {"kind": "double"})

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        return {"y": inputs["x"] * 2}


def test_the_given_description_is_what_the_model_reports() -> None:
    model = Doubler()
    assert isinstance(model, LoadedModel)
    assert model.inputs == (TensorSpec("x", "FP32", (-1,)),)
    assert [spec.name for spec in model.outputs] == ["y"]
    assert model.properties() == {"kind": "double"}


def test_infer_is_still_the_subclass_s_to_write() -> None:
    class Undone(DescribedModel):
        pass

    with pytest.raises(TypeError, match="infer"):
        Undone([], [])  # type: ignore[abstract]
