"""Plugin hosts that break the SMI contract on purpose, run by the tests as executables:

    python -m tests.conformance.broken_hosts FLAVOR --fd N

Each serves the strict `double` plugin with the real `PluginHost`, changed in one way (FLAVOR):

* `leftover`: a failed load leaves the model registered (Health lists it);
* `smi2`: Describe reports SMI 2.0 only, a major version this core does not speak;
* `untyped`: error frames carry no code (ERROR_CODE_UNSPECIFIED);
* `fragile`: the process exits on a request whose payload does not decode;
* `retyped`: outputs declared FP32 are answered as FP64.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from mlos.errors import MLOSError
from mlos.sdk.host import PluginHost
from mlos.wire.connection import ServerConnection, method_table
from mlos.wire.framing import Frame
from mlos.wire.method import CallContext
from mlos_generated import smi_pb2
from tests.conformance.broken_plugins import StrictPlugin
from tests.sdk.echo_plugin import DoubleModel


class LeftoverHost(PluginHost):
    """Registers the model before loading it and never takes it back when loading fails."""

    async def load_model(
        self, request: smi_pb2.LoadModelRequest, context: CallContext
    ) -> smi_pb2.LoadModelResponse:
        metadata = smi_pb2.ModelMetadata(name=request.name, version=request.version)
        self.models[(request.name, request.version)] = (DoubleModel(), metadata)
        return await super().load_model(request, context)


class Smi2Host(PluginHost):
    """Speaks SMI 2.0 only."""

    async def describe(
        self, request: smi_pb2.DescribeRequest, context: CallContext
    ) -> smi_pb2.PluginInfo:
        info = await super().describe(request, context)
        del info.smi_versions[:]
        info.smi_versions.append(smi_pb2.SmiVersion(major=2, minor=0))
        return info


class Untyped(MLOSError):
    """An error without a code."""

    code = 0  # type: ignore[assignment]


class UntypedHost(PluginHost):
    """Reports every failure of a load or an inference without an error code."""

    async def load_model(
        self, request: smi_pb2.LoadModelRequest, context: CallContext
    ) -> smi_pb2.LoadModelResponse:
        try:
            return await super().load_model(request, context)
        except MLOSError as exc:
            raise Untyped(exc.message) from None

    async def infer(
        self, request: smi_pb2.InferRequest, context: CallContext
    ) -> smi_pb2.InferResponse:
        try:
            return await super().infer(request, context)
        except MLOSError as exc:
            raise Untyped(exc.message) from None


class RetypedHost(PluginHost):
    """Answers FP32 outputs as FP64 (the values are right, the datatype is not)."""

    async def infer(
        self, request: smi_pb2.InferRequest, context: CallContext
    ) -> smi_pb2.InferResponse:
        response = await super().infer(request, context)
        for output in response.outputs:
            if output.datatype == "FP32":
                values = np.frombuffer(output.contents, dtype="<f4")
                output.datatype = "FP64"
                output.contents = values.astype("<f8").tobytes()
        return response


class FragileConnection(ServerConnection):
    """Exits the process on a request that does not decode."""

    def __init__(self, servicer: Any) -> None:
        super().__init__(servicer)
        self._methods = method_table(servicer)

    def _dispatch(self, frame: Frame) -> None:
        method = self._methods.get(frame.method)
        if method is not None:
            try:
                method.request_type.FromString(frame.payload)
            except DecodeError:
                os._exit(4)
        super()._dispatch(frame)


HOSTS: dict[str, type[PluginHost]] = {
    "leftover": LeftoverHost,
    "smi2": Smi2Host,
    "untyped": UntypedHost,
    "fragile": PluginHost,
    "retyped": RetypedHost,
}


async def serve(flavor: str, fd: int) -> None:
    """Serve SMI on the inherited socket until it closes or Shutdown arrives."""
    host = HOSTS[flavor](StrictPlugin())
    connection_type = FragileConnection if flavor == "fragile" else ServerConnection
    loop = asyncio.get_running_loop()
    sock = socket.socket(fileno=fd)
    _, connection = await loop.create_unix_connection(lambda: connection_type(host), sock=sock)
    stop: asyncio.Future[Any] = asyncio.ensure_future(host.stopped.wait())
    await asyncio.wait([connection.lost, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    host.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("flavor", choices=sorted(HOSTS))
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.flavor, args.fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
