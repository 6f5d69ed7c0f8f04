"""The client API as calls of the `mlos.smi.v1.MLOS` service, without I/O (gRPC and IPC).

Each method of :class:`SmiOperations` returns an :class:`~mlos.client.base.Op` whose request is
an :class:`SmiCall`: the method (from the generated method table) and its request message. The
gRPC and IPC clients send it and hand the response message to the op's `parse`.

Which version serves a request is the server's decision (`GetModelMetadata`, `ModelReady`);
the client never repeats that rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import Message

from mlos import tensors
from mlos.client.base import Array, Op
from mlos.client.oip import raw_contents, to_array
from mlos.client.staging import Lease
from mlos.errors import InvalidArgument
from mlos.ipc.method import Method
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["SmiCall", "SmiOperations", "arrays"]

SOURCES = ("entry_point", "module", "executable")
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
    """Every call of :class:`mlos.client.Client` as an MLOS service :class:`Op`."""

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

    # ----- plugins -----------------------------------------------------------------------

    def register_plugin(
        self,
        name: str,
        version: str | None = None,
        entry_point: str | None = None,
        module: str | None = None,
        executable: str | None = None,
    ) -> Op[smi_pb2.PluginStatus]:
        """MLOS.RegisterPlugin."""
        sources = dict(zip(SOURCES, (entry_point, module, executable), strict=True))
        given = {key: value for key, value in sources.items() if value}
        if len(given) > 1:
            raise InvalidArgument(f"give at most one of {', '.join(SOURCES)}")
        request = smi_pb2.RegisterPluginRequest(name=name, version=version or "")
        if given:
            request.source.CopyFrom(smi_pb2.PluginSource(**given))
        return _op(smi_ipc.MLOS_REGISTER_PLUGIN, request)

    def list_plugins(self) -> Op[list[smi_pb2.PluginStatus]]:
        """MLOS.ListPlugins."""
        call = SmiCall(smi_ipc.MLOS_LIST_PLUGINS, smi_pb2.ListPluginsRequest())
        return Op(call, lambda response: list(response.plugins))

    def get_plugin(self, name: str) -> Op[smi_pb2.PluginStatus]:
        """MLOS.GetPlugin."""
        return _op(smi_ipc.MLOS_GET_PLUGIN, smi_pb2.PluginRef(name=name))

    def load_plugin(self, name: str) -> Op[smi_pb2.PluginStatus]:
        """MLOS.LoadPlugin."""
        return _op(smi_ipc.MLOS_LOAD_PLUGIN, smi_pb2.PluginRef(name=name))

    def unload_plugin(self, name: str) -> Op[smi_pb2.PluginStatus]:
        """MLOS.UnloadPlugin."""
        return _op(smi_ipc.MLOS_UNLOAD_PLUGIN, smi_pb2.PluginRef(name=name))

    def remove_plugin(self, name: str) -> Op[None]:
        """MLOS.RemovePlugin."""
        call = SmiCall(smi_ipc.MLOS_REMOVE_PLUGIN, smi_pb2.PluginRef(name=name))
        return Op(call, lambda response: None)

    # ----- models ------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        path: str,
        plugin: str | None = None,
        version: str | None = None,
        config: Mapping[str, str] | None = None,
        files: Sequence[smi_pb2.ModelFile] = (),
        files_root: str | None = None,
    ) -> Op[smi_pb2.ModelStatus]:
        """MLOS.RegisterModel."""
        request = smi_pb2.RegisterModelRequest(
            name=name,
            path=str(path),
            plugin=plugin or "",
            version=version or "",
            config={str(k): str(v) for k, v in (config or {}).items()},
            files=files,
            files_root=files_root or "",
        )
        return _op(smi_ipc.MLOS_REGISTER_MODEL, request)

    def list_models(self) -> Op[list[smi_pb2.ModelStatus]]:
        """MLOS.ListModels."""
        call = SmiCall(smi_ipc.MLOS_LIST_MODELS, smi_pb2.ListModelsRequest())
        return Op(call, lambda response: list(response.models))

    def get_model(self, name: str, version: str | None = None) -> Op[smi_pb2.Model]:
        """MLOS.GetModel."""
        return _op(smi_ipc.MLOS_GET_MODEL, smi_pb2.ModelRef(name=name, version=version or ""))

    def remove_model(
        self, name: str, version: str | None = None
    ) -> Op[list[smi_pb2.ModelStatus]]:
        """MLOS.RemoveModel."""
        request = smi_pb2.ModelRef(name=name, version=version or "")
        call = SmiCall(smi_ipc.MLOS_REMOVE_MODEL, request)
        return Op(call, lambda response: list(response.removed))

    def model_metadata(
        self, name: str, version: str | None = None
    ) -> Op[smi_pb2.ModelMetadata]:
        """MLOS.GetModelMetadata: the version that serves requests, or `version`."""
        request = smi_pb2.ModelRef(name=name, version=version or "")
        return _op(smi_ipc.MLOS_GET_MODEL_METADATA, request)

    def model_ready(self, name: str, version: str | None = None) -> Op[bool]:
        """MLOS.ModelReady."""
        request = smi_pb2.ModelRef(name=name, version=version or "")
        call = SmiCall(smi_ipc.MLOS_MODEL_READY, request)
        return Op(call, lambda response: bool(response.ready))

    # ----- inference ---------------------------------------------------------------------

    def infer(
        self,
        model: str,
        inputs: Mapping[str, Array],
        outputs: Sequence[str] | None = None,
        version: str | None = None,
        binary: bool = True,
        datatypes: Mapping[str, str] | None = None,
        stage: Lease | None = None,
    ) -> Op[dict[str, Array]]:
        """MLOS.Infer: tensors always travel as raw bytes (`binary` is for REST only).

        With `stage`, inputs of at least its threshold are written into that shared-memory
        region and the request points to them (:mod:`mlos.client.staging`, IPC only).
        """
        request = smi_pb2.InferRequest(model_name=model, model_version=version or "")
        tensors_in = request.inputs
        for name, value in inputs.items():
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
        for name in outputs or ():
            request.outputs.add(name=name)
        return Op(SmiCall(smi_ipc.MLOS_INFER, request), arrays)
