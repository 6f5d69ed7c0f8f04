"""The Python client of MLOS: one typed API, whatever the transport.

    from mlos.client import connect

    client = connect("http://127.0.0.1:8080")          # REST
    client = connect("grpc://127.0.0.1:8081")          # gRPC
    client = connect("unix:///home/me/.mlos/mlos.sock")  # the local IPC socket
    print(client.health().ready)

:func:`connect` picks the transport from the URL's scheme (a bare `host:port` is REST) and
returns a :class:`Client`; :func:`connect_async` returns the same API awaited, an
:class:`AsyncClient`. Transports are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlos.client.aio import AsyncClient
from mlos.client.base import DEFAULT_TIMEOUT, DEFAULT_URL, Array, Unreachable
from mlos.client.sync import Client
from mlos.errors import InvalidArgument

if TYPE_CHECKING:
    from mlos.client.http import AsyncHTTPClient, HTTPClient
    from mlos.client.rpc import AsyncGRPCClient, GRPCClient
    from mlos.client.unix import AsyncIPCClient, IPCClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "Array",
    "AsyncClient",
    "AsyncGRPCClient",
    "AsyncHTTPClient",
    "AsyncIPCClient",
    "Client",
    "GRPCClient",
    "HTTPClient",
    "IPCClient",
    "Unreachable",
    "connect",
    "connect_async",
]

_LAZY = {
    "HTTPClient": "mlos.client.http",
    "AsyncHTTPClient": "mlos.client.http",
    "GRPCClient": "mlos.client.rpc",
    "AsyncGRPCClient": "mlos.client.rpc",
    "IPCClient": "mlos.client.unix",
    "AsyncIPCClient": "mlos.client.unix",
}
_SCHEMES = {"http": "HTTP", "https": "HTTP", "grpc": "GRPC", "unix": "IPC"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlos.client' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def _transport(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else "http"
    try:
        return _SCHEMES[scheme]
    except KeyError:
        raise InvalidArgument(
            f"{url!r}: unknown scheme {scheme!r} (use http://HOST:PORT, grpc://HOST:PORT "
            "or unix:///PATH)"
        ) from None


def connect(
    url: str = DEFAULT_URL, *, timeout: float | None = DEFAULT_TIMEOUT, token: str | None = None
) -> Client:
    """A client of the MLOS server at `url`; `timeout` is in seconds per call (None: wait).

    `token` is the API token to present; without one the client uses `MLOS_TOKEN`, else the
    admin token in the server's home (:mod:`mlos.client.credentials`).
    """
    cls = __getattr__(f"{_transport(url)}Client")
    client: Client = cls(url, timeout=timeout, token=token)
    return client


def connect_async(
    url: str = DEFAULT_URL, *, timeout: float | None = DEFAULT_TIMEOUT, token: str | None = None
) -> AsyncClient:
    """An asyncio client of the MLOS server at `url` (see :func:`connect`); it connects lazily,
    so it may be created outside an event loop, and is closed with `await client.close()`."""
    cls = __getattr__(f"Async{_transport(url)}Client")
    client: AsyncClient = cls(url, timeout=timeout, token=token)
    return client
