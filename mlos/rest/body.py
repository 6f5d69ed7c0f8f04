"""Request bodies: read once, parse once, validate against spec/openapi.yaml.

Connexion calls a body validator for each request whose operation declares a body. Ours
replaces connexion's JSON validator, which compiles the schema on every request, decodes with
the content type's charset (a body that is not valid UTF-8 then ends in a 500), and leaves the
handler to parse the JSON a second time. This one:

* reads the body, inflating `Content-Encoding: gzip` or `deflate` within the size limit;
* splits off the binary tensor data that follows the JSON part when the request carries
  `Inference-Header-Content-Length` (Triton's binary tensor data extension) — with any content
  type, since tritonclient sends none;
* parses the JSON part (orjson when installed) and validates it with a JSON Schema 2020-12
  validator compiled once per schema — jsonschema-rs when installed (about 1 µs for an
  inference request, measured, against 250 µs for the pure-Python jsonschema);
* leaves the result in the scope as a :class:`~mlos.rest.types.ParsedBody` for the handler.

Every failure is an :class:`~mlos.errors.InvalidArgument` (400) or a
:class:`~mlos.rest.problems.BodyTooLarge` (413).
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar, Protocol

import jsonschema
from connexion.validators import AbstractRequestBodyValidator
from jsonschema.exceptions import best_match
from starlette.types import Message, Receive, Scope

from mlos.errors import InvalidArgument
from mlos.rest.problems import BodyTooLarge
from mlos.rest.types import BODY_SCOPE_KEY, ParsedBody
from mlos.wire.encoding import dumps, loads

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - exercised only without jsonschema-rs
    jsonschema_rs = None  # type: ignore[assignment]  # the module or None when it is not installed

__all__ = ["LIMIT_SCOPE_KEY", "JSONBody", "split_binary"]

LIMIT_SCOPE_KEY = "mlos.max_body_bytes"
"""Scope key where the body-limit middleware records the limit (for inflated bodies)."""

HEADER_LENGTH = b"inference-header-content-length"
_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS}


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _inflate(raw: bytes, encoding: bytes, limit: int | None) -> bytes:
    wbits = _WBITS.get(encoding.strip().lower())
    if wbits is None:
        raise InvalidArgument(f"unsupported Content-Encoding {encoding.decode('latin-1')!r}")
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(raw, limit + 1 if limit is not None else 0)
    except zlib.error as exc:
        raise InvalidArgument(f"body is not valid {encoding.decode('latin-1')}: {exc}") from None
    if limit is not None and (len(data) > limit or inflater.unconsumed_tail):
        raise BodyTooLarge(limit)
    return data


def split_binary(raw: bytes, header_length: bytes | None) -> tuple[memoryview, memoryview]:
    """The JSON part and the binary part of a body, per `Inference-Header-Content-Length`."""
    view = memoryview(raw)
    if header_length is None:
        return view, view[:0]
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidArgument("Inference-Header-Content-Length is not an integer") from None
    if not 0 <= length <= len(raw):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {length} is outside the body of {len(raw)} bytes"
        )
    return view[:length], view[length:]


class _Checker(Protocol):
    def __call__(self, document: Any) -> str | None: ...


def _detach(node: Any) -> Any:
    """A copy of a schema without the `components` that connexion attaches to body schemas.

    Connexion inlines every `$ref` and then hangs the whole `components` object on each body
    schema, so a schema may reach itself through it; the inlined schema needs none of it.
    """
    if isinstance(node, dict):
        return {key: _detach(value) for key, value in node.items() if key != "components"}
    if isinstance(node, list):
        return [_detach(value) for value in node]
    return node


_EXPLAINED = frozenset(("anyOf", "oneOf", "pattern", "not"))
"""Keywords whose own messages say little ("does not match '^[^/...'"): the schema's
description says what the value must be instead."""


def _message(schema: dict[str, Any], schema_path: Any, instance: Any, message: str) -> str:
    """The validator's message, or — for a keyword in _EXPLAINED under a schema with a
    description — the value and what it must be."""
    path = list(schema_path)
    if not path or path[-1] not in _EXPLAINED:
        return message
    node: Any = schema
    described = ""
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return message
        if isinstance(node, dict) and isinstance(node.get("description"), str):
            described = node["description"]
    if not described:
        return message
    try:
        shown = dumps(instance).decode("utf-8", "replace")
    except (TypeError, ValueError):
        shown = repr(instance)
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    return f"{shown} is not valid: {' '.join(described.split())}"


def _compile(schema: dict[str, Any]) -> _Checker:
    """A function that returns the first error in a document as "place: message", or None."""
    schema = _detach(schema)
    if jsonschema_rs is not None:
        fast = jsonschema_rs.Draft202012Validator(schema)

        def check_fast(document: Any) -> str | None:
            if fast.is_valid(document):
                return None
            error = next(iter(fast.iter_errors(document)))
            message = _message(schema, error.schema_path, error.instance, error.message)
            return f"{_where(error.instance_path)}: {message}"

        return check_fast
    slow = jsonschema.Draft202012Validator(schema)

    def check_slow(document: Any) -> str | None:
        error = best_match(slow.iter_errors(document))
        if error is None:
            return None
        message = _message(schema, error.absolute_schema_path, error.instance, error.message)
        return f"{_where(error.absolute_path)}: {message}"

    return check_slow


def _where(path: Any) -> str:
    where = "body"
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where


class JSONBody(AbstractRequestBodyValidator):  # type: ignore[misc]  # connexion ships no type hints: its base class is Any
    """Connexion body validator for `application/json` and `application/octet-stream`."""

    _compiled: ClassVar[dict[int, tuple[dict[str, Any], _Checker]]] = {}

    def __init__(
        self,
        *,
        schema: dict[str, Any],
        required: bool = False,
        nullable: bool = False,
        encoding: str = "utf-8",
        strict_validation: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            schema=schema,
            required=required,
            nullable=nullable,
            encoding=encoding,
            strict_validation=strict_validation,
        )

    def _checker(self) -> _Checker:
        """The compiled check for this operation's schema (compiled on first use)."""
        entry = self._compiled.get(id(self._schema))
        if entry is None or entry[0] is not self._schema:
            entry = (self._schema, _compile(self._schema))
            self._compiled[id(self._schema)] = entry
        return entry[1]

    def validate_document(self, document: Any) -> None:
        """Raise InvalidArgument, naming the place, when `document` does not match the schema."""
        error = self._checker()(document)
        if error is not None:
            raise InvalidArgument(error)

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        """Read, parse and validate the body; replay it to whatever reads it next."""
        messages: list[Message] = []
        more = True
        while more:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            more = message.get("more_body", False)
        chunks = [m.get("body", b"") for m in messages if m["type"] == "http.request"]
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)

        content_encoding = _header(scope, b"content-encoding")
        if raw and content_encoding and content_encoding.strip().lower() != b"identity":
            raw = _inflate(raw, content_encoding, scope.get(LIMIT_SCOPE_KEY))
        head, binary = split_binary(raw, _header(scope, HEADER_LENGTH))

        document: Any = None
        if len(head):
            document = loads(head)
            self.validate_document(document)
        elif self._required:
            raise InvalidArgument("request body is required")
        scope[BODY_SCOPE_KEY] = ParsedBody(document, binary)
        return self._insert_messages(receive, messages=messages), scope

    # Connexion's hooks, unused because wrap_receive does the whole job.
    async def _parse(self, stream: Any, scope: Scope) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _validate(self, body: Any) -> dict[str, Any] | None:  # pragma: no cover
        raise NotImplementedError
