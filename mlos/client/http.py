"""The MLOS client over REST (`requests`): /v1 management and /v2 Open Inference Protocol.

    from mlos.client import connect

    with connect("http://127.0.0.1:8080") as client:
        client.register_plugin("onnx")
        client.register_model("demo", "/models/demo.onnx", plugin="onnx")
        outputs = client.infer("demo", {"input": np.zeros((1, 64), np.float32)})

/v1 bodies are the JSON rendering of the `smi.proto` messages (:mod:`mlos.rest.encoding`), read
back into those messages. Errors: a problem body's `code` picks the :class:`MLOSError` subclass;
/v2's `{"error": ...}` bodies are classified by their HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import requests
from google.protobuf.message import Message

from mlos.client.base import Array, Unreachable
from mlos.client.oip import HEADER_LENGTH, decode_response, encode_request
from mlos.errors import DeadlineExceeded, InternalError, InvalidArgument, MLOSError, StatusCode
from mlos.rest.encoding import dumps, from_json, loads
from mlos_generated import smi_pb2

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "HTTPClient"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a connection and for each answer."""

M = TypeVar("M", bound=Message)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_SOURCES = ("entry_point", "module", "executable")


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _reason(exc: requests.RequestException) -> str:
    """The operating system's reason for a connection failure ("Connection refused")."""
    match = _ERRNO.search(str(exc))
    return match.group(1).strip().lower() if match else type(exc).__name__


def _status_code(http_status: int) -> StatusCode:
    """The MLOS code for an error answer that carries none (through the REST status table)."""
    from mlos.rest.problems import code_for_http_status

    return code_for_http_status(http_status)


def _error(response: requests.Response) -> MLOSError:
    """The typed error for an error response (problem details, `{"error": ...}` or other)."""
    try:
        body = loads(response.content)
    except MLOSError:
        body = None
    code = _status_code(response.status_code)
    message = f"HTTP {response.status_code} {response.reason or ''}".strip()
    if isinstance(body, dict):
        slug = body.get("code")
        if isinstance(slug, str) and slug.upper() in StatusCode.__members__:
            code = StatusCode[slug.upper()]
        text = body.get("detail") or body.get("error") or body.get("title")
        if isinstance(text, str) and text:
            message = text
    return MLOSError.for_code(code, message)


