"""ASGI middleware of the REST server: the body size limit, the error boundary, form-encoded
JSON on /v2, and the path filter of the separate metrics port."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlos.rest.body import LIMIT_SCOPE_KEY
from mlos.rest.problems import BodyTooLarge, error_response, handle_exception

__all__ = ["BodyLimit", "ErrorBoundary", "FormAsJSON", "OnlyPaths"]


class BodyLimit:
    """Answer 413 to a request whose body exceeds `max_bytes`.

    A declared `Content-Length` over the limit is refused before any byte is read; a chunked
    body is counted as it arrives and refused when it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[LIMIT_SCOPE_KEY] = self.max_bytes
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                response = error_response(scope["path"], 400, "Content-Length is not valid")
                await response(scope, receive, send)
            elif length > self.max_bytes:
                response = error_response(scope["path"], 413, str(BodyTooLarge(self.max_bytes)))
                await response(scope, receive, send)
            else:
                # The server stops the body at Content-Length: nothing more to count.
                await self.app(scope, receive, send)
            return

        received = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class ErrorBoundary:
    """Turn every exception that escapes the application into an error response.

    See :func:`mlos.rest.problems.handle_exception` for the mapping. An exception raised after
    the response started cannot be answered any more and propagates to the server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise
            response = handle_exception(scope, exc)
            await response(scope, receive, send)


class OnlyPaths:
    """Pass requests for `paths` to the app; answer every other one 404 (problem details).

    The separate metrics port (`metrics_port`) serves the REST app behind `OnlyPaths(app,
    {"/metrics"})`, so that scraping reaches the same handler and pipeline as on the REST port
    and nothing else is exposed there.
    """

    def __init__(self, app: ASGIApp, paths: set[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.paths:
            await self.app(scope, receive, send)
            return
        only = ", ".join(sorted(self.paths))
        response = error_response(scope["path"], 404, f"this port serves only {only}")
        await response(scope, receive, send)


_FORM = b"application/x-www-form-urlencoded"
_JSON = (b"content-type", b"application/json")


class FormAsJSON:
    """Read a /v2 body labelled `application/x-www-form-urlencoded` as the JSON it is.

    libcurl labels every POST body so unless told otherwise, and Triton's C++ client (the one in
    perf_analyzer) sends its JSON requests — shared-memory registration, trace settings —
    that way; Triton reads them as JSON whatever their label. No /v2 operation takes a form.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v2/"):
            headers = scope["headers"]
            for index, (name, value) in enumerate(headers):
                if name == b"content-type":
                    if value.split(b";", 1)[0].strip().lower() == _FORM:
                        headers = list(headers)
                        headers[index] = _JSON
                        scope = {**scope, "headers": headers}
                    break
        await self.app(scope, receive, send)
