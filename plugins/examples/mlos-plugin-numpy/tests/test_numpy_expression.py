"""The expression language: what it computes, and everything it refuses at load time."""

from __future__ import annotations

import numpy as np
import pytest
from mlos_numpy_plugin import compile_expression

from mlos.errors import InvalidArgument

NAMES = frozenset({"x", "w"})
ENV = {"x": np.array([[1.0, -2.0], [3.0, 4.0]]), "w": np.array([[1.0], [0.5]])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x @ w", [[0.0], [5.0]]),
        ("-x + 1", [[0.0, 3.0], [-2.0, -3.0]]),
        ("relu(x) ** 2", [[1.0, 0.0], [9.0, 16.0]]),
        ("sum(x, axis=1, keepdims=True)", [[-1.0], [7.0]]),
        ("where(x > 0, 1, 0)", [[1, 0], [1, 1]]),
        ("argmax(x, axis=-1)", [0, 1]),
        ("softmax(x * 0, axis=-1)", [[0.5, 0.5], [0.5, 0.5]]),
        ("concat(x, x @ w, axis=-1)", [[1.0, -2.0, 0.0], [3.0, 4.0, 5.0]]),
        ("mean(x, axis=(0, 1))", 1.5),
    ],
)
def test_computes(text: str, expected: object) -> None:
    result = compile_expression(text, NAMES, "test")(ENV)
    np.testing.assert_allclose(result, expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x.__class__", "Attribute is not allowed"),
        ("__import__('os').system('true')", "unknown function"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("(lambda: 1)()", "unknown function"),
        ("x[0]", "Subscript is not allowed"),
        ("[v for v in x]", "ListComp is not allowed"),
        ("y + 1", "unknown name 'y'"),
        ("'text'", "str constants are not allowed"),
        ("sum(x, dtype=object)", "keyword 'dtype' is not allowed"),
        ("0 < x < 1", "Compare is not allowed"),
        ("x +", "not an expression"),
    ],
)
def test_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        compile_expression(text, NAMES, "test")


def test_limits() -> None:
    with pytest.raises(InvalidArgument, match="longer than"):
        compile_expression("x" + " + x" * 5000, NAMES, "test")
    with pytest.raises(InvalidArgument, match="more than"):
        compile_expression("+".join(["x"] * 1500), NAMES, "test")
