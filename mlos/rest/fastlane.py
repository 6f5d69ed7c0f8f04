"""Cheaper routing and request validation for connexion, with the same outcome.

Two parts, both measured under load on the inference routes (py-spy):

* :class:`CachedRequestValidation` — connexion's request validation middleware rebuilds, on
  every request, a URI parser and a parameter validator for the operation, a media-type table
  to check the Content-Type against, the operation's body schema, and a body validator. This
  one builds them once per operation (and per content type) and runs the same checks in the
  same order.
* :class:`FastRoutes` — connexion routes through starlette's router: a mount, then a regular
  expression per route of the document, tried in order, about 40 µs for the inference routes
  near the end of spec/openapi.yaml. For the operations it is given, this one tries their own
  route's expression first and hands a match straight to the validation step with the scope
  connexion's routing would have built. It only takes an operation when, in the router's
  order, no earlier route of the same method can match any path the operation's route matches
  (checked segment by segment when the routes are built); every other request, and every
  request the lane does not match, goes through connexion as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from connexion.middleware import ConnexionMiddleware
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware, RoutingOperation
from connexion.utils import is_nullable
from starlette._utils import get_route_path
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from mlos.rest.body import JSONBody

__all__ = ["CachedRequestValidation", "FastRoutes"]

_log = logging.getLogger("connexion.middleware.validation")
_CACHE_LIMIT = 32
"""Most content types remembered per operation (the header is the client's to choose)."""
_PATHS_LIMIT = 4096
"""Most sets of path parameters remembered as valid per operation (then it starts over)."""
_SKIP = object()
"""A content type whose body connexion skips, logging so (no validator registered for it)."""
_SEGMENT_CONVERTORS = frozenset(("StringConvertor", "IntegerConvertor", "FloatConvertor",
                                 "IntegerConverter", "FloatConverter"))  # fmt: skip
"""Starlette and connexion path convertors whose expressions never match a `/`."""


class _CachedOperation(RequestValidationOperation):  # type: ignore[misc]  # connexion ships no type hints: its base class is Any
    """Connexion's validation of one operation's requests, with its helpers built once."""

    def __init__(self, next_app: ASGIApp, **kwargs: Any) -> None:
        super().__init__(next_app, **kwargs)
        operation = self._operation
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        self._parameters = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        # With only path parameters, the outcome depends on their values alone: a set that
        # passed once passes again (refusals are checked again each time).
        self._path_only = not self.strict_validation and all(
            parameter.get("in") == "path" for parameter in operation.parameters
        )
        self._valid_paths: set[tuple[tuple[str, Any], ...]] = set()
        self._content_types: dict[bytes | None, tuple[str, str]] = {}
        self._accepted: set[str] = set()
        self._bodies: dict[tuple[str, str], Any] = {}

    def _validate_parameters(self, scope: Scope) -> None:
        """Connexion's parameter validation, skipped for path parameters that passed before."""
        if not self._path_only:
            self._parameters.validate(scope)
            return
        key = tuple(scope.get("path_params", {}).items())
        try:
            known = key in self._valid_paths
        except TypeError:  # a value that cannot be hashed: no shortcut
            self._parameters.validate(scope)
            return
        if not known:
            self._parameters.validate(scope)
            if len(self._valid_paths) >= _PATHS_LIMIT:
                self._valid_paths.clear()
            self._valid_paths.add(key)

    def extract_content_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        """Connexion's mime type and encoding of the Content-Type, remembered per value."""
        value = None
        for name, content_type in headers:
            # Connexion compares the latin-1 name, lowercased: the same as bytes.lower here.
            if name.lower() == b"content-type":
                value = content_type
                break
        found = self._content_types.get(value)
        if found is None:
            found = super().extract_content_type(
                [] if value is None else [(b"content-type", value)]
            )
            if len(self._content_types) < _CACHE_LIMIT:
                self._content_types[value] = found
        return found

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        """The body validator for a content type: None without a schema, _SKIP without a
        validator, else a validator (kept when it is one of ours, which keep no request
        state)."""
        key = (mime_type, encoding)
        cached = self._bodies.get(key)
        if cached is not None:
            return cached
        operation = self._operation
        schema = operation.body_schema(mime_type)
        validator: Any = None
        if schema:
            try:
                validator_class = self._validator_map["body"][mime_type]
            except KeyError:
                validator = _SKIP
            else:
                validator = validator_class(
                    schema=schema,
                    required=operation.request_body.get("required", False),
                    nullable=is_nullable(operation.body_definition(mime_type)),
                    encoding=encoding,
                    strict_validation=self.strict_validation,
                    uri_parser=operation.uri_parser_class(
                        operation.parameters, operation.body_definition()
                    ),
                )
                if not isinstance(validator, JSONBody):
                    return validator
        if len(self._bodies) < _CACHE_LIMIT:
            self._bodies[key] = validator if validator is not None else False
        return validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._validate_parameters(scope)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        if mime_type not in self._accepted:
            self.validate_mime_type(mime_type)
            if len(self._accepted) < _CACHE_LIMIT:
                self._accepted.add(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is _SKIP:
            _log.info(
                f"Skipping validation. No validator registered for content type: {mime_type}."
            )
        elif validator:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class _CachedAPI(RequestValidationAPI):  # type: ignore[misc]  # connexion ships no type hints: its base class is Any
    def make_operation(self, operation: Any) -> _CachedOperation:
        return _CachedOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class CachedRequestValidation(RequestValidationMiddleware):  # type: ignore[misc]  # connexion ships no type hints: its base class is Any
    """Connexion's request validation middleware, with per-operation helpers built once."""

    api_cls = _CachedAPI


def _segments(route: Route) -> list[str | None]:
    """A route's path, one entry per `/` segment: the literal, or None for a parameter."""
    return [None if "{" in part else part for part in route.path.split("/")]


def _may_overlap(first: Route, second: Route) -> bool:
    """Whether some request could match both routes (False only when provably not)."""
    for route in (first, second):
        kinds = {type(convertor).__name__ for convertor in route.param_convertors.values()}
        if not kinds <= _SEGMENT_CONVERTORS:
            return True
    methods = (first.methods, second.methods)
    if methods[0] is not None and methods[1] is not None and not methods[0] & methods[1]:
        return False
    left, right = _segments(first), _segments(second)
    if len(left) != len(right):
        return False
    return all(a is None or b is None or a == b for a, b in zip(left, right, strict=True))


class FastRoutes:
    """Route the requests of `operation_ids` without connexion's router (see the module
    documentation); pass everything else to `app`."""

    def __init__(self, app: ConnexionMiddleware, operation_ids: Iterable[str]) -> None:
        self.app = app
        self._lanes: list[tuple[Any, dict[str, Any], frozenset[str], str, ASGIApp]] = []
        routes = _api_routes(app)
        validation = _validation_operations(app)
        wanted = set(operation_ids)
        for index, route in enumerate(routes):
            endpoint = route.app if isinstance(route, Route) else None
            if not isinstance(endpoint, RoutingOperation) or endpoint.operation_id not in wanted:
                continue
            if route.methods is None or endpoint.operation_id not in validation:
                continue
            earlier = routes[:index]
            if any(not isinstance(r, Route) or _may_overlap(r, route) for r in earlier):
                continue
            self._lanes.append((route.path_regex, route.param_convertors,
                                frozenset(route.methods), endpoint.operation_id,
                                validation[endpoint.operation_id]))  # fmt: skip
        self.operation_ids = frozenset(lane[3] for lane in self._lanes)
        """The operations routed here (those of `operation_ids` the check above allowed)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._lanes:
            route_path = get_route_path(scope)
            for regex, convertors, methods, operation_id, operation in self._lanes:
                match = regex.match(route_path)
                if match is None or scope["method"] not in methods:
                    continue
                # What ConnexionMiddleware, the mount and RoutingOperation do to the scope.
                scope["app"] = self.app
                routed = dict(scope)
                params = dict(scope.get("path_params", {}))
                for key, value in match.groupdict().items():
                    params[key] = convertors[key].convert(value)
                routed.setdefault("path_params", {}).update(params)
                extensions = routed.setdefault("extensions", {})
                extensions.setdefault(ROUTING_CONTEXT, {}).update(
                    {"api_base_path": "", "operation_id": operation_id}
                )
                await operation(routed, receive, send)
                return
        await self.app(scope, receive, send)


def _api_routes(app: ConnexionMiddleware) -> list[Any]:
    """The routes of the one API at the root of connexion's router, in order ([] otherwise)."""
    routing = [m for m in app.middleware_stack or () if isinstance(m, RoutingMiddleware)]
    if len(routing) != 1 or len(routing[0].router.routes) != 1:
        return []
    mount = routing[0].router.routes[0]
    if not isinstance(mount, Mount) or mount.path != "" or not isinstance(mount.app, Router):
        return []
    return list(mount.app.routes)


def _validation_operations(app: ConnexionMiddleware) -> dict[str, ASGIApp]:
    """The validation step of each operation of the root API, by operationId."""
    stack = app.middleware_stack or ()
    found = [m for m in stack if isinstance(m, RequestValidationMiddleware)]
    if len(found) != 1 or list(found[0].apis) != [""] or len(found[0].apis[""]) != 1:
        return {}
    operations: dict[str, ASGIApp] = found[0].apis[""][0].operations
    return {key: value for key, value in operations.items() if key is not None}
