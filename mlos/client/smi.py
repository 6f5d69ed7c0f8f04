"""The client API as calls of the `mlos.smi.v1.MLOS` service, without I/O (gRPC and IPC).

Each method of :class:`SmiOperations` returns an :class:`~mlos.client.base.Op` whose request is
an :class:`SmiCall`: the method (from the generated method table) and its request message. The
gRPC and IPC clients send it and hand the response message to the op's `parse`.

Which version serves a request is the server's decision (`GetModelMetadata`, `ModelReady`);
the client never repeats that rule.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import Message

from mlos.client.base import Array, Inference, Op
from mlos.client.staging import Lease
from mlos.errors import FailedPrecondition
from mlos.wire import tensors
from mlos.wire.method import Method
from mlos.wire.tensors import raw_contents, to_array
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["SmiCall", "SmiOperations", "arrays"]

_FIXED = {name: dtype for name, dtype in tensors.DATATYPES.items() if name != "BYTES"}
"""Datatypes of fixed-size elements (BF16 as its uint16 bit patterns)."""


class SmiCall(NamedTuple):
    """One call of the MLOS service."""

    method: Method[Any, Any]
    request: Message


def _op(method: Method[Any, Any], request: Message) -> Op[Any]:
    return Op(SmiCall(method, request), _same)


def _same(response: Any) -> Any:
    return response


def arrays(response: smi_pb2.InferResponse) -> dict[str, Array]:
    """The outputs of an inference response as numpy arrays, by name (read-only views)."""
    result: dict[str, Array] = {}
    for tensor in response.outputs:
        datatype, shape, contents = tensor.datatype, tensor.shape[:], tensor.contents
        dtype = _FIXED.get(datatype)
        if dtype is not None and len(contents) == dtype.itemsize * math.prod(shape):
            result[tensor.name] = np.frombuffer(contents, dtype=dtype).reshape(shape)
        else:  # BYTES, or contents that do not fit: the checked path names the problem
            result[tensor.name] = to_array(datatype, shape, contents)
    return result


class SmiOperations:
    """Every call of :class:`mlos.client.Client` as an MLOS service :class:`Op`: the call's
    request message as it is (or, for inference, built from the arrays)."""

    # ----- server ------------------------------------------------------------------------

    def health(self) -> Op[smi_pb2.HealthResponse]:
        """MLOS.Health."""
        return _op(smi_ipc.MLOS_HEALTH, smi_pb2.HealthRequest())

    def server_metadata(self) -> Op[dict[str, Any]]:
        """MLOS.GetServerMetadata."""
        call = SmiCall(smi_ipc.MLOS_GET_SERVER_METADATA, smi_pb2.ServerMetadataRequest())
        return Op(
            call,
            lambda meta: {
                "name": meta.name,
                "version": meta.version,
                "extensions": list(meta.extensions),
            },
        )

    def resources(self) -> Op[smi_pb2.ResourcesResponse]:
        """MLOS.GetResources."""
        return _op(smi_ipc.MLOS_GET_RESOURCES, smi_pb2.ResourcesRequest())

    def cluster_status(self) -> Op[dict[str, Any]]:
        """The cluster status is served over REST only: FailedPrecondition."""
        raise FailedPrecondition(
            "the cluster status is served over REST only: use an http:// or https:// URL"
        )

    # ----- plugins -----------------------------------------------------------------------

    def register_plugin(self, request: smi_pb2.RegisterPluginRequest) -> Op[smi_pb2.PluginStatus]:
        """MLOS.RegisterPlugin."""
        return _op(smi_ipc.MLOS_REGISTER_PLUGIN, request)

    def list_plugins(self) -> Op[list[smi_pb2.PluginStatus]]:
        """MLOS.ListPlugins."""
        call = SmiCall(smi_ipc.MLOS_LIST_PLUGINS, smi_pb2.ListPluginsRequest())
        return Op(call, lambda response: list(response.plugins))

    def get_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """MLOS.GetPlugin."""
        return _op(smi_ipc.MLOS_GET_PLUGIN, plugin)

    def load_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """MLOS.LoadPlugin."""
        return _op(smi_ipc.MLOS_LOAD_PLUGIN, plugin)

    def unload_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """MLOS.UnloadPlugin."""
        return _op(smi_ipc.MLOS_UNLOAD_PLUGIN, plugin)

    def remove_plugin(self, plugin: smi_pb2.PluginRef) -> Op[None]:
        """MLOS.RemovePlugin."""
        return Op(SmiCall(smi_ipc.MLOS_REMOVE_PLUGIN, plugin), lambda response: None)

    def set_default_plugin(self, plugin: smi_pb2.PluginRef) -> Op[smi_pb2.PluginStatus]:
        """MLOS.SetDefaultPlugin."""
        return _op(smi_ipc.MLOS_SET_DEFAULT_PLUGIN, plugin)

    def upgrade_plugin(self, request: smi_pb2.UpgradePluginRequest) -> Op[smi_pb2.PluginStatus]:
        """MLOS.UpgradePlugin."""
        return _op(smi_ipc.MLOS_UPGRADE_PLUGIN, request)

    # ----- models ------------------------------------------------------------------------

    def register_model(self, request: smi_pb2.RegisterModelRequest) -> Op[smi_pb2.ModelStatus]:
        """MLOS.RegisterModel."""
        return _op(smi_ipc.MLOS_REGISTER_MODEL, request)

    def list_models(self) -> Op[list[smi_pb2.ModelStatus]]:
        """MLOS.ListModels."""
        call = SmiCall(smi_ipc.MLOS_LIST_MODELS, smi_pb2.ListModelsRequest())
        return Op(call, lambda response: list(response.models))

    def get_model(self, model: smi_pb2.ModelRef) -> Op[smi_pb2.Model]:
        """MLOS.GetModel."""
        return _op(smi_ipc.MLOS_GET_MODEL, model)

    def remove_model(self, model: smi_pb2.ModelRef) -> Op[list[smi_pb2.ModelStatus]]:
        """MLOS.RemoveModel."""
        call = SmiCall(smi_ipc.MLOS_REMOVE_MODEL, model)
        return Op(call, lambda response: list(response.removed))

    def model_metadata(self, model: smi_pb2.ModelRef) -> Op[smi_pb2.ModelMetadata]:
        """MLOS.GetModelMetadata: the version that serves requests, or `version`."""
        return _op(smi_ipc.MLOS_GET_MODEL_METADATA, model)

    def model_ready(self, model: smi_pb2.ModelRef) -> Op[bool]:
        """MLOS.ModelReady."""
        call = SmiCall(smi_ipc.MLOS_MODEL_READY, model)
        return Op(call, lambda response: bool(response.ready))

    # ----- tokens ------------------------------------------------------------------------

    def create_token(
        self, request: smi_pb2.CreateTokenRequest
    ) -> Op[smi_pb2.CreateTokenResponse]:
        """MLOS.CreateToken."""
        return _op(smi_ipc.MLOS_CREATE_TOKEN, request)

    def list_tokens(self) -> Op[list[smi_pb2.TokenInfo]]:
        """MLOS.ListTokens."""
        call = SmiCall(smi_ipc.MLOS_LIST_TOKENS, smi_pb2.ListTokensRequest())
        return Op(call, lambda response: list(response.tokens))

    def revoke_token(self, token: smi_pb2.TokenRef) -> Op[smi_pb2.TokenInfo]:
        """MLOS.RevokeToken."""
        return _op(smi_ipc.MLOS_REVOKE_TOKEN, token)

    # ----- inference ---------------------------------------------------------------------

    def infer(self, call: Inference, stage: Lease | None = None) -> Op[dict[str, Array]]:
        """MLOS.Infer: tensors always travel as raw bytes (`binary` is for REST only).

        With `stage`, inputs of at least its threshold are written into that shared-memory
        region and the request points to them (:mod:`mlos.client.staging`, IPC only).
        """
        request = smi_pb2.InferRequest(model_name=call.model, model_version=call.version or "")
        tensors_in = request.inputs
        datatypes = call.datatypes
        for name, value in call.inputs.items():
            array = value if type(value) is np.ndarray else np.asarray(value)
            datatype = (datatypes and datatypes.get(name)) or tensors.datatype_of(array)
            dtype = _FIXED.get(datatype)
            if dtype is not None and datatype != "BF16" and array.dtype.kind not in "OSU":
                if stage is not None and array.nbytes >= stage.threshold:
                    ref = stage.place(array, dtype)
                    if ref is not None:
                        tensor = tensors_in.add(name=name, datatype=datatype, shape=array.shape)
                        tensor.shared_memory.CopyFrom(ref)
                        continue
                contents = np.ascontiguousarray(array, dtype=dtype).tobytes()
            else:
                tensors.numpy_dtype(datatype)  # an unknown datatype is the caller's mistake
                contents = raw_contents(name, array, datatype)
            tensors_in.add(name=name, datatype=datatype, shape=array.shape, contents=contents)
        for name in call.outputs or ():
            request.outputs.add(name=name)
        return Op(SmiCall(smi_ipc.MLOS_INFER, request), arrays)
