"""Comparing a returned output with a fixture's expected one."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.wire.tensors import from_numpy
from mlos_conformance import FixtureTensor, Tolerance
from mlos_conformance.compare import compare_output
from mlos_generated import smi_pb2


def expected(array: npt.NDArray[Any], datatype: str | None = None) -> FixtureTensor:
    tensor = from_numpy("y", array, datatype)
    return FixtureTensor(tensor.datatype, tuple(tensor.shape), tensor.contents)


def got(array: npt.NDArray[Any], datatype: str | None = None) -> smi_pb2.Tensor:
    return from_numpy("y", array, datatype)


def test_floats_within_tolerance_match() -> None:
    want = np.array([[1.0, 2.0, 0.0]], dtype=np.float32)
    comparison = compare_output("y", got(want + np.float32(1e-6)), expected(want), Tolerance())

    assert comparison.problem is None
    assert 0 < comparison.max_difference < 2e-6


def test_floats_beyond_tolerance_name_the_first_difference() -> None:
    want = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    answer = want.copy()
    answer[1, 0] = 3.5
    comparison = compare_output("y", got(answer), expected(want), Tolerance(rtol=0.1, atol=0))

    assert comparison.problem == (
        "output 'y': 1 of 4 values differ beyond rtol 0.1, atol 0; the first at [1, 0]: "
        "got 3.5, expected 3.0 (max |diff| 0.5)"
    )


def test_nan_matches_nan_and_infinity_matches_itself() -> None:
    want = np.array([np.nan, np.inf, -np.inf], dtype=np.float64)

    assert compare_output("y", got(want), expected(want), Tolerance()).problem is None
    problem = compare_output("y", got(np.array([np.nan, np.inf, 1.0])), expected(want), Tolerance()).problem
    assert problem is not None and "1 of 3 values differ" in problem


def test_integers_are_exact_unless_atol_allows_whole_steps() -> None:
    want = np.array([10, 20, 2**63 - 1], dtype=np.int64)
    answer = np.array([11, 20, 2**63 - 1], dtype=np.int64)

    problem = compare_output("y", got(answer), expected(want), Tolerance()).problem
    assert problem is not None and "1 of 3 values differ by more than 0" in problem
    assert compare_output("y", got(answer), expected(want), Tolerance(atol=1.5)).problem is None
    big = np.array([0, 2**64 - 1], dtype=np.uint64)
    assert compare_output("y", got(big), expected(big), Tolerance()).problem is None


def test_bytes_and_bool_are_exact() -> None:
    words = np.array([b"a", b"b"], dtype=object)
    problem = compare_output("y", got(np.array([b"a", b"c"], dtype=object)), expected(words), Tolerance(atol=9)).problem
    assert problem == "output 'y': 1 of 2 values differ; the first at [1]: got b'c', expected b'b'"
    flags = np.array([True, False])
    assert compare_output("y", got(flags), expected(flags), Tolerance()).problem is None
    assert compare_output("y", got(~flags), expected(flags), Tolerance(atol=1)).problem is not None


def test_bf16_is_compared_as_the_numbers_it_holds() -> None:
    want = expected(np.array([1.0, 2.0], dtype=np.float32).view(np.uint32) >> 16, "BF16")
    close = np.array([0x3F80, 0x4001], dtype=np.uint16)  # 1.0 and 2.015625

    assert compare_output("y", got(close, "BF16"), want, Tolerance(rtol=0.01)).problem is None
    assert compare_output("y", got(close, "BF16"), want, Tolerance(rtol=0.001)).problem is not None


def test_datatype_shape_and_contents_are_checked_first() -> None:
    want = expected(np.zeros((1, 2), dtype=np.float32))

    assert compare_output("y", got(np.zeros((1, 2))), want, Tolerance()).problem == "output 'y' is FP64, expected FP32"
    assert compare_output("y", got(np.zeros((2, 1), np.float32)), want, Tolerance()).problem == (
        "output 'y' has shape [2, 1], expected [1, 2]"
    )
    short = smi_pb2.Tensor(name="y", datatype="FP32", shape=[1, 2], contents=b"\0" * 4)
    problem = compare_output("y", short, want, Tolerance()).problem
    assert problem is not None and "4 bytes of contents" in problem
