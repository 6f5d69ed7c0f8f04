"""Comparing an output a plugin returned with the one a fixture expects."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import MLOSError
from mlos.wire.tensors import to_numpy
from mlos_conformance.fixtures import FixtureTensor, Tolerance
from mlos_generated import smi_pb2

__all__ = ["FLOATING", "Comparison", "compare_output"]

#: Datatypes compared within a tolerance; integers within `atol`, the rest exactly.
FLOATING = frozenset({"FP16", "FP32", "FP64", "BF16"})

Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class Comparison:
    """What comparing one output found: a problem (None when it matches) and the largest
    absolute difference seen between numbers (0 for exact datatypes)."""

    problem: str | None
    max_difference: float = 0.0


def _values(datatype: str, array: Array) -> Array:
    if datatype == "BF16":
        return (array.astype("<u4") << 16).view("<f4")
    return array


def _element(array: Array, index: tuple[int, ...]) -> str:
    value = array[index] if array.ndim else array.item()
    return repr(value.item() if isinstance(value, np.generic) else value)


def _mismatches(
    datatype: str, got: Array, want: Array, tolerance: Tolerance
) -> tuple[Array, float]:
    """A boolean array of the elements that differ too much, and the largest difference."""
    if datatype in FLOATING:
        a, e = got.astype(np.float64), want.astype(np.float64)
        close = np.isclose(a, e, rtol=tolerance.rtol, atol=tolerance.atol, equal_nan=True)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(a) & np.isfinite(e)
            worst = float(np.max(np.abs(a - e)[finite], initial=0.0))
        return ~close, worst
    if datatype in ("BYTES", "BOOL"):
        return np.asarray(got != want, dtype=bool), 0.0
    # Integers: exact, or within a whole `atol`; Python integers cannot overflow.
    allowed = math.floor(tolerance.atol)
    difference = np.abs(got.astype(object) - want.astype(object))
    worst = float(np.max(difference, initial=0)) if difference.size else 0.0
    return np.asarray(difference > allowed, dtype=bool), worst


def compare_output(
    name: str, got: smi_pb2.Tensor, expected: FixtureTensor, tolerance: Tolerance
) -> Comparison:
    """Whether output `name` has the expected datatype and shape and values within tolerance."""
    label = f"output {name!r}"
    if got.datatype != expected.datatype:
        return Comparison(f"{label} is {got.datatype}, expected {expected.datatype}")
    if tuple(got.shape) != expected.shape:
        return Comparison(f"{label} has shape {list(got.shape)}, expected {list(expected.shape)}")
    try:
        actual = _values(got.datatype, to_numpy(got))
    except MLOSError as exc:
        return Comparison(f"{label}: {exc.message}")
    want = _values(expected.datatype, expected.array())
    bad, worst = _mismatches(got.datatype, actual, want, tolerance)
    count = int(np.count_nonzero(bad))
    if not count:
        return Comparison(None, worst)
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    bound, spread = "", f" (max |diff| {worst:g})"
    if got.datatype in FLOATING:
        bound = f" beyond rtol {tolerance.rtol:g}, atol {tolerance.atol:g}"
    elif got.datatype in ("BYTES", "BOOL"):
        spread = ""
    else:
        bound = f" by more than {math.floor(tolerance.atol)}"
    return Comparison(
        f"{label}: {count} of {bad.size} values differ{bound}; the first at {list(first)}: got "
        f"{_element(actual, first)}, expected {_element(want, first)}{spread}",
        worst,
    )
