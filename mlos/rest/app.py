"""The REST server: spec/openapi.yaml, served over the core engine.

    app = create_app(engine, settings)      # an ASGI app for uvicorn

Request path, outermost first:

1. :class:`~mlos.rest.middleware.BodyLimit` — 413 for a body over the limit;
2. :class:`~mlos.rest.middleware.ErrorBoundary` — every exception becomes an error response
   (problem details on /v1, `{"error": ...}` on /v2; see :mod:`mlos.rest.problems`);
   :class:`~mlos.rest.middleware.FormAsJSON` — /v2 bodies labelled as a form are read as JSON;
3. :class:`~mlos.rest.middleware.AllowedMethods` — `OPTIONS` answered with the path's
   methods (204), and the full `Allow` on every 405;
4. connexion's middleware: routing by operationId, parameter validation, and body parsing and
   validation by :class:`~mlos.rest.body.JSONBody` (not connexion's security: the spec's
   bearer scheme is enforced once for every transport by the core's pipeline); the inference
   operations (:data:`FAST_OPERATIONS`) skip connexion's router for a direct match of their
   route (:class:`~mlos.rest.fastlane.FastRoutes`), and every operation's validation step
   builds its helpers once (:class:`~mlos.rest.fastlane.CachedRequestValidation`);
5. :class:`Dispatcher` — describes the call for the core's pipeline (its operation from the
   spec's `x-mlos-operation`, the caller's address and bearer token, the model) and runs the
   operation's handler through it (:mod:`mlos.rest.management`, :mod:`mlos.rest.inference`,
   :mod:`mlos.rest.shared_memory`, :mod:`mlos.rest.observability`).

Connexion's `AsyncApp` would wrap each handler in per-request decorators that inspect its
signature and rebuild its arguments (about 0.2 ms for a health check, measured); the dispatcher
hands the handler the routed path parameters and the already-parsed body instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.validators import VALIDATOR_MAP
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from mlos.core.auth import bearer_token
from mlos.core.dataplane import Dataplane
from mlos.core.operations import Operation, operation
from mlos.core.pipeline import Call, Caller, Pipeline, Transport
from mlos.loop import keep_polling
from mlos.rest.body import JSONBody
from mlos.rest.cluster import Cluster
from mlos.rest.fastlane import CachedRequestValidation, FastRoutes
from mlos.rest.inference import Inference
from mlos.rest.management import Management
from mlos.rest.middleware import AllowedMethods, BodyLimit, ErrorBoundary, FormAsJSON
from mlos.rest.observability import Observability
from mlos.rest.parameters import CachedParameterValidator
from mlos.rest.request_ids import RequestIds
from mlos.rest.shared_memory import SharedMemory
from mlos.rest.types import BODY_SCOPE_KEY, Handler, ParsedBody, Request
from mlos_generated.openapi_operations import OPERATIONS

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "FAST_OPERATIONS",
    "SPEC_PATH",
    "Dispatcher",
    "RestSettings",
    "create_app",
    "handlers",
    "load_spec",
]

SPEC_PATH = Path(str(resources.files("mlos_generated").joinpath("openapi.yaml")))
"""spec/openapi.yaml, as `make generate` ships it inside the generated package."""

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

FAST_OPERATIONS = frozenset(("model_infer", "model_version_infer"))
"""Operations routed by :class:`~mlos.rest.fastlane.FastRoutes` rather than connexion's router."""

_EMPTY_BODY = ParsedBody()
_HTTP_METHODS = frozenset(("get", "put", "post", "delete", "patch", "head", "options", "trace"))


class RestSettings(Protocol):
    """What the REST server reads from the server settings."""

    @property
    def max_body_bytes(self) -> int:
        """Largest request body accepted, in bytes (after Content-Encoding)."""
        ...


