"""Fixtures: models with known answers that a plugin's author ships, so the kit can check what
a plugin computes and not only how its answers are shaped.

A fixture file (`fixtures.yaml`) names one or more models, each with cases of inputs and the
outputs they must produce, within tolerances::

    rtol: 1e-5                  # optional defaults for every case
    atol: 1e-6
    fixtures:
      - name: linear            # optional; defaults to the model file's name
        model: linear.lin       # relative to this file
        config: {}              # optional LoadModelRequest.config
        cases:
          - name: ones          # optional; defaults to case-N
            inputs:
              x: x.npy          # a .npy file, relative to this file
            outputs:
              y: {datatype: FP32, shape: [1, 2], data: [1.5, -0.5]}
            rtol: 1e-4          # optional, for this case only

A tensor is either the path of a `.npy` file (its datatype follows from the array's dtype) or
a mapping with `datatype` and either `data` (nested or flat lists, as in the Open Inference
Protocol's JSON) or `file` (a `.npy` file, for datatypes numpy has no dtype for: BF16 as raw
uint16 bits), and optionally `shape`. docs/conformance.md describes the format and how outputs
are compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from mlos.errors import MLOSError
from mlos.wire.tensors import DATATYPES, datatype_of, encode_bytes, from_json_data, to_numpy
from mlos_conformance.samples import load_array
from mlos_generated import smi_pb2

__all__ = [
    "FIXTURES_FILE",
    "Fixture",
    "FixtureCase",
    "FixtureError",
    "FixtureTensor",
    "Tolerance",
    "load_fixtures",
]

#: The file a fixtures directory holds.
FIXTURES_FILE = "fixtures.yaml"
#: The only format version there is; a file may say `format: 1`.
FORMAT = 1


class FixtureError(ValueError):
    """A fixture file that cannot be read or does not follow the format; the message says where."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a floating-point output may be from the expected one: |got - expected| <=
    atol + rtol * |expected|. Integer outputs may differ by at most `atol` (rounded down: exact
    by default); BOOL and BYTES outputs must be equal."""

    rtol: float = 1e-5
    atol: float = 1e-6


@dataclass(frozen=True, slots=True, eq=False)
class FixtureTensor:
    """A tensor of a fixture, as it travels in SMI: datatype, shape and raw contents."""

    datatype: str
    shape: tuple[int, ...]
    contents: bytes

    def to_proto(self, name: str) -> smi_pb2.Tensor:
        """The tensor as an SMI `Tensor` called `name`."""
        return smi_pb2.Tensor(
            name=name, datatype=self.datatype, shape=self.shape, contents=self.contents
        )

    def array(self) -> npt.NDArray[Any]:
        """The elements as a numpy array (BF16 as raw uint16 bits, BYTES as objects)."""
        return to_numpy(self.to_proto(""))


@dataclass(frozen=True, slots=True)
class FixtureCase:
    """Inputs for one Infer call and the outputs it must produce."""

    name: str
    inputs: Mapping[str, FixtureTensor]
    outputs: Mapping[str, FixtureTensor]
    tolerance: Tolerance = field(default_factory=Tolerance)


@dataclass(frozen=True, slots=True)
class Fixture:
    """A model with known answers."""

    name: str
    model: Path
    cases: tuple[FixtureCase, ...]
    config: Mapping[str, str] = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------------


class _Reader:
    """Reads one fixture file, naming the place of every mistake."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def fail(self, where: str, message: str) -> FixtureError:
        return FixtureError(f"{self.path}: {where}: {message}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(where, "expected a mapping with string keys")
        return value

    def keys(self, value: dict[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key(s) {unknown} (allowed: {sorted(allowed)})")

    def number(self, value: Any, where: str) -> float:
        # YAML 1.1 reads 1e-5 (no dot) as a string: accept what float() accepts.
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(where, f"expected a number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise self.fail(where, f"expected a number, got {value!r}") from None
        if not math.isfinite(number) or number < 0:
            raise self.fail(where, f"must be a finite number >= 0, got {value!r}")
        return number

    def tolerance(self, value: dict[str, Any], inherited: Tolerance, where: str) -> Tolerance:
        rtol, atol = inherited.rtol, inherited.atol
        if "rtol" in value:
            rtol = self.number(value["rtol"], f"{where}.rtol")
        if "atol" in value:
            atol = self.number(value["atol"], f"{where}.atol")
        return Tolerance(rtol, atol)

    def file(self, value: Any, where: str) -> Path:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "expected a path")
        path = (self.base / value).expanduser()
        if not path.exists():
            raise self.fail(where, f"{path}: no such file or directory")
        return path

    def npy(self, value: Any, where: str) -> npt.NDArray[Any]:
        path = self.file(value, where)
        try:
            return load_array(path)
        except (OSError, ValueError) as exc:
            raise self.fail(where, f"cannot read {path} as .npy: {exc}") from None

    def shape(self, value: Any, where: str) -> tuple[int, ...]:
        if not isinstance(value, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
        ):
            raise self.fail(where, f"expected a list of dimensions >= 0, got {value!r}")
        return tuple(value)

    def tensor(self, value: Any, where: str) -> FixtureTensor:
        if isinstance(value, str):
            array = self.npy(value, where)
            try:
                return _from_array(array, datatype_of(array))
            except MLOSError as exc:
                raise self.fail(where, exc.message) from None
        spec = self.mapping(value, where)
        self.keys(spec, {"datatype", "shape", "data", "file"}, where)
        datatype = spec.get("datatype")
        if datatype not in DATATYPES:
            raise self.fail(where, f"datatype {datatype!r} is not an Open Inference Protocol name")
        if ("data" in spec) == ("file" in spec):
            raise self.fail(where, "give exactly one of `data` and `file`")
        shape = self.shape(spec["shape"], f"{where}.shape") if "shape" in spec else None
        if "file" in spec:
            array = self.npy(spec["file"], f"{where}.file")
            if shape is not None:
                if math.prod(shape) != array.size:
                    raise self.fail(where, f"shape {list(shape)} does not fit {array.shape}")
                array = array.reshape(shape)
            return self._checked(array, datatype, where)
        data = spec["data"]
        if shape is None:
            shape = tuple(np.shape(np.asarray(data, dtype=object)))
        try:
            contents = from_json_data(datatype, shape, data)
        except MLOSError as exc:
            raise self.fail(where, exc.message) from None
        except ValueError as exc:
            raise self.fail(where, f"data does not form a tensor: {exc}") from None
        return FixtureTensor(datatype, shape, contents)

    def _checked(self, array: npt.NDArray[Any], datatype: str, where: str) -> FixtureTensor:
        try:
            return _from_array(array, datatype)
        except (MLOSError, TypeError, ValueError) as exc:
            message = exc.message if isinstance(exc, MLOSError) else str(exc)
            raise self.fail(where, f"the array is not {datatype}: {message}") from None

    def tensors(self, value: Any, where: str) -> dict[str, FixtureTensor]:
        tensors = self.mapping(value, where)
        return {name: self.tensor(spec, f"{where}.{name}") for name, spec in tensors.items()}

    def case(self, value: Any, index: int, inherited: Tolerance, where: str) -> FixtureCase:
        case = self.mapping(value, where)
        self.keys(case, {"name", "inputs", "outputs", "rtol", "atol"}, where)
        name = case.get("name", f"case-{index}")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}.name", "expected a non-empty string")
        outputs = self.tensors(case.get("outputs"), f"{where}.outputs")
        if not outputs:
            raise self.fail(f"{where}.outputs", "name at least one expected output")
        return FixtureCase(
            name,
            self.tensors(case.get("inputs", {}), f"{where}.inputs"),
            outputs,
            self.tolerance(case, inherited, where),
        )

    def config(self, value: Any, where: str) -> dict[str, str]:
        config = self.mapping(value, where)
        for key, item in config.items():
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise self.fail(f"{where}.{key}", "config values are strings (or numbers)")
        return {key: str(item) for key, item in config.items()}

    def fixture(self, value: Any, inherited: Tolerance, where: str) -> Fixture:
        fixture = self.mapping(value, where)
        self.keys(fixture, {"name", "model", "config", "cases", "rtol", "atol"}, where)
        if "model" not in fixture:
            raise self.fail(where, "`model` is missing")
        model = self.file(fixture["model"], f"{where}.model").resolve()
        name = fixture.get("name", model.name)
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}.name", "expected a non-empty string")
        tolerance = self.tolerance(fixture, inherited, where)
        cases = fixture.get("cases")
        if not isinstance(cases, list) or not cases:
            raise self.fail(f"{where}.cases", "expected a list of at least one case")
        return Fixture(
            name,
            model,
            tuple(
                self.case(case, n, tolerance, f"{where}.cases[{n}]") for n, case in enumerate(cases)
            ),
            self.config(fixture.get("config", {}), f"{where}.config"),
        )

    def document(self, value: Any) -> tuple[Fixture, ...]:
        document = self.mapping(value, "the file")
        self.keys(document, {"format", "fixtures", "rtol", "atol"}, "the file")
        if document.get("format", FORMAT) != FORMAT:
            raise self.fail("format", f"format {document['format']!r} is unknown (known: 1)")
        tolerance = self.tolerance(document, Tolerance(), "the file")
        fixtures = document.get("fixtures")
        if not isinstance(fixtures, list) or not fixtures:
            raise self.fail("fixtures", "expected a list of at least one fixture")
        return tuple(
            self.fixture(item, tolerance, f"fixtures[{n}]") for n, item in enumerate(fixtures)
        )


def _from_array(array: npt.NDArray[Any], datatype: str) -> FixtureTensor:
    shape = tuple(int(d) for d in array.shape)
    if datatype == "BYTES":
        elements = [e.encode() if isinstance(e, str) else e for e in array.reshape(-1).tolist()]
        if not all(isinstance(e, bytes) for e in elements):
            raise TypeError("BYTES elements must be bytes or strings")
        return FixtureTensor(datatype, shape, encode_bytes(elements))
    dtype = DATATYPES[datatype]
    if datatype == "BF16" and array.dtype != dtype:
        raise TypeError("a BF16 tensor from a file is its raw bits as uint16")
    if (
        datatype != "BF16"
        and array.dtype.kind != dtype.kind
        and not (dtype.kind == "f" and array.dtype.kind in "iu")
    ):
        raise TypeError(f"numpy dtype {array.dtype}")
    return FixtureTensor(datatype, shape, np.ascontiguousarray(array, dtype=dtype).tobytes())


def load_fixtures(path: Path) -> tuple[Fixture, ...]:
    """The fixtures of `path`: a fixture file, or a directory holding `fixtures.yaml`.

    Raises `FixtureError` naming the file and the place of the first mistake.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / FIXTURES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FixtureError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureError(f"{path}: cannot read: {exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FixtureError(f"{path}: not valid YAML: {exc}") from None
    return _Reader(path).document(document)
