"""SavedModel directories: TF2 signatures, and SavedModels that only the TF1 loader reads.

The MetaGraph (by tags) and the signature are chosen from ``saved_model.pb`` before anything
is loaded: tags ``serve`` (or the only MetaGraph), signature ``serving_default`` (or the only
one) unless the config names them. Tensor names are the signature's keys exactly as written,
``:`` included (TF1 exports often key tensors as ``"images:0"``).

* The TF2 loader (`tf.saved_model.load`) serves every SavedModel written by TF2 and most TF1
  ones; the signature is a concrete function called with the keys as keyword arguments.
* The TF1 loader (`mlos_plugins.tensorflow.session`) runs the MetaGraph in a
  `tf.compat.v1.Session`, feeding and fetching the signature's tensors by name. It needs no
  object graph, so it also reads SavedModels whose object graph TF2 cannot restore (an old
  export holding optimizer slots fails with ``'_UserObject' object has no attribute
  'add_slot'``) and TF1 exports TF2 cannot wrap. ``loader=auto`` (the default) falls back to
  it whenever the TF2 loader fails, and logs why.
"""

from __future__ import annotations

import gc
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
from mlos_plugins.tensorflow.session import load_session

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


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {' '.join(message.split())[:300]}"


def load_saved_model(directory: Path, config: TensorFlowConfig) -> Runner:
    """Load the SavedModel in `directory` with the loader the config asks for.

    With ``loader=auto`` a SavedModel the TF2 loader cannot restore is loaded by the TF1
    loader; the runner's properties say which loader serves it and, after a fallback, why.
    A SavedModel neither loader reads is an `InvalidArgument` that gives both reasons.
    """
    proto = _read(directory)
    meta = _meta_graph(proto, config.tags, directory)
    tags = tuple(meta.meta_info_def.tags)
    signature = _signature_name(meta, config.signature, directory)
    threads = config.intra_op_threads
    fallback = ""
    if config.loader in ("auto", "v2"):
        try:
            runner = _load_v2(directory, tags, signature)
        except InvalidArgument:
            raise
        except Exception as exc:
            fallback = _reason(exc)
            if config.loader == "v2":
                raise InvalidArgument(
                    f"{directory}: the TF2 loader cannot restore it ({fallback}); "
                    "config loader=auto or v1 serves it through a TF1 session"
                ) from exc
        else:
            runner.properties["loader"] = "v2"
    if config.loader == "v1" or fallback:
        if fallback:
            # The restore that failed built objects in reference cycles: collect them now.
            gc.collect()
            kind = "a TF1 export" if not meta.HasField("object_graph_def") else "its object graph"
            log.warning(
                "%s: the TF2 loader cannot restore %s (%s); serving it with the TF1 loader",
                directory, kind, fallback,
            )
        try:
            runner = load_session(directory, tags, signature, threads)
        except InvalidArgument:
            raise
        except Exception as exc:
            if not fallback:
                raise
            raise InvalidArgument(
                f"{directory}: neither TensorFlow loader reads it; TF2: {fallback}; "
                f"TF1: {_reason(exc)}"
            ) from exc
        runner.properties["loader"] = "v1"
        if fallback:
            runner.properties["loader_fallback_reason"] = fallback
    log.info("%s: signature %r served by the %s loader", directory, signature,
             runner.properties["loader"])
    runner.properties.update({"signature": signature, "tags": ",".join(tags)})
    return runner
