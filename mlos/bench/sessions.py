"""One benchmark client connection per protocol, as lean as a client of that protocol gets.

Every session offers the same calls with requests built ahead of time, so that the numbers show
the server's cost and the wire's, not request building:

* REST: one keep-alive `http.client` connection that writes head and body at once; Triton's
  binary tensors for inference;
* gRPC: one grpcio channel and the generated `MLOSStub` (plus the inference service's
  `ServerReady`);
* IPC: one :class:`mlos.client.IPCClient` (a blocking socket) calling the MLOS service.

A session is used by one thread at a time; each concurrent client opens its own.
"""

from __future__ import annotations

import json
import os
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from mlos.client.http import OneWriteHTTPConnection
from mlos.client.unix import IPCClient
from mlos_generated import inference_pb2, smi_ipc, smi_pb2

__all__ = [
    "ApiSession",
    "GrpcSession",
    "IpcSession",
    "RestSession",
    "Session",
    "binary_infer_body",
    "infer_request",
]

JSON = {"Content-Type": "application/json"}


def binary_infer_body(name: str, array: npt.NDArray[np.float32], output: str) -> tuple[bytes, int]:
    """A Triton binary-tensor request body and its JSON header length."""
    raw = np.ascontiguousarray(array).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": output, "parameters": {"binary_data": True}}],
        }
    ).encode()
    return header + raw, len(header)


def infer_request(model: str, array: npt.NDArray[np.float32]) -> smi_pb2.InferRequest:
    """An SMI inference request for the benchmark models' one input and output."""
    return smi_pb2.InferRequest(
        model_name=model,
        inputs=[
            smi_pb2.Tensor(
                name="input",
                datatype="FP32",
                shape=array.shape,
                contents=np.ascontiguousarray(array).tobytes(),
            )
        ],
        outputs=[smi_pb2.RequestedOutput(name="output")],
    )


def _token() -> str | None:
    """The token the benchmark's calls present: MLOS_TOKEN (`mlos bench` sets it for the
    server it starts)."""
    return os.environ.get("MLOS_TOKEN") or None


