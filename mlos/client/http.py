"""The MLOS client over REST: :class:`HTTPClient` and :class:`AsyncHTTPClient` (httpx).

    from mlos.client import connect

    with connect("http://127.0.0.1:8080") as client:
        client.register_plugin("onnx")
        client.register_model("demo", "/models/demo.onnx", plugin="onnx")
        outputs = client.infer("demo", {"input": np.zeros((1, 64), np.float32)})

The calls themselves are :class:`mlos.client.rest.RestOperations`; this module sends them.
:class:`HTTPClient` talks to a server on this machine (plain `http://` to a loopback address)
over its own keep-alive connections (`http.client`, each request written in one `send`), and to
any other server through `requests` (TLS, proxies, a session of the caller's).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from collections.abc import Mapping
from typing import NamedTuple, TypeVar
from urllib.parse import urlsplit

import requests

from mlos.client.aio import AsyncClient
from mlos.client.base import DEFAULT_TIMEOUT, DEFAULT_URL, Op, Unreachable, closed_by_peer
from mlos.client.credentials import find_token
from mlos.client.rest import RestAnswer, RestOperations, RestRequest, error_for
from mlos.client.sync import Client
from mlos.errors import DeadlineExceeded, InvalidArgument
from mlos.wire.oip_http import BodyParts

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "AsyncHTTPClient",
    "HTTPClient",
    "OneWriteHTTPConnection",
]

T = TypeVar("T")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_OPERATIONS = RestOperations()


def _base_url(url: str) -> tuple[str, str]:
    """The normalized base URL and its host name; InvalidArgument when it is not http(s)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{url!r} is not an http:// or https:// server address")
    return url, parts.hostname


def _authorization(token: str | None) -> dict[str, str]:
    """The header that presents `token` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def _reason(exc: BaseException) -> str:
    """The operating system's reason for a connection failure ("connection refused")."""
    match = _ERRNO.search(str(exc))
    return match.group(1).strip().lower() if match else type(exc).__name__


def _joined(body: bytes | BodyParts | None) -> bytes | None:
    """The body as one bytes object, for HTTP libraries that take nothing else."""
    return body.joined() if isinstance(body, BodyParts) else body


def _unreachable(url: str, reason: str) -> Unreachable:
    return Unreachable(f"no MLOS server is reachable at {url} ({reason})")


def _deadline(url: str, method: str, path: str, timeout: float | None) -> DeadlineExceeded:
    return DeadlineExceeded(f"{url} did not answer {method} {path} within {timeout} s")


class _LibraryErrors(NamedTuple):
    """The exceptions of an HTTP library (`requests`, `httpx`) that `_failure` tells apart."""

    connect_timeout: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]


_REQUESTS_ERRORS = _LibraryErrors(
    requests.ConnectTimeout, requests.Timeout, requests.ConnectionError
)


def _failure(
    exc: Exception, errors: _LibraryErrors, url: str, request: RestRequest, timeout: float | None
) -> Unreachable | DeadlineExceeded:
    """The MLOS error for an HTTP library's exception: no connection (in time) is Unreachable,
    no answer in time is DeadlineExceeded."""
    if isinstance(exc, errors.connect_timeout):
        return _unreachable(url, "timed out")
    if isinstance(exc, errors.timeout):
        return _deadline(url, request.method, request.path, timeout)
    if isinstance(exc, errors.connection):
        return _unreachable(url, _reason(exc))
    return Unreachable(f"request to {url} failed: {exc}")


def _answer(op: Op[T], answer: RestAnswer) -> T:
    if answer.status not in op.request.ok:
        raise error_for(answer)
    return op.parse(answer)


class OneWriteHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection that writes a request's head and a small body in one `send`,
    and a :class:`~mlos.wire.oip_http.BodyParts` body with its head in one `sendmsg`.

    `http.client` sends them separately; on loopback TCP each send runs the receiver's side of
    the stack and wakes the server, so a second one costs about a third of a millisecond. Body
    parts go out as they are: a large input array is never copied into a body first.
    """

    _held: bytes | None = None
    _hold = False

    def endheaders(
        self, message_body: object = None, *, encode_chunked: bool = False
    ) -> None:
        """Send the head, held back to go out with a small body in the same write."""
        if isinstance(message_body, BodyParts):
            self._hold = True
            super().endheaders(None)  # the head reaches send() and is held there
            head, self._held, self._hold = self._held, None, False
            assert head is not None and self.sock is not None
            _send_buffers(self.sock, [head, *message_body.parts])
            return
        self._hold = isinstance(message_body, bytes) and 0 < len(message_body) <= _ONE_SEND
        super().endheaders(message_body, encode_chunked=encode_chunked)  # type: ignore[arg-type]  # typeshed says bytes; BodyParts is written by send() below

    def send(self, data: object) -> None:
        """Write `data` (the head waits for the body when the body is small)."""
        if self._hold:
            if self._held is None:
                self._held = bytes(data)  # type: ignore[call-overload]  # data is bytes-like; typeshed's overloads miss memoryview
                return
            data, self._held, self._hold = self._held + bytes(data), None, False  # type: ignore[call-overload]  # data is bytes-like; typeshed's overloads miss memoryview
        super().send(data)  # type: ignore[arg-type]  # typeshed says bytes; a memoryview is written as well


_ONE_SEND = 1 << 16


def _send_buffers(sock: socket.socket, buffers: list[bytes | memoryview]) -> None:
    """Write every buffer, in order, with as few `sendmsg` calls as the socket allows."""
    views = [memoryview(buffer).cast("B") for buffer in buffers]
    while views:
        sent = sock.sendmsg(views[:_IOV_MAX])
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


_IOV_MAX = 1024


class _ConnectFailed(Exception):
    """No connection could be opened; the message is the reason ("connection refused")."""


_RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class _LocalTransport:
    """Keep-alive connections to one server on this machine, shared by the client's threads."""

    def __init__(self, host: str, port: int, timeout: float | None) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._idle: list[OneWriteHTTPConnection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, path: str, body: bytes | BodyParts | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes, Mapping[str, str]]:
        """Send one request and read the whole answer."""
        connection, reused = self._take()  # raises _ConnectFailed
        while True:
            try:
                # A BodyParts body goes out in OneWriteHTTPConnection.endheaders.
                connection.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]  # a BodyParts body goes out in endheaders(), not as typeshed's body
                response = connection.getresponse()
                content = response.read()
                break
            except _RETRYABLE:
                connection.close()
                if not reused:
                    raise
                # The server closed the kept-alive connection as this request went out on it
                # (its idle timeout): it read nothing of it. Once more, on a new connection.
                connection, reused = self._open(), False
            except BaseException:
                connection.close()
                raise
        if response.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.append(connection)
        answer_headers = requests.structures.CaseInsensitiveDict(response.getheaders())
        return response.status, response.reason, content, answer_headers

    def _take(self) -> tuple[OneWriteHTTPConnection, bool]:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.sock is not None and not closed_by_peer(connection.sock):
                    return connection, True
                connection.close()
        return self._open(), False

    def _open(self) -> OneWriteHTTPConnection:
        connection = OneWriteHTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror
            raise _ConnectFailed((reason or type(exc).__name__).lower()) from exc
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class HTTPClient(Client):
    """A blocking client of one MLOS server's REST API; see :class:`mlos.client.Client`.

    A plain `http://` server on a loopback address is reached over the client's own keep-alive
    connections; any other server (or any server when `session` is given) through `requests`.
    """

    _ops = _OPERATIONS

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        token: str | None = None,
    ) -> None:
        self._url, host = _base_url(url)
        self._auth = _authorization(find_token(token, url))
        self._timeout = timeout
        parts = urlsplit(self._url)
        self._local: _LocalTransport | None = None
        if session is None and parts.scheme == "http" and host in _LOOPBACK:
            self._local = _LocalTransport(host, parts.port or 80, timeout)
        self._session = session or requests.Session()
        if session is None and host in _LOOPBACK:
            # Proxy variables and .netrc never apply to a local server; skipping them also
            # saves their lookup on every request.
            self._session.trust_env = False

    def send(self, request: RestRequest) -> RestAnswer:
        """Send one request; the answer whatever its status (connection failures raise)."""
        if self._local is not None:
            return self._send_local(self._local, request)
        try:
            response = self._session.request(
                request.method,
                self._url + request.path,
                data=_joined(request.body),
                headers={**(request.headers or {}), **self._auth},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise _failure(exc, _REQUESTS_ERRORS, self._url, request, self._timeout) from exc
        return RestAnswer(
            response.status_code, response.reason or "", response.content, response.headers
        )

    def _send_local(self, local: _LocalTransport, request: RestRequest) -> RestAnswer:
        method, path = request.method, request.path
        try:
            status, reason, content, headers = local.request(
                method, path, request.body, {**(request.headers or {}), **self._auth}
            )
        except _ConnectFailed as exc:
            raise _unreachable(self._url, str(exc)) from exc
        except TimeoutError as exc:
            raise _deadline(self._url, method, path, self._timeout) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(
                f"the connection to {self._url} failed during {method} {path} "
                f"({type(exc).__name__})"
            ) from exc
        return RestAnswer(status, reason, content, headers)

    def _run(self, op: Op[T]) -> T:
        return _answer(op, self.send(op.request))

    def close(self) -> None:
        """Close pooled connections."""
        if self._local is not None:
            self._local.close()
        self._session.close()


class AsyncHTTPClient(AsyncClient):
    """An asyncio client of one MLOS server's REST API; see :class:`mlos.client.AsyncClient`."""

    _ops = _OPERATIONS

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        token: str | None = None,
    ) -> None:
        import httpx

        self._url, host = _base_url(url)
        self._timeout = timeout
        self._errors = _LibraryErrors(
            httpx.ConnectTimeout, httpx.TimeoutException, httpx.TransportError
        )
        self._client = httpx.AsyncClient(
            base_url=self._url,
            timeout=timeout,
            trust_env=host not in _LOOPBACK,
            headers=_authorization(find_token(token, url)),
        )

    async def send(self, request: RestRequest) -> RestAnswer:
        """Send one request; the answer whatever its status (connection failures raise)."""
        try:
            response = await self._client.request(
                request.method, request.path, content=_joined(request.body), headers=request.headers
            )
        except self._errors.connection as exc:  # httpx.TransportError, timeouts included
            raise _failure(exc, self._errors, self._url, request, self._timeout) from exc
        return RestAnswer(
            response.status_code, response.reason_phrase, response.content, response.headers
        )

    async def _run(self, op: Op[T]) -> T:
        return _answer(op, await self.send(op.request))

    async def close(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()
