"""Schemathesis hooks for the fuzzing of the REST API (tests/rest/test_schemathesis.py).

Loaded by the schemathesis CLI through `SCHEMATHESIS_HOOKS=tests.rest.schemathesis_hooks`.
Nothing here hides a finding: one hook keeps the run's own credential alive, the other lets
schemathesis read the binary inference responses it would otherwise skip.

* The run authenticates with the server's admin token. Schemathesis learns token ids from
  `GET /v1/tokens` and may call `DELETE /v1/tokens/{id}` with any of them; revoking the token
  the run itself presents would turn every later call into a 401. A revocation of that one id
  is pointed at an id that names no token (the server then answers 404, as documented).
* A binary inference response (Triton's binary tensor data extension) is the JSON response
  followed by raw tensor data; its JSON part is what the spec describes.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

PROTECTED_TOKEN_ENV = "MLOS_FUZZ_PROTECTED_TOKEN_ID"
"""The environment variable that names the id of the token the run presents."""

UNUSED_TOKEN_ID = "0" * 12
"""A well-formed token id that no token has (ids are random)."""


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Keep the run's own token from being revoked by the run."""
    protected = os.environ.get(PROTECTED_TOKEN_ENV, "")
    if not protected or case.operation.method.upper() != "DELETE":
        return
    parameters = case.path_parameters or {}
    if case.operation.path == "/v1/tokens/{id}" and parameters.get("id") == protected:
        parameters["id"] = UNUSED_TOKEN_ID


@schemathesis.deserializer("application/octet-stream")
def binary_inference_response(context: Any, response: Any) -> Any:
    """The JSON part of a binary inference response."""
    length = response.headers.get("inference-header-content-length")
    if isinstance(length, list):
        length = length[0] if length else None
    body: bytes = response.content
    head = body[: int(length)] if length is not None else body
    return json.loads(head)