class HTTPClient:
    """A synchronous client of one MLOS server's REST API; see :class:`mlos.client.Client`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        url = url.strip()
        if "://" not in url:
            url = "http://" + url
        url = url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"{url!r} is not an http:// or https:// server address")
        self._url = url
        self._timeout = timeout
        self._session = session or requests.Session()
        if session is None and parts.hostname in _LOOPBACK:
            # Proxy variables and .netrc never apply to a local server; skipping them also
            # saves their lookup on every request.
            self._session.trust_env = False

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._url

    def __repr__(self) -> str:
        return f"HTTPClient({self._url!r})"

    # ----- plumbing ----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Sequence[int] = (200,),
    ) -> requests.Response:
        try:
            response = self._session.request(
                method, self._url + path, data=body, headers=headers, timeout=self._timeout
            )
        except requests.ConnectTimeout as exc:
            raise Unreachable(f"no MLOS server is reachable at {self._url} (timed out)") from exc
        except requests.Timeout as exc:
            raise DeadlineExceeded(
                f"{self._url} did not answer {method} {path} within {self._timeout} s"
            ) from exc
        except requests.ConnectionError as exc:
            raise Unreachable(
                f"no MLOS server is reachable at {self._url} ({_reason(exc)})"
            ) from exc
        except requests.RequestException as exc:
            raise Unreachable(f"request to {self._url} failed: {exc}") from exc
        if response.status_code not in ok:
            raise _error(response)
        return response

    def _json(
        self, method: str, path: str, document: Any = None, ok: Sequence[int] = (200,)
    ) -> Any:
        body = None if document is None else dumps(document)
        headers = None if body is None else {"Content-Type": "application/json"}
        response = self._send(method, path, body=body, headers=headers, ok=ok)
        try:
            return loads(response.content)
        except MLOSError as exc:
            raise InternalError(f"{method} {path}: the server's answer is not JSON") from exc

    def _message(
        self, method: str, path: str, message: M, document: Any = None, ok: Sequence[int] = (200,)
    ) -> M:
        data = self._json(method, path, document, ok)
        if not isinstance(data, dict):
            raise InternalError(f"{method} {path}: the server's answer is not a JSON object")
        try:
            return from_json(data, message)
        except MLOSError as exc:
            raise InternalError(f"{method} {path}: unexpected answer: {exc.message}") from exc

    # ----- server ------------------------------------------------------------------------

    def health(self) -> smi_pb2.HealthResponse:
        """Liveness and readiness (a server that is live but not ready answers 503)."""
        return self._message("GET", "/v1/health", smi_pb2.HealthResponse(), ok=(200, 503))

    def server_metadata(self) -> dict[str, Any]:
        """Server name, version and extensions (GET /v2)."""
        data: dict[str, Any] = self._json("GET", "/v2")
        return data

    def resources(self) -> smi_pb2.ResourcesResponse:
        """CPU, memory and GPU of the host and of each plugin process."""
        return self._message("GET", "/v1/resources", smi_pb2.ResourcesResponse())

    # ----- plugins -----------------------------------------------------------------------

    def register_plugin(
        self,
        name: str,
        version: str | None = None,
        entry_point: str | None = None,
        module: str | None = None,
        executable: str | None = None,
    ) -> smi_pb2.PluginStatus:
        """Register a plugin and start its process."""
        document: dict[str, str] = {"name": name}
        if version:
            document["version"] = version
        sources = dict(zip(_SOURCES, (entry_point, module, executable), strict=True))
        given = {key: value for key, value in sources.items() if value}
        if len(given) > 1:
            raise InvalidArgument(f"give at most one of {', '.join(_SOURCES)}")
        document.update(given)
        return self._message(
            "POST", "/v1/plugins", smi_pb2.PluginStatus(), document, ok=(200, 201)
        )

    def list_plugins(self) -> list[smi_pb2.PluginStatus]:
        """Every registered plugin."""
        return list(self._message("GET", "/v1/plugins", smi_pb2.ListPluginsResponse()).plugins)

    def get_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """One plugin."""
        return self._message("GET", f"/v1/plugins/{_quote(name)}", smi_pb2.PluginStatus())

    def load_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Start a registered plugin's process (again)."""
        return self._message("POST", f"/v1/plugins/{_quote(name)}/load", smi_pb2.PluginStatus())

    def unload_plugin(self, name: str) -> smi_pb2.PluginStatus:
        """Stop a plugin's process, keeping its registration."""
        path = f"/v1/plugins/{_quote(name)}/unload"
        return self._message("POST", path, smi_pb2.PluginStatus())

    def remove_plugin(self, name: str) -> None:
        """Stop a plugin's process and forget it."""
        self._send("DELETE", f"/v1/plugins/{_quote(name)}", ok=(200, 204))

    # ----- models ------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        path: str,
        plugin: str | None = None,
        version: str | None = None,
        config: Mapping[str, str] | None = None,
    ) -> smi_pb2.ModelStatus:
        """Register a model version and load it."""
        document: dict[str, Any] = {"name": name, "path": str(path)}
        if plugin:
            document["plugin"] = plugin
        if version:
            document["version"] = version
        if config:
            document["config"] = {str(k): str(v) for k, v in config.items()}
        return self._message("POST", "/v1/models", smi_pb2.ModelStatus(), document, ok=(200, 201))

    def list_models(self) -> list[smi_pb2.ModelStatus]:
        """Every registered model version."""
        return list(self._message("GET", "/v1/models", smi_pb2.ListModelsResponse()).models)

    def get_model(self, name: str, version: str | None = None) -> smi_pb2.Model:
        """A model with all its versions, or with only `version`."""
        if not version:
            return self._message("GET", f"/v1/models/{_quote(name)}", smi_pb2.Model())
        path = f"/v1/models/{_quote(name)}/versions/{_quote(version)}"
        status = self._message("GET", path, smi_pb2.ModelStatus())
        return smi_pb2.Model(name=status.name or name, versions=[status])

    def remove_model(self, name: str, version: str | None = None) -> list[smi_pb2.ModelStatus]:
        """Unload and forget a model (or one version); the versions removed."""
        path = f"/v1/models/{_quote(name)}"
        if version:
            path += f"/versions/{_quote(version)}"
        return list(self._message("DELETE", path, smi_pb2.RemoveModelResponse()).removed)

    @staticmethod
    def _v2_model(name: str, version: str | None) -> str:
        path = f"/v2/models/{_quote(name)}"
        return path + f"/versions/{_quote(version)}" if version else path

    def model_metadata(self, name: str, version: str | None = None) -> smi_pb2.ModelMetadata:
        """Inputs, outputs and platform (GET /v2/models/{name}[/versions/{version}])."""
        data = self._json("GET", self._v2_model(name, version))
        try:
            versions = data.get("versions") or []
            metadata = smi_pb2.ModelMetadata(
                name=data["name"], version=versions[0] if versions else "",
                platform=data.get("platform", ""),
            )
            for target, key in ((metadata.inputs, "inputs"), (metadata.outputs, "outputs")):
                for tensor in data.get(key, []):
                    target.add(
                        name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
                    )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InternalError(f"unexpected model metadata from the server: {exc}") from exc
        return metadata

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model (version) takes inference requests now."""
        path = self._v2_model(name, version) + "/ready"
        return self._send("GET", path, ok=(200, 400, 404)).status_code == 200

    # ----- inference ---------------------------------------------------------------------

    def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        outputs: Sequence[str] | None = None,
        version: str | None = None,
        binary: bool = True,
        datatypes: Mapping[str, str] | None = None,
    ) -> dict[str, Array]:
        """Run `model` on `inputs`; the outputs by name (see :meth:`mlos.client.Client.infer`)."""
        body, headers = encode_request(inputs, outputs, binary=binary, datatypes=datatypes)
        path = self._v2_model(model, version) + "/infer"
        response = self._send("POST", path, body=body, headers=headers)
        return decode_response(response.content, response.headers.get(HEADER_LENGTH))

    # ----- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

