"""Generate the typed REST models and the operation table from spec/openapi.yaml.

    python tools/gen_openapi.py [SPEC] [OUT_DIR]

writes, deterministically (sorted, no timestamps):

* `openapi_models.py` — a TypedDict for each object schema under components/schemas (required
  properties `Required[...]`, the others optional), a `Literal` alias for each enum and a plain
  alias for each other schema;
* `openapi_operations.py` — `OPERATIONS`, one frozen `Operation(operation_id, method, path,
  tag, mlos_operation)` per operation (the last from `x-mlos-operation`: the name of the
  operation in mlos.core.operations), and `OPERATION_IDS`.

tools/generate.py calls :func:`generate` as part of `make generate`.
"""

from __future__ import annotations

import argparse
import json
import keyword
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["generate", "main", "render_models", "render_operations"]

HEADER = (
    "# DO NOT EDIT — generated from spec/openapi.yaml by tools/gen_openapi.py; run `make generate`."
)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
REF_PREFIX = "#/components/schemas/"


def _load(spec: Path) -> dict[str, Any]:
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{spec}: not an OpenAPI document")
    return document


def _is_class(schema: dict[str, Any]) -> bool:
    """Whether a schema becomes a TypedDict (an object with named properties)."""
    return schema.get("type") == "object" and "properties" in schema


def _q(value: Any) -> str:
    """A Python literal for a string or number, with double quotes."""
    return json.dumps(value, ensure_ascii=False)


def _literal(values: list[Any]) -> str:
    return "Literal[" + ", ".join("None" if v is None else _q(v) for v in values) + "]"


def _type(schema: dict[str, Any]) -> str:
    """The Python type expression for a schema used as a property or an item.

    The expression is valid at run time (so that TypedDict sees `Required[...]`): references
    to other schemas are quoted forward references.
    """
    if "$ref" in schema:
        ref: str = schema["$ref"]
        if not ref.startswith(REF_PREFIX):
            raise ValueError(f"unsupported reference {ref!r}")
        return _q(ref.removeprefix(REF_PREFIX))
    if "enum" in schema:
        return _literal(schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [_type(option) for option in schema[combinator]]
            if any(option.startswith('"') for option in options):
                # A quoted forward reference cannot take part in `|` at run time.
                raise ValueError(f"{combinator} of references is not supported")
            return " | ".join(options)
    kind = schema.get("type")
    if kind in SCALARS:
        return SCALARS[kind]
    if kind == "array":
        items = schema.get("items")
        return f"list[{_type(items) if items else 'Any'}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not _is_class(extra) and extra:
            return f"dict[str, {_type(extra)}]"
        return "dict[str, Any]"
    return "Any"


def _docstring(text: str, indent: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [
        f'{indent}"""{lines[0]}',
        *(f"{indent}{line}" if line else "" for line in lines[1:]),
        f'{indent}"""',
    ]


def _typed_dict(name: str, schema: dict[str, Any]) -> list[str]:
    properties: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", []))
    optional = set(properties) - required
    total = "" if not optional else ", total=False"
    fields: list[tuple[str, str]] = []
    for key in sorted(properties):
        annotation = _type(properties[key])
        if optional and key in required:
            annotation = f"Required[{annotation}]"
        fields.append((key, annotation))
    description = schema.get("description", f"The `{name}` schema.")
    if all(key.isidentifier() and not keyword.iskeyword(key) for key, _ in fields):
        lines = [f"class {name}(TypedDict{total}):", *_docstring(description, "    "), ""]
        for key, annotation in fields:
            single = annotation.startswith("Literal[") and annotation.count("[") == 1
            if single and len(key) + len(annotation) > 90:
                values = annotation.removeprefix("Literal[").removesuffix("]").split(", ")
                lines += [f"    {key}: Literal[", *(f"        {v}," for v in values), "    ]"]
            else:
                lines.append(f"    {key}: {annotation}")
        return lines
    entries = [f"        {_q(key)}: {annotation}," for key, annotation in fields]
    return [f"{name} = TypedDict(", f"    {_q(name)},", "    {", *entries, f"    }}{total},", ")"]


def _alias(name: str, schema: dict[str, Any]) -> list[str]:
    if "enum" in schema:
        values = [f"    {_q(v)}," for v in schema["enum"]]
        return [f"{name}: TypeAlias = Literal[", *values, "]"]
    return [f"{name}: TypeAlias = {_type(schema)}"]


def render_models(document: dict[str, Any]) -> str:
    """The source of openapi_models.py for an OpenAPI document."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    blocks = [
        (_typed_dict if _is_class(schema) else _alias)(name, schema)
        for name, schema in sorted(schemas.items())
    ]
    lines = [
        HEADER,
        '"""Typed shapes of the REST API: one per schema under components/schemas."""',
        "",
        "from typing import Any, Literal, Required, TypeAlias, TypedDict",
        "",
        "__all__ = [",
        *(f"    {_q(name)}," for name in sorted(schemas)),
        "]",
    ]
    for block in blocks:
        lines += ["", "", *block]
    return "\n".join(lines) + "\n"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operation_id = operation.get("operationId")
            if not operation_id:
                raise ValueError(f"{method.upper()} {path} has no operationId")
            tags = operation.get("tags") or [""]
            core = operation.get("x-mlos-operation")
            if not core:
                raise ValueError(f"{method.upper()} {path} has no x-mlos-operation")
            rows.append((operation_id, method.upper(), path, tags[0], str(core)))
    ids = [row[0] for row in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate operationId: {', '.join(duplicates)}")
    return sorted(rows)


def render_operations(document: dict[str, Any]) -> str:
    """The source of openapi_operations.py for an OpenAPI document."""
    lines = [
        HEADER,
        '"""Every operation of the REST API; mlos/rest has a handler for each, and no other."""',
        "",
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass",
        "",
        '__all__ = ["OPERATIONS", "OPERATION_IDS", "Operation"]',
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class Operation:",
        '    """One operation: its id, HTTP method, path, first tag and MLOS operation name."""',
        "",
        "    operation_id: str",
        "    method: str",
        "    path: str",
        "    tag: str",
        "    mlos_operation: str",
        "",
        "",
        "OPERATIONS: tuple[Operation, ...] = (",
        *(
            f"    Operation({_q(o)}, {_q(m)}, {_q(p)}, {_q(t)}, {_q(c)}),"
            for o, m, p, t, c in _operations(document)
        ),
        ")",
        "",
        "OPERATION_IDS: frozenset[str] = frozenset(op.operation_id for op in OPERATIONS)",
    ]
    return "\n".join(lines) + "\n"


def generate(spec: Path, out_dir: Path) -> None:
    """Write openapi_models.py and openapi_operations.py for `spec` into `out_dir`."""
    document = _load(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "openapi_models.py").write_text(render_models(document), encoding="utf-8")
    (out_dir / "openapi_operations.py").write_text(render_operations(document), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spec", nargs="?", type=Path, default=root / "spec" / "openapi.yaml")
    parser.add_argument(
        "out_dir", nargs="?", type=Path, default=root / "generated" / "mlos_generated"
    )
    args = parser.parse_args(argv)
    generate(args.spec, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
