"""Benchmark models: the demo MLP (small) and a convolutional network (large), built locally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlos.demo import build_demo_model

__all__ = [
    "CONV_INPUT_SHAPE",
    "build_conv_model",
    "build_identity_model",
    "build_small_model",
    "build_transfer_model",
]

CONV_INPUT_SHAPE = (1, 3, 224, 224)


def build_small_model(path: Path) -> Path:
    """The 64→256→10 demo MLP."""
    return build_demo_model(path)


def build_conv_model(path: Path, seed: int = 0) -> Path:
    """A ~0.4 GMAC image network: four strided 3x3 convolutions, pooling and a classifier.

    Input "input" FP32 [N, 3, 224, 224]; output "output" FP32 [N, 1000].
    """
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    weights: list[Any] = []
    current, channels = "input", 3
    for index, (out_channels, stride) in enumerate([(64, 2), (128, 2), (256, 2), (256, 1)]):
        kernel = rng.standard_normal((out_channels, channels, 3, 3)).astype(np.float32) * 0.05
        bias = np.zeros(out_channels, dtype=np.float32)
        weights += [
            numpy_helper.from_array(kernel, f"w{index}"),
            numpy_helper.from_array(bias, f"b{index}"),
        ]
        nodes.append(
            helper.make_node(
                "Conv",
                [current, f"w{index}", f"b{index}"],
                [f"c{index}"],
                kernel_shape=[3, 3],
                strides=[stride, stride],
                pads=[1, 1, 1, 1],
            )
        )
        nodes.append(helper.make_node("Relu", [f"c{index}"], [f"r{index}"]))
        current, channels = f"r{index}", out_channels
    nodes.append(helper.make_node("GlobalAveragePool", [current], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], axis=1))
    dense = rng.standard_normal((channels, 1000)).astype(np.float32) * 0.05
    weights.append(numpy_helper.from_array(dense, "dense"))
    nodes.append(helper.make_node("MatMul", ["flat", "dense"], ["output"]))
    return _save_image_model(path, "mlos-bench-conv", nodes, weights)


def build_transfer_model(path: Path) -> Path:
    """The large model's tensors with next to no compute: what moving them costs, alone.

    Input "input" FP32 [N, 3, 224, 224] (as the conv network's); output "output" FP32 [N, 1000],
    the first 1000 values of each input (a reshape and a slice: microseconds).
    """
    from onnx import helper, numpy_helper

    constants = [
        numpy_helper.from_array(np.array(values, dtype=np.int64), name)
        for name, values in (("shape", [0, -1]), ("starts", [0]), ("ends", [1000]), ("axes", [1]))
    ]
    nodes = [
        helper.make_node("Reshape", ["input", "shape"], ["flat"]),
        helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["output"]),
    ]
    return _save_image_model(path, "mlos-bench-transfer", nodes, constants)


def build_identity_model(path: Path) -> Path:
    """The large model's input returned whole: 600 KB in and out, no compute.

    Input "input" and output "output", both FP32 [N, 3, 224, 224].
    """
    from onnx import helper

    nodes = [helper.make_node("Identity", ["input"], ["output"])]
    return _save_image_model(path, "mlos-bench-identity", nodes, [], CONV_INPUT_SHAPE[1:])


def _save_image_model(
    path: Path,
    name: str,
    nodes: list[Any],
    initializers: list[Any],
    output_shape: tuple[int, ...] = (1000,),
) -> Path:
    """Save a graph from "input" FP32 [N, 3, 224, 224] to "output" FP32 [N, *output_shape]."""
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *CONV_INPUT_SHAPE[1:]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *output_shape])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, str(path))
    return path
