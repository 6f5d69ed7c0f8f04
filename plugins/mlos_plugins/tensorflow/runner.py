"""A `Runner`: what every TensorFlow format becomes once loaded.

SavedModel signatures, Keras models and TFLite interpreters differ in how they are called;
each loader wraps its model as a `Runner` with the same shape: the input and output specs,
named as the model's signature names them (``:`` included), and a function from input arrays
by name to output arrays by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from mlos.sdk.base import TensorSpec

__all__ = ["Array", "Runner"]

Array = npt.NDArray[Any]


@dataclass(slots=True)
class Runner:
    """A loaded TensorFlow model, ready to run."""

    #: "tensorflow_savedmodel", "tensorflow_keras" or "tensorflow_tflite".
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    #: Input arrays by name → every output array by name.
    run: Callable[[Mapping[str, Array]], Mapping[str, Array]]
    #: Facts for the model metadata (signature, loader, threads...).
    properties: dict[str, str] = field(default_factory=dict)
    #: Releases what the runner holds (a session, an interpreter).
    close: Callable[[], None] = lambda: None
    #: Objects to drop on unload.
    holds: list[Any] = field(default_factory=list)
