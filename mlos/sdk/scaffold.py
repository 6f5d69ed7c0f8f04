"""`mlos plugin new NAME`: write the skeleton of a plugin package that passes the kit as written.

The skeleton is a complete distribution: a pyproject.toml that depends on `mlos-plugin-sdk` and
publishes the `mlos.plugins` entry point NAME, a plugin class serving a tiny text model format
(`y = x * scale + offset`, files ending in `.NAME`), conformance fixtures with known answers,
in-process tests, and a CI workflow that runs the conformance kit with those fixtures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlos.errors import AlreadyExists, InvalidArgument

__all__ = ["Skeleton", "plan", "write"]

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
"""Plugin names: lower-case words joined by single hyphens (`demo`, `my-format`)."""


@dataclass(frozen=True)
class Skeleton:
    """The files of a new plugin package, relative to its directory."""

    name: str
    distribution: str
    package: str
    plugin_class: str
    files: dict[str, str]


def plan(name: str) -> Skeleton:
    """The skeleton of the plugin NAME (nothing written yet)."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > 64:
        raise InvalidArgument(
            f"plugin name {name!r} is not valid: use lower-case letters, digits and single "
            "hyphens, starting with a letter (for example `my-format`)"
        )
    words = name.split("-")
    package = "mlos_plugin_" + "_".join(words)
    plugin_class = "".join(w.capitalize() for w in words) + "Plugin"
    values = {
        "NAME": name, "DIST": f"mlos-plugin-{name}", "PACKAGE": package, "CLASS": plugin_class,
        "EXT": f".{name}",
    }
    files = {path: _fill(text, values) for path, text in _TEMPLATES.items()}
    files = {_fill(path, values): text for path, text in files.items()}
    return Skeleton(name, values["DIST"], package, plugin_class, files)


def write(skeleton: Skeleton, directory: Path) -> list[Path]:
    """Write the skeleton into `directory`, which must not exist or be empty; the paths written."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise AlreadyExists(f"{directory} already exists and is not an empty directory")
    written = []
    for relative, text in skeleton.files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"@(NAME|DIST|PACKAGE|CLASS|EXT)@", lambda m: values[m.group(1)], template)


_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "@DIST@"
version = "0.1.0"
description = "An MLOS plugin: serves @EXT@ models"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["mlos-plugin-sdk>=0.1,<0.2", "numpy>=1.26"]

[project.optional-dependencies]
test = ["pytest>=8", "mlos-conformance>=0.1,<0.2"]

# MLOS finds the plugin through this entry point.
[project.entry-points."mlos.plugins"]
@NAME@ = "@PACKAGE@:@CLASS@"

[tool.setuptools.packages.find]
where = ["src"]
'''

_INIT = '''\
"""The @NAME@ plugin of MLOS."""

from @PACKAGE@.plugin import @CLASS@

__all__ = ["@CLASS@"]
'''

_PLUGIN = '''\
"""Serves `@EXT@` files: `y = x * scale + offset` over a vector of FP32 values.

A model file is text: the line `mlos-@NAME@ 1`, then `scale NUMBER` and `offset NUMBER`.
Replace the format and `infer` with your own; keep the errors typed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk import LoadedModel, ModelPlugin, ModelSpec, TensorSpec
from mlos.sdk.options import check_known

Array = npt.NDArray[Any]
MAX_FILE_BYTES = 1 << 16


def _parse(spec: ModelSpec) -> tuple[float, float]:
    path = spec.path
    if path.is_dir():
        found = sorted(path.glob("*@EXT@"))
        if len(found) != 1:
            raise InvalidArgument(f"{path} must hold exactly one @EXT@ file")
        path = found[0]
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidArgument(f"{path} is not a @NAME@ model: larger than {MAX_FILE_BYTES} bytes")
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines or lines[0] != ["mlos-@NAME@", "1"]:
            raise ValueError("it does not start with `mlos-@NAME@ 1`")
        fields = {words[0]: float(words[1]) for words in lines[1:] if len(words) == 2}
        if len(lines) != 3 or set(fields) != {"scale", "offset"}:
            raise ValueError("expected the lines `scale NUMBER` and `offset NUMBER`")
        if not all(math.isfinite(v) for v in fields.values()):
            raise ValueError("scale and offset must be finite")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(f"{path} is not a @NAME@ model: {exc}") from None
    return fields["scale"], fields["offset"]


