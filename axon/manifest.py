"""The Axon manifest: schema access, typed parsing and deterministic serialisation.

The schema and the typed model are generated from ``spec/manifest.schema.json`` into
``mlos_generated.manifest_model``; this module only adds behaviour around them.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Mapping
from typing import Any

import jsonschema
import yaml

from axon import strict_yaml
from axon.errors import IntegrityError, clip
from mlos_generated.manifest_model import SCHEMA, Manifest

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA",
    "Manifest",
    "canonical_json",
    "dump_yaml",
    "entrypoint",
    "load_manifest",
    "parse_manifest",
    "serving_fields",
    "validator",
]

MANIFEST_NAME = "manifest.yaml"


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the manifest schema (format checks on)."""
    return jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def parse_manifest(data: Any, origin: str = "manifest") -> Manifest:
    """Validate ``data`` against the schema and build the typed manifest.

    Raises :class:`IntegrityError` naming the first problem; use :mod:`axon.validation` for a
    full, located report.
    """
    errors = sorted(validator().iter_errors(data), key=lambda e: list(map(str, e.path)))
    if errors:
        first = errors[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise IntegrityError(f"{origin}: invalid manifest at {where}: {clip(first.message)}{more}")
    return Manifest.from_dict(data)


def load_manifest(path: pathlib.Path) -> Manifest:
    """Read and validate a manifest file (YAML or JSON)."""
    try:
        data = strict_yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrityError(f"{path}: cannot read manifest: {exc}") from exc
    return parse_manifest(data, str(path))


def serving_fields(manifest: Manifest) -> dict[str, Any]:
    """The registration fields of a manifest's ``serving`` section: ``instance_count`` from
    ``instances`` and ``dynamic_batching`` as it is (each only when the manifest has it)."""
    serving = manifest.serving
    fields: dict[str, Any] = {}
    if serving is None:
        return fields
    if serving.instances is not None:
        fields["instance_count"] = serving.instances
    if serving.dynamic_batching is not None:
        fields["dynamic_batching"] = serving.dynamic_batching.to_dict()
    return fields


def entrypoint(manifest: Manifest) -> str:
    """The path the plugin loads: ``entrypoint`` or the first file with role ``model``."""
    if manifest.entrypoint:
        return manifest.entrypoint
    for item in manifest.files:
        if item.role == "model":
            return item.path
    return manifest.files[0].path


class _Dumper(yaml.SafeDumper):
    """Block style, except short lists of scalars (shapes, tags) in flow style."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = bool(data) and all(isinstance(x, int | float | bool) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """Deterministic YAML for a manifest dict, keys in the order given."""
    return yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)


def canonical_json(data: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces) used for digests and the registry."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
