"""The request a piece of code runs for: its id, which log lines carry and REST answers with.

A transport that knows the request early (REST, for its `X-Request-Id` header) opens one with
:func:`begin`; the tracing stage of the pipeline opens one for a traced call that has none, and
fills in the span when it traces the call. The request id of a traced call is its trace id, so
a log line and a span of the same request share it.

    context = request_context.current()   # None outside a request
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

__all__ = ["RequestContext", "begin", "current", "end"]


@dataclass(slots=True)
class RequestContext:
    """One request's identity."""

    request_id: str
    """32 lower-case hex digits: the trace id when the request is traced."""
    span_id: str = ""
    """The span of the call in the core, 16 hex digits, while it is traced; else empty."""
    traceparent: str = ""
    """The W3C `traceparent` of that span, for the response; empty when not traced."""


_CURRENT: ContextVar[RequestContext | None] = ContextVar("mlos_request", default=None)


def current() -> RequestContext | None:
    """The request the running code serves, if any."""
    return _CURRENT.get()


def begin(context: RequestContext) -> Token[RequestContext | None]:
    """Make `context` the current request (until :func:`end` with the token returned)."""
    return _CURRENT.set(context)


def end(token: Token[RequestContext | None]) -> None:
    """Restore the request that was current before :func:`begin`."""
    _CURRENT.reset(token)
