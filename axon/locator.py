"""YAML documents that remember where each node came from (line and column).

:func:`load` parses once with PyYAML's composer, builds the Python data from the node tree and
keeps a map from JSON path (a tuple of keys and indices) to the node's 1-based position, so a
schema error can point at the exact value, or at the key for a missing or unexpected field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from axon.strict_yaml import StrictLoader

__all__ = ["Located", "Position", "YamlSyntaxError", "json_path", "load"]

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


class YamlSyntaxError(Exception):
    """The text is not YAML; carries the position PyYAML reported."""

    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.position = position


@dataclass
class Located:
    """Parsed data plus the position of every value and every mapping key."""

    data: Any
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def value_at(self, path: Sequence[str | int]) -> Position:
        """Position of the value at ``path``, or of its nearest ancestor that exists."""
        key = tuple(path)
        while key not in self.values and key:
            key = key[:-1]
        return self.values.get(key, Position(1, 1))

    def key_at(self, path: Sequence[str | int]) -> Position:
        """Position of the mapping key naming ``path`` (falls back to the value)."""
        return self.keys.get(tuple(path)) or self.value_at(path)


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: PathKey, located: Located) -> None:
    located.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            located.keys[(*path, key)] = _mark(key_node)
            _walk(value_node, (*path, key), located)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), located)


def load(text: str) -> Located:
    """Parse one YAML document; raise :class:`YamlSyntaxError` with a position on bad YAML.

    Aliases are refused (see :mod:`axon.strict_yaml`), so the document cannot expand.
    """
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        raise YamlSyntaxError(str(exc.problem or exc), position) from exc
    finally:
        loader.dispose()
    located = Located(data)
    if node is not None:
        _walk(node, (), located)
    return located


def json_path(path: Sequence[str | int]) -> str:
    """``('inputs', 0, 'name')`` → ``$.inputs[0].name``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
