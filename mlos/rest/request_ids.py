"""The request id of every REST request: in the log lines written for it, and in its response.

:class:`RequestIds` is the outermost ASGI middleware. Each HTTP request gets an id — the trace
id of the caller's W3C `traceparent` header when it sent a valid one, else 32 random hex
digits — which every log line written while the request runs carries
(:mod:`mlos.core.request_context`), and which the response returns as `X-Request-Id`. When the
request is traced, its id is its trace id and the response also carries the `traceparent` of
the server's span, so a caller can find its trace.
"""

from __future__ import annotations

import random

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlos.core import request_context
from mlos.core.request_context import RequestContext
from mlos.telemetry import parse_traceparent

__all__ = ["REQUEST_ID_HEADER", "RequestIds"]

REQUEST_ID_HEADER = "x-request-id"


class RequestIds:
    """Give each HTTP request an id, and answer with it (see the module documentation)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        parent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                parent = parse_traceparent(value.decode("latin-1"))
                break
        request_id = parent.trace_hex if parent is not None else f"{random.getrandbits(128):032x}"
        context = RequestContext(request_id)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER.encode(), context.request_id.encode()))
                if context.traceparent:
                    headers.append((b"traceparent", context.traceparent.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = request_context.begin(context)
        try:
            await self.app(scope, receive, answer)
        finally:
            request_context.end(token)
