"""docs/axon.md stays true: manifest reference from the schema, every key and command."""

from __future__ import annotations

import argparse
import json

from axon.cli import build_parser
from axon.config import KEYS
from tests.axon.conftest import REPO
from tests.axon.test_gen_manifest import load_generator

DOC = (REPO / "docs" / "axon.md").read_text()


def test_manifest_reference_matches_the_schema() -> None:
    gen = load_generator()
    schema = json.loads((REPO / "spec" / "manifest.schema.json").read_text())
    assert gen.render_reference(schema) in DOC, "run tools/gen_manifest.py --docs docs/axon.md"


def test_every_config_key_is_documented() -> None:
    for key in KEYS.values():
        assert f"| `{key.name}` | `{key.env}` |" in DOC, key.name


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix} {name}")
                found += nested or [f"{prefix} {name}"]
    return found


def test_every_command_is_documented() -> None:
    commands = _commands(build_parser(), "axon")
    assert len(commands) > 20
    for command in commands:
        *group, last = command.split()
        assert f"`{command}" in DOC or (f"`{' '.join(group)}" in DOC and f"`{last}" in DOC) \
            or f"/ `{last}" in DOC or f"/ {last} " in DOC, command
