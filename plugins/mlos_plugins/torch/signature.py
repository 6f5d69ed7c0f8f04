"""Declared tensor signatures: the names, datatypes and shapes a model's owner states.

TorchScript archives carry no tensor names, datatypes or shapes, so the torch plugin reads
them from the first of these that exists:

1. the model's config: ``inputs`` and ``outputs``, each a JSON list of tensors;
2. the file named by config ``signature_file`` (JSON or YAML with ``inputs``/``outputs``);
3. the Axon manifest named by config ``axon.manifest`` (``axon deploy`` sets it);
4. a JSON file beside the model with the same stem (``model.pt`` → ``model.json``);
5. an Axon ``manifest.yaml`` beside the model.

A tensor is ``{"name": "x", "datatype": "FP32", "shape": [-1, 4]}``; -1 marks a dynamic
dimension. ``name`` may be left out, and then the positional name applies (``input__0``,
``output__0``...). For a torch.export program, which knows its own dtypes and shapes, a
declaration renames tensors (by position) and may narrow dynamic dimensions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlos.errors import InvalidArgument
from mlos.wire.tensors import DATATYPES

__all__ = ["Declared", "Signature", "check_count", "find_signature", "positional_name"]

MANIFEST_NAME = "manifest.yaml"
_FILE_LIMIT = 1024 * 1024


def positional_name(role: str, index: int) -> str:
    """The name of an undeclared tensor: ``input__0``, ``output__1``."""
    return f"{role}__{index}"


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared tensor; any field may be missing."""

    name: str | None = None
    datatype: str | None = None
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    """Declared inputs and outputs, and where they were declared."""

    inputs: tuple[Declared, ...] = ()
    outputs: tuple[Declared, ...] = ()
    source: str = ""


def _tensor(item: Any, where: str) -> Declared:
    if not isinstance(item, Mapping):
        raise InvalidArgument(f"{where}: each tensor must be an object with name/datatype/shape")
    unknown = sorted(set(item) - {"name", "datatype", "shape", "description", "labels"})
    if unknown:
        raise InvalidArgument(f"{where}: unknown tensor field(s) {', '.join(unknown)}")
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidArgument(f"{where}: name must be a non-empty string")
    datatype = item.get("datatype")
    if datatype is not None and datatype not in DATATYPES:
        raise InvalidArgument(
            f"{where}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}"
        )
    shape = item.get("shape")
    if shape is not None:
        if not isinstance(shape, list) or not all(
            isinstance(dim, int) and not isinstance(dim, bool) and dim >= -1 for dim in shape
        ):
            raise InvalidArgument(f"{where}: shape must be a list of integers >= -1")
        shape = tuple(shape)
    return Declared(name, datatype, shape)


def _tensors(value: Any, where: str) -> tuple[Declared, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidArgument(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise InvalidArgument(f"{where} must be a list of tensors")
    declared = tuple(_tensor(item, f"{where}[{i}]") for i, item in enumerate(value))
    names = [d.name for d in declared if d.name is not None]
    if len(names) != len(set(names)):
        raise InvalidArgument(f"{where}: tensor names repeat")
    return declared


def _read(file: Path) -> Mapping[str, Any]:
    try:
        if file.stat().st_size > _FILE_LIMIT:
            raise InvalidArgument(f"signature file {file} is larger than 1 MiB")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read signature file {file}: {exc}") from None
    try:
        document = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"signature file {file} does not parse: {exc}") from None
    if not isinstance(document, Mapping):
        raise InvalidArgument(f"signature file {file} must hold an object")
    return document


def _from_file(file: Path) -> Signature:
    document = _read(file)
    return Signature(
        _tensors(document.get("inputs"), f"{file}: inputs"),
        _tensors(document.get("outputs"), f"{file}: outputs"),
        str(file),
    )


def find_signature(model_file: Path, config: Mapping[str, str]) -> Signature:
    """The declared signature of `model_file`, or an empty one when nothing declares it."""
    if "inputs" in config or "outputs" in config:
        return Signature(
            _tensors(config.get("inputs"), "config inputs"),
            _tensors(config.get("outputs"), "config outputs"),
            "config",
        )
    for key in ("signature_file", "axon.manifest"):
        named = config.get(key)
        if named:
            file = Path(named).expanduser()
            if not file.is_file():
                raise InvalidArgument(f"config {key}: {named} is not a file")
            return _from_file(file)
    for candidate in (model_file.with_suffix(".json"), model_file.parent / MANIFEST_NAME):
        if candidate.is_file() and candidate != model_file:
            return _from_file(candidate)
    return Signature()


def check_count(declared: Sequence[Declared], found: int, role: str, source: str) -> None:
    """InvalidArgument unless nothing or exactly `found` tensors are declared."""
    if declared and len(declared) != found:
        raise InvalidArgument(
            f"{source} declares {len(declared)} {role}(s); the model has {found}"
        )
