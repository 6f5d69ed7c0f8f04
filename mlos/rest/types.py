"""What a REST handler sees of its request, and the shape of a handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from mlos.core.dataplane import Dataplane
from mlos.core.pipeline import Call

__all__ = ["BODY_SCOPE_KEY", "EngineHandlers", "Handler", "ParsedBody", "Request"]

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
class Request:
    """What a handler gets of the HTTP request: path parameters, parsed body and headers."""

    path: Mapping[str, str]
    body: ParsedBody
    headers: Headers


Handler = Callable[[Request, Call], Awaitable[Response]]
"""A REST operation, one per operationId of spec/openapi.yaml: the request and the pipeline's
call in, the HTTP response out."""


class EngineHandlers:
    """A group of REST handlers over one core engine: its public coroutine methods are
    operations (`mlos.rest.app.handlers` collects them by name)."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine
