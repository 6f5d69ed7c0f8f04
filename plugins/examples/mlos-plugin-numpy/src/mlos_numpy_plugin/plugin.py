"""The numpy plugin: serves NumPy expression models (``.npexpr`` JSON files)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from mlos.errors import InvalidArgument
from mlos.sdk.base import ModelPlugin, ModelSpec
from mlos_numpy_plugin.document import DATATYPES_SERVED, read_document
from mlos_numpy_plugin.model import ExpressionModel

__all__ = ["EXTENSION", "NumpyPlugin"]

EXTENSION = ".npexpr"


class NumpyPlugin(ModelPlugin):
    """Loads ``.npexpr`` models: declared tensors, constants and output expressions."""

    name: ClassVar[str] = "numpy"
    version: ClassVar[str] = "0.1.0"
    formats: ClassVar[tuple[str, ...]] = ("numpy_expression",)
    file_extensions: ClassVar[tuple[str, ...]] = (EXTENSION,)
    datatypes: ClassVar[tuple[str, ...]] = DATATYPES_SERVED
    max_concurrency: ClassVar[int] = 2
    max_batch_size: ClassVar[int] = 65536

    def load(self, spec: ModelSpec) -> ExpressionModel:
        """Read and compile the model file (or the one ``.npexpr`` file in a directory)."""
        if spec.config:
            raise InvalidArgument(
                f"the numpy plugin takes no config options (got {', '.join(sorted(spec.config))})"
            )
        return ExpressionModel(spec.name, read_document(_model_file(Path(spec.path))))


def _model_file(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix == EXTENSION and p.is_file())
        if len(found) == 1:
            return found[0]
        raise InvalidArgument(f"{path} must hold exactly one {EXTENSION} file")
    raise InvalidArgument(f"{path}: no such file or directory")
