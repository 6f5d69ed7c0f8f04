"""Generate the typed Axon manifest model from ``spec/manifest.schema.json``.

The output, ``manifest_model.py``, holds the schema itself (``SCHEMA``) and one frozen
dataclass per object in the schema (``Manifest`` for the root, one per ``$defs`` entry), each
with ``from_dict`` and ``to_dict``. The output depends only on the schema: no timestamps, stable
ordering, so ``make generate`` twice gives the same bytes.

Usage: ``python tools/gen_manifest.py OUT_DIR`` (``OUT_DIR`` is usually
``generated/mlos_generated``); ``python tools/gen_manifest.py --docs docs/axon.md`` rewrites the
manifest reference in the user guide from the same schema.
"""

from __future__ import annotations

import json
import pathlib
import pprint
import sys
from typing import Any

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent.parent / "spec" / "manifest.schema.json"
OUTPUT_NAME = "manifest_model.py"
HEADER = (
    "# DO NOT EDIT — generated from spec/manifest.schema.json by tools/gen_manifest.py; "
    "run `make generate`\n"
)

Schema = dict[str, Any]


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}")
    return ref[len(prefix) :]


class _Emitter:
    """Turns schema nodes into Python type expressions and conversion code."""

    def __init__(self, schema: Schema) -> None:
        self.defs: dict[str, Schema] = schema.get("$defs", {})

    def is_class(self, node: Schema) -> bool:
        if "$ref" in node:
            return self.is_class(self.defs[_ref_name(node["$ref"])])
        return node.get("type") == "object" and "properties" in node

    def class_name(self, node: Schema) -> str:
        return _ref_name(node["$ref"])

    def resolve(self, node: Schema) -> Schema:
        while "$ref" in node and not self.is_class(node):
            node = self.defs[_ref_name(node["$ref"])]
        return node

    def type_of(self, node: Schema) -> str:
        if self.is_class(node):
            return self.class_name(node)
        node = self.resolve(node)
        if "enum" in node:
            return "Literal[" + ", ".join(repr(v) for v in node["enum"]) + "]"
        kind = node.get("type")
        if kind == "string":
            return "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "array":
            return f"tuple[{self.type_of(node['items'])}, ...]"
        if kind == "object":
            extra = node.get("additionalProperties")
            value = self.type_of(extra) if isinstance(extra, dict) else "Any"
            return f"dict[str, {value}]"
        raise ValueError(f"unsupported schema node {node!r}")

    def load_expr(self, node: Schema, var: str) -> str:
        if self.is_class(node):
            return f"{self.class_name(node)}.from_dict({var})"
        node = self.resolve(node)
        kind = node.get("type")
        if kind == "array":
            inner = self.load_expr(node["items"], "item")
            return f"tuple({inner} for item in {var})"
        if kind == "number":
            return f"float({var})"
        if kind == "object":
            return f"dict({var})"
        return var

    def dump_expr(self, node: Schema, var: str) -> str:
        if self.is_class(node):
            return f"{var}.to_dict()"
        node = self.resolve(node)
        kind = node.get("type")
        if kind == "array":
            inner = self.dump_expr(node["items"], "item")
            return f"[{inner} for item in {var}]"
        if kind == "object":
            return f"dict({var})"
        return var


def _docstring(text: str, indent: str) -> list[str]:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return [f'{indent}"""{text}"""']


def _class_lines(name: str, node: Schema, emitter: _Emitter) -> list[str]:
    props: dict[str, Schema] = node.get("properties", {})
    required = [p for p in props if p in node.get("required", [])]
    optional = [p for p in props if p not in required]
    lines = ["", "", "@dataclass(frozen=True)", f"class {name}:"]
    lines += _docstring(node.get("description", name), "    ")
    lines.append("")
    for prop in required:
        lines.append(f"    {prop}: {emitter.type_of(props[prop])}")
    for prop in optional:
        lines.append(f"    {prop}: {emitter.type_of(props[prop])} | None = None")
    lines += [
        "",
        "    @classmethod",
        f"    def from_dict(cls, data: Mapping[str, Any]) -> {name}:",
        '        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""',
        "        return cls(",
    ]
    for prop in required:
        lines.append(f"            {prop}={emitter.load_expr(props[prop], f'data[{prop!r}]')},")
    for prop in optional:
        value = emitter.load_expr(props[prop], f"data[{prop!r}]")
        lines.append(f"            {prop}=({value}) if data.get({prop!r}) is not None else None,")
    lines += [
        "        )",
        "",
        "    def to_dict(self) -> dict[str, Any]:",
        '        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""',
        "        out: dict[str, Any] = {}",
    ]
    for prop in required:
        lines.append(f"        out[{prop!r}] = {emitter.dump_expr(props[prop], f'self.{prop}')}")
    for prop in optional:
        lines.append(f"        if self.{prop} is not None:")
        value = emitter.dump_expr(props[prop], f"self.{prop}")
        lines.append(f"            out[{prop!r}] = {value}")
    lines.append("        return out")
    return lines