class @CLASS@Model(LoadedModel):
    """One loaded model: its two numbers."""

    platform = "@NAME@"

    def __init__(self, scale: float, offset: float) -> None:
        self._scale = np.float32(scale)
        self._offset = np.float32(offset)

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return (TensorSpec("x", "FP32", (-1,)),)

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return (TensorSpec("y", "FP32", (-1,)),)

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        return {"y": inputs["x"] * self._scale + self._offset}


class @CLASS@(ModelPlugin):
    """The plugin: what Describe reports, and how a model is loaded."""

    name: ClassVar[str] = "@NAME@"
    version: ClassVar[str] = "0.1.0"
    formats: ClassVar[tuple[str, ...]] = ("@NAME@",)
    file_extensions: ClassVar[tuple[str, ...]] = ("@EXT@",)
    datatypes: ClassVar[tuple[str, ...]] = ("FP32",)

    def load(self, spec: ModelSpec) -> @CLASS@Model:
        check_known(spec.config, (), "@NAME@")
        return @CLASS@Model(*_parse(spec))
'''

_MODEL = "mlos-@NAME@ 1\nscale 2\noffset 0.5\n"

_FIXTURES = '''\
# Known answers: `mlos conformance --entry-point @NAME@ --fixtures fixtures` checks them.
fixtures:
  - name: scale-and-offset
    model: model@EXT@
    cases:
      - name: three-values
        inputs:
          x: {datatype: FP32, data: [1, 2, -3]}
        outputs:
          y: {datatype: FP32, data: [2.5, 4.5, -5.5]}
'''

_TESTS = '''\
"""In-process tests of the @NAME@ plugin; the conformance kit tests it over SMI."""

from pathlib import Path

import numpy as np
import pytest

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk import ModelSpec
from @PACKAGE@ import @CLASS@

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def spec(path: Path) -> ModelSpec:
    return ModelSpec(name="m", version="1", path=path, config={})


def test_infer_scales_and_offsets() -> None:
    model = @CLASS@().load(spec(FIXTURES / "model@EXT@"))
    y = model.infer({"x": np.array([1, 2, -3], dtype=np.float32)}, ["y"])["y"]
    np.testing.assert_allclose(y, [2.5, 4.5, -5.5])


def test_garbage_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad@EXT@"
    bad.write_bytes(b"\\x00\\xff not a model")
    with pytest.raises(InvalidArgument, match="is not a @NAME@ model"):
        @CLASS@().load(spec(bad))


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        @CLASS@().load(spec(tmp_path / "missing@EXT@"))
'''

_CI = '''\
# Runs the tests and the MLOS conformance kit on every push.
name: conformance
on: [push, pull_request]
jobs:
  conformance:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install -e '.[test]'
      - run: pytest -q
      - run: mlos-conformance --entry-point @NAME@ --fixtures fixtures --junit conformance.xml
'''

_README = '''\
# @DIST@

An MLOS plugin serving `@EXT@` models (entry point `@NAME@`).

```bash
pip install -e '.[test]'
pytest -q
mlos conformance --entry-point @NAME@ --fixtures fixtures
```
'''

_TEMPLATES = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "src/@PACKAGE@/__init__.py": _INIT,
    "src/@PACKAGE@/plugin.py": _PLUGIN,
    "src/@PACKAGE@/py.typed": "",
    "fixtures/fixtures.yaml": _FIXTURES,
    "fixtures/model@EXT@": _MODEL,
    "tests/test_plugin.py": _TESTS,
    ".github/workflows/conformance.yml": _CI,
}
