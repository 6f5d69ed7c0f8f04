"""SavedModel directories: TF2 signatures, and SavedModels that only the TF1 loader reads.

The MetaGraph (by tags) and the signature are chosen from ``saved_model.pb`` before anything
is loaded: tags ``serve`` (or the only MetaGraph), signature ``serving_default`` (or the only
one) unless the config names them. Tensor names are the signature's keys exactly as written,
``:`` included (TF1 exports often key tensors as ``"images:0"``).

* The TF2 loader (`tf.saved_model.load`) serves every SavedModel written by TF2 and most TF1
  ones; the signature is a concrete function called with the keys as keyword arguments.
* The TF1 loader runs the MetaGraph in a `tf.compat.v1.Session`, feeding and fetching the
  signature's tensors by name. ``loader=auto`` (the default) falls back to it when a SavedModel
  written without an object graph (TF1) fails to load in TF2.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from mlos.errors import InvalidArgument
from mlos.sdk.base import TensorSpec
from mlos_plugins.tensorflow.datatypes import datatype_for, dims, from_tensor, to_tensor
from mlos_plugins.tensorflow.options import DEFAULT_SIGNATURE, TensorFlowConfig
from mlos_plugins.tensorflow.runner import Array, Runner

__all__ = ["is_saved_model", "load_saved_model"]

log = logging.getLogger(__name__)

_INIT_OP = "__saved_model_init_op"
_SERVE = "serve"


def is_saved_model(path: Path) -> bool:
    """Whether `path` is a SavedModel directory."""
    return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def _read(directory: Path) -> Any:
    proto = saved_model_pb2.SavedModel()
    binary = directory / "saved_model.pb"
    try:
        if binary.is_file():
            proto.ParseFromString(binary.read_bytes())
        else:
            text_format.Parse((directory / "saved_model.pbtxt").read_text("utf-8"), proto)
    except Exception as exc:
        raise InvalidArgument(f"{directory}: saved_model.pb does not parse: {exc}") from None
    if not proto.meta_graphs:
        raise InvalidArgument(f"{directory}: the SavedModel has no MetaGraph")
    return proto


def _meta_graph(proto: Any, wanted: tuple[str, ...] | None, directory: Path) -> Any:
    metas = list(proto.meta_graphs)
    available = "; ".join(",".join(m.meta_info_def.tags) or "(none)" for m in metas)
    if wanted is not None:
        for meta in metas:
            if set(meta.meta_info_def.tags) == set(wanted):
                return meta
        raise InvalidArgument(
            f"{directory} has no MetaGraph tagged {','.join(wanted)} (it has: {available})"
        )
    serving = [m for m in metas if _SERVE in m.meta_info_def.tags]
    if len(serving) == 1 or len(metas) == 1:
        return (serving or metas)[0]
    raise InvalidArgument(f"{directory} has several MetaGraphs ({available}); set config tags")


def _signature_name(meta: Any, wanted: str | None, directory: Path) -> str:
    names = sorted(key for key in meta.signature_def if key != _INIT_OP)
    if wanted is not None:
        if wanted not in names:
            raise InvalidArgument(
                f"{directory} has no signature {wanted!r} (signatures: {', '.join(names)})"
            )
        return wanted
    if DEFAULT_SIGNATURE in names:
        return DEFAULT_SIGNATURE
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise InvalidArgument(f"{directory}: the SavedModel has no serving signature")
    raise InvalidArgument(
        f"{directory} has several signatures ({', '.join(names)}) and no "
        f"{DEFAULT_SIGNATURE}; set config signature"
    )


def _spec(name: str, dtype: Any, shape: Sequence[Any] | None, role: str, where: Path) -> TensorSpec:
    datatype = datatype_for(dtype)
    if datatype is None:
        raise InvalidArgument(
            f"{where}: {role} {name!r} has dtype {tf.as_dtype(dtype).name}, which MLOS cannot "
            "serve"
        )
    return TensorSpec(name, datatype, dims(shape))


def _tf_shape(shape: Any) -> list[Any] | None:
    """A `TensorShape` (or `TensorShapeProto`) as a list, or None for an unknown rank."""
    shape = tf.TensorShape(shape)
    return None if shape.rank is None else shape.as_list()


def _load_v2(directory: Path, tags: Sequence[str], signature: str) -> Runner:
    loaded = tf.saved_model.load(str(directory), tags=list(tags))
    function = loaded.signatures[signature]
    _, keywords = function.structured_input_signature
    inputs = tuple(
        _spec(key, spec.dtype, _tf_shape(spec.shape), "input", directory)
        for key, spec in keywords.items()
    )
    structured = function.structured_outputs
    if not isinstance(structured, Mapping):
        raise InvalidArgument(f"{directory}: signature {signature!r} does not return a dict")
    outputs = tuple(
        _spec(key, spec.dtype, _tf_shape(spec.shape), "output", directory)
        for key, spec in structured.items()
    )
    types = [(spec.name, spec.datatype) for spec in inputs]

    def run(arrays: Mapping[str, Array]) -> dict[str, Array]:
        feed = {name: to_tensor(arrays[name], datatype) for name, datatype in types}
        result = function(**feed)
        return {name: from_tensor(value, name) for name, value in result.items()}

    return Runner("tensorflow_savedmodel", inputs, outputs, run, holds=[loaded, function])


def _load_v1(directory: Path, tags: Sequence[str], signature: str, threads: int) -> Runner:
    graph = tf.Graph()
    session_config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1
    )
    session = tf.compat.v1.Session(graph=graph, config=session_config)
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(session, list(tags), str(directory))
    except BaseException:
        session.close()
        raise
    definition = meta.signature_def[signature]

    def specs(infos: Any, role: str) -> tuple[TensorSpec, ...]:
        return tuple(
            _spec(key, tf.as_dtype(info.dtype), _tf_shape(info.tensor_shape), role, directory)
            for key, info in infos.items()
        )

    inputs = specs(definition.inputs, "input")
    outputs = specs(definition.outputs, "output")
    feeds = {key: info.name for key, info in definition.inputs.items()}
    fetches = {key: info.name for key, info in definition.outputs.items()}
    bf16 = {spec.name for spec in inputs if spec.datatype == "BF16"}
    bf16_type = tf.bfloat16.as_numpy_dtype

    def run(arrays: Mapping[str, Array]) -> dict[str, Array]:
        feed = {
            feeds[key]: array.view(bf16_type) if key in bf16 else array
            for key, array in arrays.items()
        }
        result = session.run(fetches, feed_dict=feed)
        return {name: from_tensor(value, name) for name, value in result.items()}

    return Runner(
        "tensorflow_savedmodel", inputs, outputs, run, close=session.close, holds=[graph, session]
    )


def load_saved_model(directory: Path, config: TensorFlowConfig) -> Runner:
    """Load the SavedModel in `directory` with the loader the config asks for."""
    proto = _read(directory)
    meta = _meta_graph(proto, config.tags, directory)
    tags = tuple(meta.meta_info_def.tags)
    signature = _signature_name(meta, config.signature, directory)
    written_by_tf1 = not meta.HasField("object_graph_def")
    loader = config.loader
    fallback = ""
    if loader in ("auto", "v2"):
        try:
            runner = _load_v2(directory, tags, signature)
        except InvalidArgument:
            raise
        except Exception as exc:
            if loader == "v2" or not written_by_tf1:
                raise
            fallback = " ".join(str(exc).split())[:300]
            log.info("%s: the TF2 loader failed (%s); using the TF1 loader", directory, fallback)
            loader = "v1"
        else:
            loader = "v2"
    if loader == "v1":
        runner = _load_v1(directory, tags, signature, config.intra_op_threads)
    runner.properties.update(
        {"signature": signature, "tags": ",".join(tags), "loader": loader}
    )
    if fallback:
        runner.properties["loader_fallback_reason"] = fallback
    return runner