def load_spec(path: Path | None = None) -> dict[str, Any]:
    """The OpenAPI document, as connexion reads it.

    The document is OpenAPI 3.1 written in the subset 3.0 shares; connexion 3 validates
    documents against the 3.0 schema only, so it is handed over labelled 3.0.3.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load((path or SPEC_PATH).read_text(encoding="utf-8"), Loader=loader)
    return {**document, "openapi": "3.0.3"}


def handlers(engine: Dataplane) -> dict[str, Handler]:
    """Every operation's handler by operationId: the public coroutine methods of the handlers."""
    table: dict[str, Handler] = {}
    groups = (
        Management(engine),
        Inference(engine),
        SharedMemory(engine),
        Observability(engine),
        Cluster(engine),
    )
    for group in groups:
        for name in dir(type(group)):
            if not name.startswith("_"):
                table[name] = getattr(group, name)
    return table


_OPERATION_OF_ID: dict[str, Operation] = {
    op.operation_id: operation(op.mlos_operation) for op in OPERATIONS
}


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


class Dispatcher:
    """Innermost ASGI app: run the handler of the operation connexion routed the request to,
    through the engine's call pipeline."""

    def __init__(self, table: Mapping[str, Handler], pipeline: Pipeline) -> None:
        self._table = dict(table)
        self._pipeline = pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        operation_id = routing.get("operation_id")
        handler = self._table.get(operation_id)
        if handler is None:
            raise HTTPException(404, f"no operation at {scope['method']} {scope['path']}")
        path: Mapping[str, str] = scope.get("path_params", {})
        headers = Headers(scope=scope)
        request = Request(path, scope.get(BODY_SCOPE_KEY, _EMPTY_BODY), headers)
        token = bearer_token(headers.get("authorization"))
        caller = Caller(Transport.REST, peer=_peer(scope), token=token)
        call = Call(
            _OPERATION_OF_ID[operation_id],
            caller,
            model=path.get("name", "") if "/models/" in scope["path"] else "",
            version=path.get("version", ""),
        )
        traceparent = headers.get("traceparent")
        if traceparent is not None:
            call.trace_context = {"traceparent": traceparent}
            tracestate = headers.get("tracestate")
            if tracestate is not None:
                call.trace_context["tracestate"] = tracestate
        response = await self._pipeline.run(call, handler, request)
        await response(scope, receive, send)
        keep_polling()


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown when no lifespan handler was given."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(
    engine: Dataplane,
    settings: RestSettings | None = None,
    *,
    lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None,
    spec: Path | None = None,
) -> ASGIApp:
    """The ASGI app serving spec/openapi.yaml over `engine`.

    `lifespan` (an async context manager factory taking the app) runs around the server's
    life, for example to start and stop the engine. The document is read and every operation
    resolved here, so a missing handler fails at once rather than on the first request.
    """
    # Connexion warns on every request to an operation with several request content types
    # (the inference operations take JSON and binary bodies); that logger says nothing else.
    logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)
    table = handlers(engine)
    validators = {
        **VALIDATOR_MAP,
        "body": {"application/json": JSONBody, "application/octet-stream": JSONBody},
        "parameter": CachedParameterValidator,
    }
    connexion_app = ConnexionMiddleware(
        Dispatcher(table, engine.pipeline),
        middlewares=[
            RoutingMiddleware,
            CachedRequestValidation,
            LifespanMiddleware,
        ],
        lifespan=lifespan,
        validator_map=validators,
    )
    document = load_spec(spec)
    connexion_app.add_api(document, resolver=lambda operation_id: table[operation_id])
    _build(connexion_app)
    limit = settings.max_body_bytes if settings is not None else DEFAULT_MAX_BODY_BYTES
    routes = [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in _HTTP_METHODS
    ]
    routed = FastRoutes(connexion_app, FAST_OPERATIONS)
    return RequestIds(BodyLimit(ErrorBoundary(FormAsJSON(AllowedMethods(routed, routes))), limit))


def _build(app: ConnexionMiddleware) -> None:
    """Build connexion's middleware stack now (it would otherwise build on the first request)."""
    app.app, app.middleware_stack = app._build_middleware_stack()
