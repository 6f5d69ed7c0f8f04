"""ASGI middleware of the REST server: the body size limit, the error boundary, the methods of
each path (`OPTIONS`, and `Allow` on 405), form-encoded JSON on /v2, and the path filter of the
separate metrics port."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlos.rest.body import LIMIT_SCOPE_KEY
from mlos.rest.problems import BodyTooLarge, error_response, handle_exception

__all__ = ["AllowedMethods", "BodyLimit", "ErrorBoundary", "FormAsJSON", "OnlyPaths"]

_PARAMETER = re.compile(r"(\{[^/]+?\})")


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


def _template(path: str) -> re.Pattern[str]:
    """A path template (`/v1/plugins/{name}`) as a regular expression over request paths."""
    parts = _PARAMETER.split(path)
    return re.compile(
        "^" + "".join("[^/]+" if _PARAMETER.fullmatch(p) else re.escape(p) for p in parts) + "$"
    )


class AllowedMethods:
    """Answer `OPTIONS` with the methods of the path, and give every 405 the full `Allow`.

    `routes` are the (method, path template) pairs of the document (`/v1/plugins/{name}`; a
    parameter is one path segment). An `OPTIONS` request for a path of the document is answered
    here with 204 and `Allow`; any other method goes on to the router, and when that refuses it
    with 405 the answer names every method the path takes (the router alone knows only the
    methods of the operation it matched first). `HEAD` goes with `GET`.
    """

    def __init__(self, app: ASGIApp, routes: Iterable[tuple[str, str]]) -> None:
        self.app = app
        by_path: dict[str, set[str]] = {}
        for method, path in routes:
            by_path.setdefault(path, set()).add(method.upper())
        self._paths = [(_template(path), methods) for path, methods in by_path.items()]

    def allowed(self, path: str) -> str:
        """The `Allow` value for a request path ("" when no path of the document matches)."""
        methods: set[str] = set()
        for pattern, verbs in self._paths:
            if pattern.match(path):
                methods |= verbs
        if not methods:
            return ""
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        return ", ".join(sorted(methods))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allow = self.allowed(scope["path"])
            if allow:
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
                return
        try:
            await self.app(scope, receive, send)
        except HTTPException as exc:
            allow = self.allowed(scope["path"]) if exc.status_code == 405 else ""
            if not allow:
                raise
            headers = {**(exc.headers or {}), "Allow": allow}
            raise HTTPException(405, exc.detail, headers=headers) from exc
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
