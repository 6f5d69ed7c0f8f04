"""How the `mlos` commands print: aligned tables and fields for people, JSON for scripts.

With `--json` a command prints exactly one JSON document on stdout and nothing else there;
without it, tables and short lines. Errors always go to stderr as one `mlos: error: ...` line.
Messages of `smi.proto` print as the REST API renders them (:mod:`mlos.wire.encoding`), so
`mlos plugin list --json` and `curl /v1/plugins` show the same document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from mlos.cli.terminal import Terminal
from mlos.wire.encoding import enum_name, to_json
from mlos_generated import smi_pb2

__all__ = [
    "Output",
    "model_state",
    "plugin_state",
    "shape_text",
    "source_text",
    "tensor_rows",
]


def plugin_state(state: int) -> str:
    """`PLUGIN_STATE_READY` → `ready`."""
    return str(enum_name(smi_pb2.PluginState.DESCRIPTOR, state))


def model_state(state: int) -> str:
    """`MODEL_STATE_READY` → `ready`."""
    return str(enum_name(smi_pb2.ModelState.DESCRIPTOR, state))


def shape_text(shape: Iterable[int]) -> str:
    """`[-1, 64]`."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def source_text(source: smi_pb2.PluginSource, python: str = "") -> str:
    """Where a plugin comes from, in words: `entry point onnx`, `module pkg.mod:Cls`, …, with
    `(python /opt/env/bin/python)` when its host runs in an interpreter of its own."""
    kind = source.WhichOneof("kind")
    if kind is None:
        return "-"
    text = f"{kind.replace('_', ' ')} {getattr(source, kind)}"
    return f"{text} (python {python})" if python else text


def tensor_rows(metadata: smi_pb2.ModelMetadata) -> list[tuple[str, str, str, str]]:
    """Rows (ROLE, NAME, DATATYPE, SHAPE) for a model's inputs and outputs."""
    rows = [("input", t.name, t.datatype, shape_text(t.shape)) for t in metadata.inputs]
    rows += [("output", t.name, t.datatype, shape_text(t.shape)) for t in metadata.outputs]
    return rows


@dataclass
class Output(Terminal):
    """Where and how one `mlos` command prints (lines, tables and fields: :class:`Terminal`)."""

    def error(self, text: str) -> None:
        """The one error line, on stderr."""
        print(f"mlos: error: {text}", file=self.err)

    def document(self, payload: Any) -> None:
        """The JSON document of a command (only with `--json`)."""
        if self.json:
            print(json.dumps(payload, indent=2, ensure_ascii=False, default=str), file=self.out)

    def message(self, message: Message) -> None:
        """An SMI message as its REST JSON rendering (only with `--json`)."""
        self.document(to_json(message))
