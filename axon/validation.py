"""``axon validate``: every schema error with its YAML position, then deep checks.

Deep checks run when the schema passes and the files are at hand: each listed file exists with
its stated size and sha256, referenced paths are listed, and the model's real signature matches
the declared inputs and outputs. The report's ``status`` is ``valid`` (exit 0), ``invalid``
(exit 1) or ``unchecked`` (exit 2: something could not be checked here).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import jsonschema

from axon.digest import sha256_file
from axon.errors import clip, shown
from axon.locator import Located, Position, YamlSyntaxError, json_path, load
from axon.manifest import Manifest, entrypoint, validator
from axon.signature import SignatureUnavailable, TensorSpec, read_signature

__all__ = ["Diagnostic", "Report", "validate_file", "validate_text"]

Status = Literal["valid", "invalid", "unchecked"]


@dataclass(frozen=True)
class Diagnostic:
    """One finding, located like a compiler message."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Literal["error", "warning", "note"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.severity}: {self.path}: {self.message}"


@dataclass
class Report:
    """All findings for one manifest."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    deep: bool = False

    @property
    def status(self) -> Status:
        """``invalid`` if any error, ``unchecked`` if anything could not be checked."""
        if any(d.severity == "error" for d in self.diagnostics):
            return "invalid"
        if any(d.severity == "warning" for d in self.diagnostics):
            return "unchecked"
        return "valid"

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, 2 could not check."""
        return {"valid": 0, "invalid": 1, "unchecked": 2}[self.status]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``--json``."""
        return {"file": self.file, "status": self.status, "deep": self.deep,
                "diagnostics": [asdict(d) for d in self.diagnostics]}


def _type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
             dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _describe(error: jsonschema.ValidationError) -> str:
    """Say what was expected, in words, for the common keywords."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    expected: Any = error.validator_value
    if error.validator == "type":
        return f"expected {error.validator_value}, got {_type_name(value)} {shown(value)}"
    if error.validator == "enum":
        options = ", ".join(map(str, expected))
        return f"expected one of {options}; got {shown(value)}"
    if error.validator == "const":
        return f"expected {error.validator_value!r}, got {shown(value)}"
    if error.validator == "pattern" and "description" in schema:
        return f"{shown(value)} is not valid: expected {schema['description'][0].lower()}" \
               f"{schema['description'][1:]}"
    if error.validator == "required":
        return f"missing required field {str(error.message).split(chr(39))[1]!r}"
    if error.validator == "minItems":
        return f"expected at least {error.validator_value} item(s), got {len(value)}"
    return clip(error.message)


def _schema_diagnostics(located: Located, file: str) -> list[Diagnostic]:
    found: list[tuple[tuple[int, int], Diagnostic]] = []
    for error in validator().iter_errors(located.data):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(k for k in error.instance if k not in allowed):
                pos = located.key_at([*path, extra])
                found.append(((pos.line, pos.column), Diagnostic(
                    file, pos.line, pos.column, json_path([*path, extra]),
                    f"unknown field {shown(extra)}")))
            continue
        pos = located.key_at(path) if error.validator == "required" and path else \
            located.value_at(path)
        found.append(((pos.line, pos.column),
                      Diagnostic(file, pos.line, pos.column, json_path(path), _describe(error))))
    found.sort(key=lambda item: (item[0], item[1].path, item[1].message))
    return [d for _, d in found]


