"""The client API as REST calls, without I/O: /v1 management and /v2 Open Inference Protocol.

Each method of :class:`RestOperations` returns an :class:`~mlos.client.base.Op` whose request is
a :class:`RestRequest`; a transport (`requests` for :class:`~mlos.client.http.HTTPClient`,
`httpx` for :class:`~mlos.client.http.AsyncHTTPClient`) sends it and hands the
:class:`RestAnswer` to the op's `parse`. An answer whose status is not one the request accepts
becomes an error through :func:`error_for`.

/v1 bodies are the JSON rendering of the `smi.proto` messages (:mod:`mlos.wire.encoding`), read
back into those messages. Errors: a problem body's `code` picks the :class:`MLOSError` subclass;
/v2's `{"error": ...}` bodies are classified by their HTTP status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from google.protobuf.message import Message

from mlos.client.base import Array, Inference, Op
from mlos.errors import InternalError, MLOSError, StatusCode
from mlos.wire.encoding import dumps, from_json, loads
from mlos.wire.oip_http import HEADER_LENGTH, BodyParts, decode_response, encode_request
from mlos.wire.status import code_for_http_status
from mlos_generated import smi_pb2

__all__ = ["RestAnswer", "RestOperations", "RestRequest", "error_for"]

M = TypeVar("M", bound=Message)
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One HTTP request, and the statuses that count as an answer rather than an error."""

    method: str
    path: str
    body: bytes | BodyParts | None = None
    headers: Mapping[str, str] | None = None
    ok: tuple[int, ...] = (200,)


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """What came back: status, reason phrase, body and headers."""

    status: int
    reason: str
    content: bytes
    headers: Mapping[str, str]


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def error_for(answer: RestAnswer) -> MLOSError:
    """The typed error for an error answer (problem details, `{"error": ...}` or other)."""
    try:
        body = loads(answer.content)
    except MLOSError:
        body = None
    code = code_for_http_status(answer.status)
    message = f"HTTP {answer.status} {answer.reason or ''}".strip()
    if isinstance(body, dict):
        slug = body.get("code")
        if isinstance(slug, str) and slug.upper() in StatusCode.__members__:
            code = StatusCode[slug.upper()]
        text = body.get("detail") or body.get("error") or body.get("title")
        if isinstance(text, str) and text:
            message = text
    return MLOSError.for_code(code, message)


def _document(request: RestRequest, answer: RestAnswer) -> Any:
    try:
        return loads(answer.content)
    except MLOSError as exc:
        raise InternalError(
            f"{request.method} {request.path}: the server's answer is not JSON"
        ) from exc


def _json_op(
    method: str, path: str, document: Any = None, ok: tuple[int, ...] = (200,)
) -> Op[Any]:
    body = None if document is None else dumps(document)
    request = RestRequest(method, path, body, None if body is None else _JSON, ok)
    return Op(request, lambda answer: _document(request, answer))


def _message_op(
    method: str, path: str, message: type[M], document: Any = None, ok: tuple[int, ...] = (200,)
) -> Op[M]:
    body = None if document is None else dumps(document)
    request = RestRequest(method, path, body, None if body is None else _JSON, ok)

    def parse(answer: RestAnswer) -> M:
        data = _document(request, answer)
        if not isinstance(data, dict):
            raise InternalError(f"{method} {path}: the server's answer is not a JSON object")
        try:
            return from_json(data, message())
        except MLOSError as exc:
            raise InternalError(f"{method} {path}: unexpected answer: {exc.message}") from exc

    return Op(request, parse)


def _given(**fields: Any) -> dict[str, Any]:
    """The body members of the fields that are set: empty text, lists, maps and 0 stay out, so
    that the server applies its defaults."""
    return {name: value for name, value in fields.items() if value}


def _then(op: Op[M], convert: Callable[[M], Any]) -> Op[Any]:
    parse = op.parse
    return Op(op.request, lambda answer: convert(parse(answer)))


def _plugin(plugin: smi_pb2.PluginRef) -> str:
    """`/v1/plugins/{name}`, and `/versions/{version}` when one is named."""
    path = f"/v1/plugins/{_quote(plugin.name)}"
    return f"{path}/versions/{_quote(plugin.version)}" if plugin.version else path


def _model(api: str, name: str, version: str | None) -> str:
    """`{api}/models/{name}`, and `/versions/{version}` when one is named."""
    path = f"{api}/models/{_quote(name)}"
    return path + f"/versions/{_quote(version)}" if version else path