def render(schema: Schema) -> str:
    """Return the source of ``manifest_model.py`` for ``schema``."""
    emitter = _Emitter(schema)
    classes: list[tuple[str, Schema]] = [("Manifest", schema)]
    for def_name in sorted(emitter.defs):
        node = emitter.defs[def_name]
        if node.get("type") == "object" and "properties" in node:
            classes.append((def_name, node))
    names = [name for name, _ in classes]
    lines = [
        HEADER.rstrip("\n"),
        '"""Typed Axon manifest model and the JSON Schema it comes from."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from dataclasses import dataclass",
        "from typing import Any, Final, Literal",
        "",
        "__all__ = " + repr(["SCHEMA", *names]),
        "",
        "SCHEMA: Final[dict[str, Any]] = "
        + pprint.pformat(schema, indent=1, width=100, sort_dicts=False),
    ]
    for name, node in classes:
        lines += _class_lines(name, node, emitter)
    return "\n".join(lines) + "\n"


DOC_START = "<!-- manifest-reference:start (generated by tools/gen_manifest.py --docs) -->"
DOC_END = "<!-- manifest-reference:end -->"


def _doc_type(node: Schema, defs: dict[str, Schema]) -> str:
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        target = defs[name]
        return name if target.get("type") == "object" else _doc_type(target, defs)
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if node.get("type") == "array":
        return f"list of {_doc_type(node['items'], defs)}"
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_doc_type(node['additionalProperties'], defs)}"
    return str(node.get("type", "any"))


def _doc_description(node: Schema, defs: dict[str, Schema]) -> str:
    text = node.get("description", "")
    if not text and "$ref" in node:
        text = defs[_ref_name(node["$ref"])].get("description", "")
    return " ".join(text.split()).replace("|", "\\|")


def render_reference(schema: Schema) -> str:
    """Markdown tables for every object in the schema (for docs/axon.md)."""
    defs: dict[str, Schema] = schema.get("$defs", {})
    objects = [("Manifest", schema)] + [(n, defs[n]) for n in sorted(defs)
                                        if defs[n].get("type") == "object"]
    out = [DOC_START, ""]
    for name, node in objects:
        out += [f"#### {name}", "", _doc_description(node, defs), "",
                "| field | type | required | description |", "|---|---|---|---|"]
        required = set(node.get("required", []))
        for prop, sub in node.get("properties", {}).items():
            out.append(f"| `{prop}` | {_doc_type(sub, defs)} | "
                       f"{'yes' if prop in required else ''} | {_doc_description(sub, defs)} |")
        out.append("")
    out.append(DOC_END)
    return "\n".join(out)


def update_docs(doc: pathlib.Path, schema_path: pathlib.Path = SCHEMA_PATH) -> None:
    """Replace the manifest reference between the markers in ``doc``."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(DOC_START), text.index(DOC_END) + len(DOC_END)
    doc.write_text(text[:start] + render_reference(schema) + text[end:], encoding="utf-8")


def generate(out_dir: pathlib.Path, schema_path: pathlib.Path = SCHEMA_PATH) -> None:
    """Write ``manifest_model.py`` into ``out_dir`` from the manifest schema."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / OUTPUT_NAME
    tmp = target.with_suffix(".py.tmp")
    tmp.write_text(render(schema), encoding="utf-8")
    tmp.replace(target)


def main(argv: list[str]) -> int:
    """Command-line entry: ``gen_manifest.py OUT_DIR`` or ``gen_manifest.py --docs FILE``."""
    if len(argv) == 2 and argv[0] == "--docs":
        update_docs(pathlib.Path(argv[1]))
        return 0
    if len(argv) != 1:
        print("usage: gen_manifest.py OUT_DIR | --docs docs/axon.md", file=sys.stderr)
        return 2
    generate(pathlib.Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
