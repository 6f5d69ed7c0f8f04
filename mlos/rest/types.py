"""The boundary of the REST transport: the core it calls (`Dataplane`), and what a handler sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from mlos.core.dataplane import Dataplane

__all__ = ["BODY_SCOPE_KEY", "Call", "Dataplane", "Handler", "ParsedBody"]

BODY_SCOPE_KEY = "mlos.body"
"""The ASGI scope key under which the body parser leaves a :class:`ParsedBody`."""


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A request body after parsing and validation.

    `json` is the parsed JSON document (None for an empty body). `binary` holds whatever follows
    the JSON part when the request carries `Inference-Header-Content-Length` (Triton's binary
    tensor data extension); it is empty otherwise.
    """

    json: Any = None
    binary: memoryview = field(default_factory=lambda: memoryview(b""))


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: path parameters, the parsed body and the request headers."""

    path: Mapping[str, str]
    body: ParsedBody
    headers: Headers


Handler = Callable[[Call], Awaitable[Response]]
"""A REST operation: one per operationId of spec/openapi.yaml."""