class _WithMetadata:
    """A gRPC stub whose calls all carry the same metadata."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...] | None) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._stub, name)
        if self._metadata is None:
            return call
        metadata = self._metadata
        return lambda request, **options: call(request, metadata=metadata, **options)


class Session(Protocol):
    """What the benchmark calls on one connection; each call fails loudly on an error."""

    def health(self) -> None:
        """The MLOS health check (every plugin's status)."""

    def ready(self) -> None:
        """The lightest readiness check the protocol has."""

    def register_plugin(self, name: str) -> None:
        """Register `name` with the onnx entry point (not started)."""

    def remove_plugin(self, name: str) -> None:
        """Forget a plugin."""

    def register_model(self, name: str, path: str, version: str) -> None:
        """Register (and load) a model version on the onnx plugin."""

    def remove_model(self, name: str, version: str) -> None:
        """Unload and forget a model version."""

    def infer(self, model: str) -> None:
        """Run the prepared input of `model` ("small" or "large")."""

    def close(self) -> None:
        """Close the connection."""


class RestSession:
    """REST over one keep-alive HTTP/1.1 connection."""

    def __init__(self, url: str, inputs: dict[str, npt.NDArray[np.float32]]) -> None:
        parts = urlsplit(url)
        self._conn = OneWriteHTTPConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout=120
        )
        self._bodies: dict[str, tuple[bytes, dict[str, str]]] = {}
        self._auth = {"Authorization": f"Bearer {token}"} if (token := _token()) else {}
        for model, array in inputs.items():
            body, length = binary_infer_body("input", array, "output")
            headers = {
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(length),
                **self._auth,
            }
            self._bodies[model] = (body, headers)

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> bytes:
        self._conn.request(method, path, body=body, headers=headers or self._auth)
        response = self._conn.getresponse()
        data = response.read()
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return data

    def health(self) -> None:
        """GET /v1/health."""
        self._send("GET", "/v1/health")

    def ready(self) -> None:
        """GET /v2/health/ready."""
        self._send("GET", "/v2/health/ready")

    def register_plugin(self, name: str) -> None:
        """POST /v1/plugins."""
        body = json.dumps({"name": name, "entry_point": "onnx"}).encode()
        self._send("POST", "/v1/plugins", body, {**JSON, **self._auth}, (201,))

    def remove_plugin(self, name: str) -> None:
        """DELETE /v1/plugins/{name}."""
        self._send("DELETE", f"/v1/plugins/{name}", expect=(200, 204))

    def register_model(self, name: str, path: str, version: str) -> None:
        """POST /v1/models."""
        document = {"name": name, "plugin": "onnx", "path": path, "version": version}
        body = json.dumps(document).encode()
        self._send("POST", "/v1/models", body, {**JSON, **self._auth}, (201,))

    def remove_model(self, name: str, version: str) -> None:
        """DELETE /v1/models/{name}/versions/{version}."""
        self._send("DELETE", f"/v1/models/{name}/versions/{version}")

    def infer(self, model: str) -> None:
        """POST /v2/models/{model}/infer with binary tensors."""
        body, headers = self._bodies[model]
        self._send("POST", f"/v2/models/{model}/infer", body, headers)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class GrpcSession:
    """gRPC over one channel of its own."""

    def __init__(self, address: str, inputs: dict[str, npt.NDArray[np.float32]]) -> None:
        import grpc

        from mlos.client.rpc import grpc_target
        from mlos_generated import inference_pb2_grpc, smi_pb2_grpc

        target = grpc_target(address if "://" in address else f"grpc://{address}")
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
                ("grpc.use_local_subchannel_pool", 1),  # a connection of its own
            ],
        )
        metadata = (("authorization", f"Bearer {token}"),) if (token := _token()) else None
        self._stub: Any = _WithMetadata(smi_pb2_grpc.MLOSStub(self._channel), metadata)
        self._oip: Any = _WithMetadata(
            inference_pb2_grpc.GRPCInferenceServiceStub(self._channel), metadata
        )
        self._requests = {model: infer_request(model, array) for model, array in inputs.items()}

    def health(self) -> None:
        """MLOS.Health."""
        self._stub.Health(smi_pb2.HealthRequest())

    def ready(self) -> None:
        """inference.GRPCInferenceService/ServerReady."""
        self._oip.ServerReady(inference_pb2.ServerReadyRequest())

    def register_plugin(self, name: str) -> None:
        """MLOS.RegisterPlugin."""
        source = smi_pb2.PluginSource(entry_point="onnx")
        self._stub.RegisterPlugin(smi_pb2.RegisterPluginRequest(name=name, source=source))

    def remove_plugin(self, name: str) -> None:
        """MLOS.RemovePlugin."""
        self._stub.RemovePlugin(smi_pb2.PluginRef(name=name))

    def register_model(self, name: str, path: str, version: str) -> None:
        """MLOS.RegisterModel."""
        request = smi_pb2.RegisterModelRequest(name=name, plugin="onnx", path=path, version=version)
        self._stub.RegisterModel(request)

    def remove_model(self, name: str, version: str) -> None:
        """MLOS.RemoveModel."""
        self._stub.RemoveModel(smi_pb2.ModelRef(name=name, version=version))

    def infer(self, model: str) -> None:
        """MLOS.Infer."""
        self._stub.Infer(self._requests[model])

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class IpcSession:
    """IPC over one blocking Unix socket (`spin`: see :class:`mlos.client.IPCClient`); with
    `direct`, inferences go over a direct channel to the plugin process (docs/ipc.md)."""

    def __init__(
        self,
        url: str,
        inputs: dict[str, npt.NDArray[np.float32]],
        spin: float = 0.0,
        direct: bool = False,
    ) -> None:
        self._client = IPCClient(url, timeout=120, spin=spin, direct=direct)
        self._requests = {model: infer_request(model, array) for model, array in inputs.items()}
        self._health = smi_pb2.HealthRequest()
        self._direct = direct

    def health(self) -> None:
        """MLOS.Health."""
        self._client.call(smi_ipc.MLOS_HEALTH, self._health)

    def ready(self) -> None:
        """MLOS.Health: the IPC API has no lighter check."""
        self._client.call(smi_ipc.MLOS_HEALTH, self._health)

    def register_plugin(self, name: str) -> None:
        """MLOS.RegisterPlugin."""
        source = smi_pb2.PluginSource(entry_point="onnx")
        request = smi_pb2.RegisterPluginRequest(name=name, source=source)
        self._client.call(smi_ipc.MLOS_REGISTER_PLUGIN, request)

    def remove_plugin(self, name: str) -> None:
        """MLOS.RemovePlugin."""
        self._client.call(smi_ipc.MLOS_REMOVE_PLUGIN, smi_pb2.PluginRef(name=name))

    def register_model(self, name: str, path: str, version: str) -> None:
        """MLOS.RegisterModel."""
        request = smi_pb2.RegisterModelRequest(name=name, plugin="onnx", path=path, version=version)
        self._client.call(smi_ipc.MLOS_REGISTER_MODEL, request)

    def remove_model(self, name: str, version: str) -> None:
        """MLOS.RemoveModel."""
        self._client.call(smi_ipc.MLOS_REMOVE_MODEL, smi_pb2.ModelRef(name=name, version=version))

    def infer(self, model: str) -> None:
        """MLOS.Infer (over the model's direct channel with `direct`)."""
        if self._direct:
            self._client.infer_message(self._requests[model])
        else:
            self._client.call(smi_ipc.MLOS_INFER, self._requests[model])

    def close(self) -> None:
        """Close the socket."""
        self._client.close()


class ApiSession:
    """The public Python client (`mlos.client.connect`), numpy in and out, for inference.

    `shared_memory=False` makes an IPC client send large inputs inline, through the socket.
    """

    def __init__(
        self, url: str, inputs: dict[str, npt.NDArray[np.float32]], shared_memory: bool = True
    ) -> None:
        from mlos.client import Client, IPCClient, connect

        self._client: Client = (
            connect(url, timeout=120)
            if shared_memory or not url.startswith("unix://")
            else IPCClient(url, timeout=120, shared_memory_from=0)
        )
        self._inputs = inputs

    def infer(self, model: str) -> None:
        """`client.infer(model, {"input": array})`."""
        self._client.infer(model, {"input": self._inputs[model]})

    def close(self) -> None:
        """Close the client."""
        self._client.close()
