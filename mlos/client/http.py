"""The MLOS client over REST: :class:`HTTPClient` (requests) and :class:`AsyncHTTPClient` (httpx).

    from mlos.client import connect

    with connect("http://127.0.0.1:8080") as client:
        client.register_plugin("onnx")
        client.register_model("demo", "/models/demo.onnx", plugin="onnx")
        outputs = client.infer("demo", {"input": np.zeros((1, 64), np.float32)})

The calls themselves are :class:`mlos.client.rest.RestOperations`; this module sends them.
"""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import urlsplit

import requests

from mlos.client.aio import BaseAsyncClient
from mlos.client.base import DEFAULT_TIMEOUT, DEFAULT_URL, Op, Unreachable
from mlos.client.rest import RestAnswer, RestOperations, RestRequest, error_for
from mlos.client.sync import BaseClient
from mlos.errors import DeadlineExceeded, InvalidArgument

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "AsyncHTTPClient", "HTTPClient"]

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


def _reason(exc: BaseException) -> str:
    """The operating system's reason for a connection failure ("connection refused")."""
    match = _ERRNO.search(str(exc))
    return match.group(1).strip().lower() if match else type(exc).__name__


def _answer(op: Op[T], answer: RestAnswer) -> T:
    if answer.status not in op.request.ok:
        raise error_for(answer)
    return op.parse(answer)


class HTTPClient(BaseClient):
    """A blocking client of one MLOS server's REST API; see :class:`mlos.client.Client`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self._url, host = _base_url(url)
        self._ops = _OPERATIONS
        self._timeout = timeout
        self._session = session or requests.Session()
        if session is None and host in _LOOPBACK:
            # Proxy variables and .netrc never apply to a local server; skipping them also
            # saves their lookup on every request.
            self._session.trust_env = False

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._url

    def __repr__(self) -> str:
        return f"HTTPClient({self._url!r})"

    def send(self, request: RestRequest) -> RestAnswer:
        """Send one request; the answer whatever its status (connection failures raise)."""
        method, path = request.method, request.path
        try:
            response = self._session.request(
                method,
                self._url + path,
                data=request.body,
                headers=request.headers,
                timeout=self._timeout,
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
        return RestAnswer(
            response.status_code, response.reason or "", response.content, response.headers
        )

    def _run(self, op: Op[T]) -> T:
        return _answer(op, self.send(op.request))

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()


class AsyncHTTPClient(BaseAsyncClient):
    """An asyncio client of one MLOS server's REST API; see :class:`mlos.client.AsyncClient`."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        import httpx

        self._url, host = _base_url(url)
        self._ops = _OPERATIONS
        self._timeout = timeout
        self._httpx = httpx
        self._client = httpx.AsyncClient(
            base_url=self._url, timeout=timeout, trust_env=host not in _LOOPBACK
        )

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._url

    def __repr__(self) -> str:
        return f"AsyncHTTPClient({self._url!r})"

    async def send(self, request: RestRequest) -> RestAnswer:
        """Send one request; the answer whatever its status (connection failures raise)."""
        httpx = self._httpx
        method, path = request.method, request.path
        try:
            response = await self._client.request(
                method, path, content=request.body, headers=request.headers
            )
        except httpx.ConnectTimeout as exc:
            raise Unreachable(f"no MLOS server is reachable at {self._url} (timed out)") from exc
        except httpx.TimeoutException as exc:
            raise DeadlineExceeded(
                f"{self._url} did not answer {method} {path} within {self._timeout} s"
            ) from exc
        except httpx.TransportError as exc:
            raise Unreachable(
                f"no MLOS server is reachable at {self._url} ({_reason(exc)})"
            ) from exc
        return RestAnswer(
            response.status_code, response.reason_phrase, response.content, response.headers
        )

    async def _run(self, op: Op[T]) -> T:
        return _answer(op, await self.send(op.request))

    async def close(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()