class _Deep:
    """Deep checks against the files next to the manifest."""

    def __init__(self, located: Located, file: str, root: pathlib.Path) -> None:
        self.located, self.file, self.root = located, file, root
        self.out: list[Diagnostic] = []

    def add(self, path: Sequence[str | int], message: str,
            severity: Literal["error", "warning", "note"] = "error") -> None:
        pos: Position = self.located.value_at(path)
        self.out.append(Diagnostic(self.file, pos.line, pos.column, json_path(path), message,
                                   severity))

    def files(self, manifest: Manifest) -> None:
        for index, item in enumerate(manifest.files):
            target = self.root / item.path
            if not target.is_file():
                self.add(["files", index, "path"], f"file not found: {item.path}")
                continue
            digest, size = sha256_file(target)
            if size != item.size:
                self.add(["files", index, "size"],
                         f"size is {item.size} but {item.path} has {size} bytes")
            if digest != item.sha256:
                self.add(["files", index, "sha256"],
                         f"sha256 does not match {item.path} (file has {digest})")

    def references(self, manifest: Manifest) -> None:
        listed = {item.path for item in manifest.files}
        refs: list[tuple[list[str | int], str | None]] = [(["entrypoint"], manifest.entrypoint)]
        if manifest.metadata is not None:
            refs.append((["metadata", "card"], manifest.metadata.card))
        for kind in ("inputs", "outputs"):
            for index, tensor in enumerate(getattr(manifest, kind)):
                refs.append(([kind, index, "labels"], tensor.labels))
        for path, ref in refs:
            if ref is not None and ref not in listed and not any(
                    p.startswith(ref.rstrip("/") + "/") for p in listed):
                self.add(path, f"{ref} is not listed in files")

    def signature(self, manifest: Manifest) -> None:
        model_path = self.root / entrypoint(manifest)
        if not model_path.exists():
            return
        try:
            sig = read_signature(model_path, manifest.framework.format)
        except SignatureUnavailable as exc:
            self.add(["framework", "format"], str(exc), "warning")
            return
        except ValueError as exc:
            self.add(["framework", "format"], str(exc))
            return
        self._tensors("inputs", manifest, sig.inputs)
        self._tensors("outputs", manifest, sig.outputs)

    def _tensors(self, kind: str, manifest: Manifest, actual: tuple[TensorSpec, ...]) -> None:
        by_name = {t.name: t for t in actual}
        declared = getattr(manifest, kind)
        singular = kind[:-1]
        for index, tensor in enumerate(declared):
            real = by_name.get(tensor.name)
            if real is None:
                names = ", ".join(sorted(by_name)) or "none"
                self.add([kind, index, "name"],
                         f"the model has no {singular} {tensor.name!r} (it has: {names})")
                continue
            if real.datatype != tensor.datatype:
                self.add([kind, index, "datatype"],
                         f"declared {tensor.datatype} but the model's {singular} "
                         f"{tensor.name!r} is {real.datatype}")
            if not _shape_compatible(tensor.shape, real.shape):
                self.add([kind, index, "shape"],
                         f"declared {list(tensor.shape)} but the model's {singular} "
                         f"{tensor.name!r} has shape {list(real.shape)}")
        declared_names = {t.name for t in declared}
        for real in actual:
            if real.name not in declared_names:
                self.add([kind], f"the model's {singular} {real.name!r} is not declared")


def _shape_compatible(declared: tuple[int, ...], real: tuple[int, ...]) -> bool:
    """Same rank, and every fixed model dimension is declared with that size.

    A dynamic model dimension (-1) accepts any declaration, including a fixed size.
    """
    return len(declared) == len(real) and all(
        r == -1 or d == r for d, r in zip(declared, real, strict=True))


def validate_text(text: str, file: str, root: pathlib.Path | None) -> Report:
    """Validate manifest ``text``; deep checks against ``root`` when given."""
    report = Report(file)
    try:
        located = load(text)
    except YamlSyntaxError as exc:
        pos = exc.position
        report.diagnostics.append(Diagnostic(file, pos.line, pos.column, "$",
                                             f"invalid YAML: {exc}"))
        return report
    report.diagnostics.extend(_schema_diagnostics(located, file))
    if report.diagnostics or root is None:
        return report
    manifest = Manifest.from_dict(located.data)
    deep = _Deep(located, file, root)
    deep.files(manifest)
    deep.references(manifest)
    deep.signature(manifest)
    report.deep = True
    report.diagnostics.extend(deep.out)
    return report


def validate_file(path: pathlib.Path, deep: bool = True) -> Report:
    """Validate the manifest at ``path``; raise ``OSError`` if it cannot be read."""
    text = path.read_text(encoding="utf-8")
    return validate_text(text, str(path), path.parent if deep else None)
