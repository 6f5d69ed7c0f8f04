"""Tiny ONNX models only the tests need, built with `onnx.helper` (never downloaded).

The models the product and the benchmarks share (the demo MLP, the image models) and the graph
helpers come from `mlos.demo`; this module adds the test-only nets. Every builder returns an
`onnx.ModelProto`; `save` writes one to a file. Graphs use `mlos.demo.onnx_model`'s opset and IR
version, which every supported onnxruntime loads. `sample` makes input data of any Open
Inference Protocol datatype in the form the plugin host hands to a plugin (BYTES: object
arrays of `bytes`; BF16: raw `uint16` bit patterns)::

    from tests.models import mlp_model, save
    path = save(mlp_model(), tmp_path / "mlp.onnx")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import ModelProto, NodeProto, TensorProto, ValueInfoProto, helper

from mlos.demo import demo_model_proto, onnx_model, save_model

__all__ = [
    "DATATYPES",
    "NUMERIC_DATATYPES",
    "ONNX_TYPES",
    "arithmetic_model",
    "bf16_model",
    "fixed_shape_model",
    "identity_model",
    "make_model",
    "mlp_model",
    "multi_output_model",
    "sample",
    "save",
    "sequence_input_model",
    "sequence_output_model",
    "string_model",
]

Array = npt.NDArray[Any]
Dim = int | str | None

#: Open Inference Protocol datatype → ONNX element type.
ONNX_TYPES: dict[str, int] = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BF16": TensorProto.BFLOAT16,
    "BYTES": TensorProto.STRING,
}
DATATYPES = tuple(ONNX_TYPES)
#: Datatypes onnxruntime's CPU `Add` kernel takes.
NUMERIC_DATATYPES = tuple(d for d in DATATYPES if d not in ("BOOL", "BF16", "BYTES"))

BATCH: tuple[Dim, ...] = ("batch", 4)


def tensor(name: str, datatype: str, shape: Sequence[Dim] | None) -> ValueInfoProto:
    """A graph input or output."""
    return helper.make_tensor_value_info(name, ONNX_TYPES[datatype], shape)


def make_model(
    nodes: Sequence[NodeProto],
    inputs: Sequence[ValueInfoProto],
    outputs: Sequence[ValueInfoProto],
    *,
    name: str = "test",
    initializers: Sequence[TensorProto] = (),
    opsets: dict[str, int] | None = None,
) -> ModelProto:
    """A model of one graph, with the opset and IR version of `mlos.demo.onnx_model`."""
    model: ModelProto = onnx_model(
        nodes, inputs, outputs, name=name, initializers=initializers, opsets=opsets,
        producer="mlos-tests",
    )
    return model


def save(model: ModelProto, path: Path) -> Path:
    """Write `model` to `path` (parents created) and return `path`."""
    return save_model(model, path)


def mlp_model(
    features: int = 64, hidden: Sequence[int] = (256,), classes: int = 10, seed: int = 0
) -> ModelProto:
    """The demo MLP (`mlos.demo`): input [batch, features] FP32 → output [batch, classes] FP32."""
    model: ModelProto = demo_model_proto(
        features=features, hidden=hidden, classes=classes, seed=seed
    )
    return model


def identity_model(datatype: str, shape: Sequence[Dim] | None = BATCH) -> ModelProto:
    """y = Identity(x) for one datatype."""
    node = helper.make_node("Identity", ["x"], ["y"])
    return make_model([node], [tensor("x", datatype, shape)], [tensor("y", datatype, shape)])


def arithmetic_model(datatype: str) -> ModelProto:
    """Inputs a, b [batch, 4] of `datatype`; outputs `same` = a, `combined` = a + b (a xor b for
    BOOL) and `as_float` = FP32 cast of a. BF16 and BYTES get only `same` (and BF16 `as_float`).
    """
    nodes = [helper.make_node("Identity", ["a"], ["same"])]
    outputs = [tensor("same", datatype, BATCH)]
    if datatype in NUMERIC_DATATYPES or datatype == "BOOL":
        op = "Xor" if datatype == "BOOL" else "Add"
        nodes.append(helper.make_node(op, ["a", "b"], ["combined"]))
        outputs.append(tensor("combined", datatype, BATCH))
    if datatype != "BYTES":
        nodes.append(helper.make_node("Cast", ["a"], ["as_float"], to=TensorProto.FLOAT))
        outputs.append(tensor("as_float", "FP32", BATCH))
    inputs = [tensor("a", datatype, BATCH), tensor("b", datatype, BATCH)]
    return make_model(nodes, inputs, outputs, name=f"arithmetic_{datatype.lower()}")


def string_model() -> ModelProto:
    """text [n] BYTES → `upper` (StringNormalizer, upper case) and `same` (Identity)."""
    nodes = [
        helper.make_node(
            "StringNormalizer",
            ["text"],
            ["upper"],
            case_change_action="UPPER",
            is_case_sensitive=1,
            locale="C",
        ),
        helper.make_node("Identity", ["text"], ["same"]),
    ]
    return make_model(
        nodes,
        [tensor("text", "BYTES", ["n"])],
        [tensor("upper", "BYTES", ["n"]), tensor("same", "BYTES", ["n"])],
        name="strings",
    )


def multi_output_model() -> ModelProto:
    """x [batch, 4] FP32 → doubled (FP32), negated (FP32), total [batch] (FP32), argmax [batch]
    (INT64)."""
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Add", ["x", "x"], ["doubled"]),
        helper.make_node("Neg", ["x"], ["negated"]),
        helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
        helper.make_node("ArgMax", ["x"], ["argmax"], axis=1, keepdims=0),
    ]
    outputs = [
        tensor("doubled", "FP32", BATCH),
        tensor("negated", "FP32", BATCH),
        tensor("total", "FP32", ["batch"]),
        tensor("argmax", "INT64", ["batch"]),
    ]
    return make_model(
        nodes, [tensor("x", "FP32", BATCH)], outputs, name="multi", initializers=[axes]
    )


def fixed_shape_model() -> ModelProto:
    """x [2, 3] FP32 → y = x + x: no dynamic dimension, so no batching."""
    node = helper.make_node("Add", ["x", "x"], ["y"])
    return make_model([node], [tensor("x", "FP32", [2, 3])], [tensor("y", "FP32", [2, 3])])


def bf16_model() -> ModelProto:
    """x [batch, 4] FP32 and b [batch, 4] BF16 → to_bf16 (BF16 cast of x), from_bf16 (FP32
    cast of b) and same_bf16 (b)."""
    nodes = [
        helper.make_node("Cast", ["x"], ["to_bf16"], to=TensorProto.BFLOAT16),
        helper.make_node("Cast", ["b"], ["from_bf16"], to=TensorProto.FLOAT),
        helper.make_node("Identity", ["b"], ["same_bf16"]),
    ]
    return make_model(
        nodes,
        [tensor("x", "FP32", BATCH), tensor("b", "BF16", BATCH)],
        [
            tensor("to_bf16", "BF16", BATCH),
            tensor("from_bf16", "FP32", BATCH),
            tensor("same_bf16", "BF16", BATCH),
        ],
        name="bf16",
    )


def sequence_output_model() -> ModelProto:
    """x [n] FP32 → y (Identity) and `items`, a sequence of tensors MLOS cannot return."""
    nodes = [
        helper.make_node("Identity", ["x"], ["y"]),
        helper.make_node("SequenceConstruct", ["x", "x"], ["items"]),
    ]
    items = helper.make_tensor_sequence_value_info("items", TensorProto.FLOAT, ["n"])
    return make_model(
        nodes, [tensor("x", "FP32", ["n"])], [tensor("y", "FP32", ["n"]), items], name="seq_out"
    )


def sequence_input_model() -> ModelProto:
    """A model whose only input is a sequence of tensors, which MLOS cannot feed."""
    items = helper.make_tensor_sequence_value_info("items", TensorProto.FLOAT, ["n"])
    node = helper.make_node("SequenceLength", ["items"], ["count"])
    return make_model([node], [items], [tensor("count", "INT64", [])], name="seq_in")


def sample(datatype: str, shape: Sequence[int], seed: int = 0) -> Array:
    """Input data as the plugin host hands it to a plugin."""
    rng = np.random.default_rng(seed)
    count = int(np.prod(shape))
    if datatype == "BYTES":
        words = [f"word-{i}-é".encode() for i in rng.integers(0, 1000, count)]
        array = np.empty(count, dtype=object)
        array[:] = words
        return array.reshape(shape)
    if datatype == "BOOL":
        return rng.integers(0, 2, shape).astype(np.bool_)
    if datatype == "BF16":
        # Small integers are exact in bfloat16: their float32 bits end in sixteen zeros.
        values = rng.integers(-100, 100, shape).astype("<f4")
        return (values.view("<u4") >> 16).astype("<u2")
    if datatype in ("FP16", "FP32", "FP64"):
        floating = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}[datatype]
        return rng.standard_normal(shape).astype(floating)
    integer = np.dtype(datatype.lower())
    info = np.iinfo(integer)
    # Half the range on each side, so that a + b never overflows.
    low, high = info.min // 2, info.max // 2
    return rng.integers(low, high, shape, dtype=integer, endpoint=True)
