"""The MLOS client over gRPC: :class:`GRPCClient` (grpcio) and :class:`AsyncGRPCClient` (grpc.aio).

    from mlos.client import connect

    with connect("grpc://127.0.0.1:8081") as client:
        outputs = client.infer("demo", {"input": x})

Calls go to the `mlos.smi.v1.MLOS` service through the generated `MLOSStub`. A failed call's
MLOS code is read from its trailing metadata (:mod:`mlos.wire.status`), so every error is the
same :class:`~mlos.errors.MLOSError` subclass as over REST and IPC.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import grpc.aio

from mlos.client.aio import AsyncClient
from mlos.client.base import DEFAULT_TIMEOUT, Op, Unreachable
from mlos.client.credentials import find_token
from mlos.client.smi import SmiCall, SmiOperations
from mlos.client.sync import Client
from mlos.errors import DeadlineExceeded, InvalidArgument, MLOSError
from mlos.wire.status import CODE_METADATA_KEY, code_for_grpc_status
from mlos_generated import smi_pb2_grpc

__all__ = ["DEFAULT_GRPC_PORT", "AsyncGRPCClient", "GRPCClient", "grpc_target"]

DEFAULT_GRPC_PORT = 8081
T = TypeVar("T")
_OPERATIONS = SmiOperations()
_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_http_proxy", 0),
]


def grpc_target(url: str) -> str:
    """The grpcio target (`host:port`) of `grpc://host[:port]`."""
    parts = urlsplit(url.strip())
    if parts.scheme != "grpc" or not parts.hostname:
        raise InvalidArgument(f"{url!r} is not a grpc://HOST:PORT address")
    try:
        port = parts.port or DEFAULT_GRPC_PORT
    except ValueError:
        raise InvalidArgument(f"{url!r} has an invalid port") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def _metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    """The call metadata that presents `token` (None without one)."""
    return (("authorization", f"Bearer {token}"),) if token else None


def _calls(channel: grpc.Channel | grpc.aio.Channel) -> dict[str, Any]:
    """The calls of the generated `MLOSStub` on `channel`, by method name."""
    stub = smi_pb2_grpc.MLOSStub(channel)
    return {name: getattr(stub, name) for name in dir(stub) if name[:1].isupper()}


def _error(exc: grpc.RpcError, url: str, name: str, timeout: float | None) -> MLOSError:
    """The MLOS error for a failed call (see the module documentation)."""
    status = exc.code()
    details = exc.details() or status.name.lower()
    trailing: Any = exc.trailing_metadata() or ()
    metadata: tuple[tuple[str, str | bytes], ...] = tuple(
        (str(key), value) for key, value in trailing
    )
    if any(key == CODE_METADATA_KEY for key, _ in metadata):
        return MLOSError.for_code(code_for_grpc_status(status.value[0], metadata), details)
    if status == grpc.StatusCode.UNAVAILABLE:
        return Unreachable(f"no MLOS server is reachable at {url} ({details})")
    if status == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"{url} did not answer {name} within {timeout:g} s")
    return MLOSError.for_code(code_for_grpc_status(status.value[0]), details)


class _GRPCEndpoint:
    """What both gRPC clients call with: the server's target, the deadline and the token."""

    def __init__(
        self, url: str, *, timeout: float | None = DEFAULT_TIMEOUT, token: str | None = None
    ) -> None:
        self._target = grpc_target(url)
        self._url = f"grpc://{self._target}"
        self._timeout = timeout
        self._metadata = _metadata(find_token(token, url))


class GRPCClient(_GRPCEndpoint, Client):
    """A blocking client of one MLOS server's gRPC API; see :class:`mlos.client.Client`."""

    _ops = _OPERATIONS

    def __init__(
        self, url: str, *, timeout: float | None = DEFAULT_TIMEOUT, token: str | None = None
    ) -> None:
        super().__init__(url, timeout=timeout, token=token)
        self._channel = grpc.insecure_channel(self._target, options=_OPTIONS)
        self._calls = _calls(self._channel)

    def _run(self, op: Op[T]) -> T:
        call: SmiCall = op.request
        try:
            response = self._calls[call.method.name](
                call.request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise _error(exc, self._url, call.method.name, self._timeout) from None
        return op.parse(response)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class AsyncGRPCClient(_GRPCEndpoint, AsyncClient):
    """An asyncio client of one MLOS server's gRPC API; see :class:`mlos.client.AsyncClient`."""

    _ops = _OPERATIONS
    _channel: grpc.aio.Channel | None = None
    """Opened by the first call, on its event loop."""
    _calls: dict[str, Any]

    def _open(self) -> None:
        """Create the channel on the running loop (grpc.aio binds it to the loop it starts on)."""
        self._channel = grpc.aio.insecure_channel(self._target, options=_OPTIONS)
        self._calls = _calls(self._channel)

    async def _run(self, op: Op[T]) -> T:
        if self._channel is None:
            self._open()
        call: SmiCall = op.request
        try:
            response = await self._calls[call.method.name](
                call.request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise _error(exc, self._url, call.method.name, self._timeout) from None
        return op.parse(response)

    async def close(self) -> None:
        """Close the channel."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
