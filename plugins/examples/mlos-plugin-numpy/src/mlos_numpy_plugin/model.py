"""A loaded NumPy expression model: evaluates its outputs in order on the request's arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import DescribedModel
from mlos.sdk.options import max_batch_size
from mlos.wire.tensors import numpy_dtype
from mlos_numpy_plugin.document import Document
from mlos_numpy_plugin.expression import Array

__all__ = ["ExpressionModel"]

#: What NumPy raises for arrays that do not fit an expression (shapes, overflow of types).
_BAD_INPUT = (ValueError, TypeError, IndexError, FloatingPointError)


def _fits(shape: tuple[int, ...], declared: tuple[int, ...]) -> bool:
    return len(shape) == len(declared) and all(
        want in (-1, have) for have, want in zip(shape, declared, strict=True)
    )


class ExpressionModel(DescribedModel):
    """Outputs computed by compiled expressions, cast to their declared datatypes.

    Its inputs and outputs are those the document declares (outputs in the order they are
    computed); its properties: the NumPy version and the constants' names.
    """

    platform = "numpy_expression"

    def __init__(self, name: str, document: Document) -> None:
        constants = ",".join(sorted(document.constants))
        properties = {"numpy_version": np.__version__, "constants": constants}
        super().__init__(document.inputs, document.outputs, properties)
        self.name = name
        self._document: Document | None = document
        self.max_batch_size = max_batch_size(document.inputs, document.outputs, None)
        self._dtypes = [numpy_dtype(spec.datatype) for spec in document.outputs]

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        """Evaluate every output (later ones may use earlier ones); return those asked for."""
        document = self._document
        if document is None:
            raise NotFound(f"model {self.name!r} is not loaded")
        env: dict[str, Any] = {**document.constants, **inputs}
        results: dict[str, Array] = {}
        with np.errstate(all="ignore"):
            for spec, expression, dtype in zip(
                document.outputs, document.expressions, self._dtypes, strict=True
            ):
                try:
                    value = np.asarray(expression(env), dtype=dtype)
                except _BAD_INPUT as exc:
                    message = f"model {self.name!r}, output {spec.name!r}: {exc}"
                    raise InvalidArgument(message) from exc
                if not _fits(value.shape, spec.shape):
                    raise InvalidArgument(
                        f"model {self.name!r}: output {spec.name!r} came out with shape "
                        f"{list(value.shape)}, declared {list(spec.shape)}"
                    )
                env[spec.name] = results[spec.name] = value
        return {name: results[name] for name in outputs} if outputs else results

    def unload(self) -> None:
        """Drop the constants."""
        self._document = None
