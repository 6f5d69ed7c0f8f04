"""How to call a deployed model: an example request built from the manifest's inputs.

``axon run`` prints it: a ``curl`` line for the Open Inference Protocol's REST endpoint (when
the inputs are small enough to write out) and a few lines of Python with :mod:`mlos.client`.
Dynamic dimensions (-1) become 1; the values are zeros (``false`` for BOOL, ``""`` for BYTES).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from axon.manifest import Manifest

__all__ = ["CURL_MAX_VALUES", "curl_command", "example_request", "python_snippet"]

CURL_MAX_VALUES = 256
_NUMPY = {"BOOL": "bool_", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32",
          "UINT64": "uint64", "INT8": "int8", "INT16": "int16", "INT32": "int32",
          "INT64": "int64", "FP16": "float16", "FP32": "float32", "FP64": "float64",
          "BF16": "float32", "BYTES": "object_"}


def _shape(shape: tuple[int, ...] | list[int]) -> list[int]:
    return [1 if d < 0 else d for d in shape]


def _zero(datatype: str) -> Any:
    if datatype == "BOOL":
        return False
    if datatype == "BYTES":
        return ""
    return 0.0 if datatype.startswith(("FP", "BF")) else 0


def example_request(manifest: Manifest) -> dict[str, Any]:
    """An inference request body (JSON) with zeros of the right shapes and datatypes."""
    inputs = []
    for tensor in manifest.inputs:
        shape = _shape(tensor.shape)
        inputs.append({"name": tensor.name, "datatype": tensor.datatype, "shape": shape,
                       "data": [_zero(tensor.datatype)] * math.prod(shape)})
    return {"inputs": inputs}


def curl_command(server: str, model: str, manifest: Manifest,
                 token_file: Path | None = None) -> str | None:
    """``curl ... /v2/models/MODEL/infer`` with the example (and the token read from
    ``token_file``), or None when it is too large."""
    body = example_request(manifest)
    if sum(len(i["data"]) for i in body["inputs"]) > CURL_MAX_VALUES:
        return None
    auth = f'-H "Authorization: Bearer $(cat {token_file})" ' if token_file else ""
    return (f"curl -s -X POST {server.rstrip('/')}/v2/models/{model}/infer {auth}"
            f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'")


def python_snippet(server: str, model: str, manifest: Manifest,
                   token_file: Path | None = None) -> str:
    """Python that sends the example through ``mlos.client`` (with the token of
    ``token_file``)."""
    feeds = ", ".join(
        f'"{t.name}": np.zeros({tuple(_shape(t.shape))}, dtype=np.{_NUMPY[t.datatype]})'
        for t in manifest.inputs)
    return "\n".join([
        "import numpy as np",
        "from mlos.client import connect",
        f'token = open("{token_file}").read().strip()' if token_file else "token = None",
        f'outputs = connect("{server}", token=token).infer("{model}", {{{feeds}}})',
        "print({name: value.shape for name, value in outputs.items()})",
    ])