def _metadata(data: Any) -> smi_pb2.ModelMetadata:
    try:
        versions = data.get("versions") or []
        metadata = smi_pb2.ModelMetadata(
            name=data["name"],
            version=versions[0] if versions else "",
            platform=data.get("platform", ""),
        )
        for target, key in ((metadata.inputs, "inputs"), (metadata.outputs, "outputs")):
            for tensor in data.get(key, []):
                target.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InternalError(f"unexpected model metadata from the server: {exc}") from exc
    return metadata


class RestOperations:
    """Every call of :class:`mlos.client.Client` as a REST :class:`Op`, from the call's
    `smi.proto` request message (or :class:`~mlos.client.base.Inference`)."""

    # ----- server ------------------------------------------------------------------------

    def health(self) -> Op[smi_pb2.HealthResponse]:
        """GET /v1/health (a server that is live but not ready answers 503, not an error)."""
        return _message_op("GET", "/v1/health", smi_pb2.HealthResponse, ok=(200, 503))

    def server_metadata(self) -> Op[dict[str, Any]]:
        """GET /v2."""
        return _json_op("GET", "/v2")

    def resources(self) -> Op[smi_pb2.ResourcesResponse]:
        """GET /v1/resources."""
        return _message_op("GET", "/v1/resources", smi_pb2.ResourcesResponse)

    def cluster_status(self) -> Op[dict[str, Any]]:
        """GET /v1/cluster."""
        return _json_op("GET", "/v1/cluster")

    # ----- plugins -----------------------------------------------------------------------

    def register_plugin(self, request: smi_pb2.RegisterPluginRequest) -> Op[smi_pb2.PluginStatus]:
        """POST /v1/plugins, the source flat in the body."""
        document = {"name": request.name, **_given(version=request.version)}
        source = request.source.WhichOneof("kind") if request.HasField("source") else None
        if source:
            document[source] = getattr(request.source, source)
        document.update(_given(python=request.python))
        if request.default:
            document["default"] = True
        return _message_op("POST", "/v1/plugins", smi_pb2.PluginStatus, document, (200, 201))

    def list_plugins(self) -> Op[list[smi_pb2.PluginStatus]]:
        """GET /v1/plugins."""
        op = _message_op("GET", "/v1/plugins", smi_pb2.ListPluginsResponse)
        return _then(op, lambda response: list(response.plugins))

    def get_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """GET /v1/plugins/{name}."""
        return _message_op("GET", _plugin(plugin), smi_pb2.PluginStatus)

    def load_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """POST /v1/plugins/{name}/load."""
        return _message_op("POST", _plugin(plugin) + "/load", smi_pb2.PluginStatus)

    def unload_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """POST /v1/plugins/{name}/unload."""
        return _message_op("POST", _plugin(plugin) + "/unload", smi_pb2.PluginStatus)

    def set_default_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """POST /v1/plugins/{name}/versions/{version}/default."""
        return _message_op("POST", _plugin(plugin) + "/default", smi_pb2.PluginStatus)

    def upgrade_plugin(self, request: smi_pb2.UpgradePluginRequest) -> Op[smi_pb2.PluginStatus]:
        """POST /v1/plugins/{name}/upgrade, the source flat in the body."""
        document: dict[str, Any] = _given(version=request.version)
        if request.drain_timeout_seconds:
            document["drain_timeout_seconds"] = request.drain_timeout_seconds
        source = request.source.WhichOneof("kind") if request.HasField("source") else None
        if source:
            document[source] = getattr(request.source, source)
        document.update(_given(python=request.python))
        path = _plugin(smi_pb2.PluginRef(name=request.name)) + "/upgrade"
        return _message_op("POST", path, smi_pb2.PluginStatus, document)

    def remove_plugin(self, plugin: smi_pb2.PluginRef) -> Op[None]:
        """DELETE /v1/plugins/{name}."""
        request = RestRequest("DELETE", _plugin(plugin), ok=(200, 204))
        return Op(request, lambda answer: None)

    # ----- models ------------------------------------------------------------------------

    def register_model(self, request: smi_pb2.RegisterModelRequest) -> Op[smi_pb2.ModelStatus]:
        """POST /v1/models, the fields left unset absent from the body."""
        document = {
            "name": request.name,
            "path": request.path,
            **_given(
                plugin=request.plugin,
                version=request.version,
                config=dict(request.config),
                files=[{"path": f.path, "size": f.size, "sha256": f.sha256} for f in request.files],
                files_root=request.files_root,
                resources=_given(
                    memory_bytes=request.resources.memory_bytes,
                    cpus=request.resources.cpus,
                    gpus=request.resources.gpus,
                ),
                instance_count=request.instance_count,
            ),
        }
        if request.HasField("dynamic_batching"):  # present, even empty: batching on
            batching = request.dynamic_batching
            document["dynamic_batching"] = _given(
                preferred_batch_size=list(batching.preferred_batch_size),
                max_queue_delay_us=batching.max_queue_delay_us,
                priority_levels=batching.priority_levels,
                default_priority_level=batching.default_priority_level,
                max_queue_size=batching.max_queue_size,
            )
        return _message_op("POST", "/v1/models", smi_pb2.ModelStatus, document, (200, 201))

    def list_models(self) -> Op[list[smi_pb2.ModelStatus]]:
        """GET /v1/models."""
        op = _message_op("GET", "/v1/models", smi_pb2.ListModelsResponse)
        return _then(op, lambda response: list(response.models))

    def get_model(self, model: smi_pb2.ModelRef) -> Op[smi_pb2.Model]:
        """GET /v1/models/{name}[/versions/{version}]."""
        name, path = model.name, _model("/v1", model.name, model.version)
        if not model.version:
            return _message_op("GET", path, smi_pb2.Model)
        op = _message_op("GET", path, smi_pb2.ModelStatus)
        return _then(op, lambda status: smi_pb2.Model(name=status.name or name, versions=[status]))

    def remove_model(self, model: smi_pb2.ModelRef) -> Op[list[smi_pb2.ModelStatus]]:
        """DELETE /v1/models/{name}[/versions/{version}]."""
        path = _model("/v1", model.name, model.version)
        op = _message_op("DELETE", path, smi_pb2.RemoveModelResponse)
        return _then(op, lambda response: list(response.removed))

    def model_metadata(self, model: smi_pb2.ModelRef) -> Op[smi_pb2.ModelMetadata]:
        """GET /v2/models/{name}[/versions/{version}]."""
        return _then(_json_op("GET", _model("/v2", model.name, model.version)), _metadata)

    def model_ready(self, model: smi_pb2.ModelRef) -> Op[bool]:
        """GET /v2/models/{name}[/versions/{version}]/ready: 200 ready; 400, 404, 409 or 503
        not (the status a server gives varies: Triton says 400)."""
        path = _model("/v2", model.name, model.version) + "/ready"
        request = RestRequest("GET", path, ok=(200, 400, 404, 409, 503))
        return Op(request, lambda answer: answer.status == 200)

    # ----- tokens ------------------------------------------------------------------------

    def create_token(
        self, request: smi_pb2.CreateTokenRequest
    ) -> Op[smi_pb2.CreateTokenResponse]:
        """POST /v1/tokens."""
        document = {
            "name": request.name,
            "role": smi_pb2.Role.Name(request.role).removeprefix("ROLE_").lower(),
            **_given(
                models=list(request.models),
                ttl_seconds=request.ttl_seconds,
                rate_limit=request.rate_limit,
            ),
        }
        return _message_op("POST", "/v1/tokens", smi_pb2.CreateTokenResponse, document, (201,))

    def list_tokens(self) -> Op[list[smi_pb2.TokenInfo]]:
        """GET /v1/tokens."""
        op = _message_op("GET", "/v1/tokens", smi_pb2.ListTokensResponse)
        return _then(op, lambda response: list(response.tokens))

    def revoke_token(self, token: smi_pb2.TokenRef) -> Op[smi_pb2.TokenInfo]:
        """DELETE /v1/tokens/{id}."""
        return _message_op("DELETE", f"/v1/tokens/{_quote(token.id)}", smi_pb2.TokenInfo)

    # ----- inference ---------------------------------------------------------------------

    def infer(self, call: Inference) -> Op[dict[str, Array]]:
        """POST /v2/models/{name}[/versions/{version}]/infer, binary tensors or JSON."""
        body, headers = encode_request(
            call.inputs, call.outputs, binary=call.binary, datatypes=call.datatypes
        )
        path = _model("/v2", call.model, call.version) + "/infer"
        request = RestRequest("POST", path, body, headers)
        return Op(
            request,
            lambda answer: decode_response(answer.content, answer.headers.get(HEADER_LENGTH)),
        )
