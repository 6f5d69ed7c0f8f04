"""The public surface of mlos.client: what it exports, lazily, and which class each URL gets."""

from __future__ import annotations

import asyncio

import pytest

import mlos.client
from mlos.client import AsyncClient, Client, connect, connect_async
from mlos.errors import InvalidArgument


def test_exports_resolve() -> None:
    assert sorted(mlos.client.__all__) == sorted([
        "DEFAULT_TIMEOUT", "DEFAULT_URL", "Array", "AsyncClient", "AsyncGRPCClient",
        "AsyncHTTPClient", "AsyncIPCClient", "Client", "GRPCClient", "HTTPClient", "IPCClient",
        "Unreachable", "connect", "connect_async",
    ])
    for name in mlos.client.__all__:
        assert getattr(mlos.client, name) is not None
    with pytest.raises(AttributeError):
        mlos.client.NoSuchClient  # noqa: B018


@pytest.mark.parametrize(
    ("url", "sync", "asynchronous", "normalized"),
    [
        ("http://127.0.0.1:8080/", "HTTPClient", "AsyncHTTPClient", "http://127.0.0.1:8080"),
        ("127.0.0.1:8080", "HTTPClient", "AsyncHTTPClient", "http://127.0.0.1:8080"),
        ("grpc://localhost", "GRPCClient", "AsyncGRPCClient", "grpc://localhost:8081"),
        ("grpc://[::1]:9", "GRPCClient", "AsyncGRPCClient", "grpc://[::1]:9"),
        ("unix:///run/mlos.sock", "IPCClient", "AsyncIPCClient", "unix:///run/mlos.sock"),
    ],
)
def test_connect_picks_the_transport(url: str, sync: str, asynchronous: str, normalized: str) -> None:
    client = connect(url)
    assert type(client).__name__ == sync and client.url == normalized
    assert isinstance(client, Client) and not isinstance(client, AsyncClient)
    assert repr(client) == f"{sync}({normalized!r})"
    client.close()

    async def run() -> None:
        opened = connect_async(url)
        assert type(opened).__name__ == asynchronous and opened.url == normalized
        assert isinstance(opened, AsyncClient) and not isinstance(opened, Client)
        await opened.close()

    asyncio.run(run())


def test_bad_addresses() -> None:
    for url in ("ftp://x", "grpc://", "grpc://h:notaport"):
        with pytest.raises(InvalidArgument):
            connect(url)


def test_the_api_is_written_once_for_each_kind_of_client() -> None:
    """The transports supply connections, `_run` and `close`; every call is the base's own."""
    api = {name for name in vars(Client) if not name.startswith("_")}
    assert api == {name for name in vars(AsyncClient) if not name.startswith("_")}
    assert {"infer", "health", "register_model", "url"} <= api
    for name in ("HTTPClient", "GRPCClient", "IPCClient"):
        transport = getattr(mlos.client, name)
        assert issubclass(transport, Client)
        assert api & set(vars(transport)) == {"close"}, name
        asynchronous = getattr(mlos.client, f"Async{name}")
        assert issubclass(asynchronous, AsyncClient)
        assert api & set(vars(asynchronous)) == {"close"}, name
