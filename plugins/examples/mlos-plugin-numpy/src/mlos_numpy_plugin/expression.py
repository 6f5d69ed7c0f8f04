"""A safe expression language over NumPy arrays: parsed once, run as a tree of closures.

Expressions are Python syntax restricted to arithmetic on named arrays::

    softmax(x @ w + b, axis=-1)
    where(score > 0.5, 1, 0)

Allowed: numbers and ``True``/``False``; names of inputs, constants and earlier outputs;
``+ - * / // % ** @``, unary ``-``/``+``, one comparison (``< <= > >= == !=``); calls of the
functions in `FUNCTIONS` with positional arguments and the keywords ``axis`` and ``keepdims``;
tuples (for ``axis=(0, 1)``). Anything else — attributes, subscripts, lambdas,
comprehensions, unknown names — is refused when the model loads, so an expression can compute
but never reach outside its arrays.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument

__all__ = ["FUNCTIONS", "Compiled", "compile_expression"]

Array = npt.NDArray[Any]
Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]

MAX_LENGTH = 10_000
MAX_NODES = 2_000


def _softmax(x: Array, axis: int = -1) -> Array:
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    result: Array = shifted / np.sum(shifted, axis=axis, keepdims=True)
    return result


def _sigmoid(x: Array) -> Array:
    result: Array = 1.0 / (1.0 + np.exp(-x))
    return result


def _relu(x: Array) -> Array:
    return np.maximum(x, 0)


def _concat(*arrays: Array, axis: int = -1) -> Array:
    return np.concatenate(arrays, axis=axis)


#: Functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs, "exp": np.exp, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt,
    "square": np.square, "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "sign": np.sign,
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "clip": np.clip,
    "maximum": np.maximum, "minimum": np.minimum, "where": np.where, "matmul": np.matmul,
    "transpose": np.transpose, "sum": np.sum, "mean": np.mean, "std": np.std, "var": np.var,
    "max": np.max, "min": np.min, "argmax": np.argmax, "argmin": np.argmin,
    "softmax": _softmax, "sigmoid": _sigmoid, "relu": _relu, "concat": _concat,
}
_KEYWORDS = frozenset({"axis", "keepdims"})

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.MatMult: operator.matmul,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


class _Compiler:
    def __init__(self, names: frozenset[str], where: str) -> None:
        self.names = names
        self.where = where

    def fail(self, node: ast.AST, what: str) -> InvalidArgument:
        column = getattr(node, "col_offset", 0) + 1
        return InvalidArgument(f"{self.where}: {what} (at column {column})")

    def compile(self, node: ast.AST) -> Compiled:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool | int | float):
                return lambda env: value
            raise self.fail(node, f"{type(value).__name__} constants are not allowed")
        if isinstance(node, ast.Name):
            name = node.id
            if name not in self.names:
                raise self.fail(node, f"unknown name {name!r}")
            return lambda env: env[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            binary, left, right = _BINARY[type(node.op)], self.compile(node.left), self.compile(
                node.right)
            return lambda env: binary(left(env), right(env))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            unary, operand = _UNARY[type(node.op)], self.compile(node.operand)
            return lambda env: unary(operand(env))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            compare = _COMPARE[type(node.ops[0])]
            left, right = self.compile(node.left), self.compile(node.comparators[0])
            return lambda env: compare(left(env), right(env))
        if isinstance(node, ast.Tuple):
            items = [self.compile(item) for item in node.elts]
            return lambda env: tuple(item(env) for item in items)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"{type(node).__name__} is not allowed in an expression")

    def call(self, node: ast.Call) -> Compiled:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise self.fail(node, f"unknown function {shown!r}; known: {', '.join(FUNCTIONS)}")
        function = FUNCTIONS[node.func.id]
        args = [self.compile(arg) for arg in node.args]
        keywords: dict[str, Compiled] = {}
        for keyword in node.keywords:
            if keyword.arg not in _KEYWORDS:
                raise self.fail(node, f"keyword {keyword.arg!r} is not allowed")
            keywords[keyword.arg] = self.compile(keyword.value)
        return lambda env: function(
            *(arg(env) for arg in args), **{k: v(env) for k, v in keywords.items()}
        )


def compile_expression(text: str, names: frozenset[str], where: str) -> Compiled:
    """Compile `text` over the arrays `names`; InvalidArgument for anything not allowed."""
    if len(text) > MAX_LENGTH:
        raise InvalidArgument(f"{where}: the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InvalidArgument(f"{where}: not an expression: {exc.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise InvalidArgument(f"{where}: the expression has more than {MAX_NODES} parts")
    return _Compiler(names, where).compile(tree.body)
