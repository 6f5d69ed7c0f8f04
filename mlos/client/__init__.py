"""The Python client of MLOS: one typed API, whatever the transport.

    from mlos.client import connect

    client = connect("http://127.0.0.1:8080")
    print(client.health().ready)

:func:`connect` picks the transport from the URL's scheme. REST (`http://`, `https://`, or a bare
`host:port`) is available now; gRPC and the local Unix socket will answer `grpc://` and
`unix://` addresses behind the same :class:`Client` protocol.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mlos.client.base import Array, Client, Unreachable
from mlos.client.http import DEFAULT_TIMEOUT, DEFAULT_URL, HTTPClient
from mlos.errors import InvalidArgument, Unimplemented

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "Array",
    "Client",
    "HTTPClient",
    "Unreachable",
    "connect",
]

_PLANNED = ("grpc", "unix")


def connect(url: str = DEFAULT_URL, *, timeout: float | None = DEFAULT_TIMEOUT) -> Client:
    """A client of the MLOS server at `url`; `timeout` is in seconds per call (None: wait)."""
    scheme = urlsplit(url).scheme if "://" in url else "http"
    if scheme in ("http", "https"):
        return HTTPClient(url, timeout=timeout)
    if scheme in _PLANNED:
        raise Unimplemented(f"{scheme}:// addresses are not supported yet; use http://")
    raise InvalidArgument(f"{url!r}: unknown scheme {scheme!r} (use http://HOST:PORT)")
