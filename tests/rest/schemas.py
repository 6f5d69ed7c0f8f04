"""Check response bodies against the schemas of spec/openapi.yaml."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
from connexion.json_schema import resolve_refs

from mlos.rest.app import load_spec


@cache
def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = resolve_refs(load_spec())["components"]["schemas"]
    return schemas


def assert_matches(schema: str, document: Any) -> None:
    """Fail when `document` does not match components/schemas/`schema`."""
    jsonschema.Draft202012Validator(_schemas()[schema]).validate(document)
