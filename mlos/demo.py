"""The models MLOS builds itself: small, deterministic ONNX files, never downloaded.

One builder for every model the product, the benchmarks and the tests share:

* the demo MLP (`build_demo_model`) — the quickstart serves it (`mlos serve --demo`), the
  benchmarks time it as their small model, the tests use it as their everyday FP32 model, and
  Axon's demo registry packs it; the graph is ``input [N, 64] FP32 → Gemm → Relu → … → Gemm →
  output [N, 10] FP32`` with a dynamic batch dimension ``N``::

      python -m mlos.demo ~/.mlos/demo/model.onnx

* the image models of the benchmarks, all ``input [N, 3, 224, 224] FP32``: a ~0.4 GMAC
  convolutional network (`build_conv_model`), the same tensors with next to no compute
  (`build_transfer_model`) and the input returned whole (`build_identity_model`);
* the pieces they are made of, for other small graphs: `onnx_model` (a graph at the opset and
  IR version every supported onnxruntime loads) and `save_model` (an atomic write).

Weights come from a fixed seed, so every machine gets the same bytes. Building needs the `onnx`
package (the `mlos[onnx]` extra), imported only when a model is built.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CONV_INPUT_SHAPE",
    "DEMO_CLASSES",
    "DEMO_FEATURES",
    "DEMO_HIDDEN",
    "DEMO_INPUT",
    "DEMO_IR_VERSION",
    "DEMO_OPSET",
    "DEMO_OUTPUT",
    "build_conv_model",
    "build_demo_model",
    "build_identity_model",
    "build_transfer_model",
    "demo_model_proto",
    "float_tensor",
    "onnx_model",
    "save_model",
]

DEMO_INPUT = "input"
DEMO_OUTPUT = "output"
DEMO_FEATURES = 64
DEMO_HIDDEN: tuple[int, ...] = (256,)
DEMO_CLASSES = 10
#: ONNX opset and IR version old enough for every onnxruntime MLOS supports (>= 1.17).
DEMO_OPSET = 17
DEMO_IR_VERSION = 8
#: The input of the image models: one 224x224 RGB image, 602,112 bytes of FP32.
CONV_INPUT_SHAPE = (1, 3, 224, 224)

Dim = int | str | None


def float_tensor(name: str, shape: Sequence[Dim]) -> Any:
    """An FP32 graph input or output (`onnx.ValueInfoProto`); a str dim is a dynamic one."""
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def onnx_model(
    nodes: Sequence[Any],
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    *,
    name: str,
    initializers: Sequence[Any] = (),
    opsets: dict[str, int] | None = None,
    producer: str = "mlos.demo",
    doc: str = "",
) -> Any:
    """An `onnx.ModelProto` of one graph at `DEMO_OPSET` (plus `opsets` of other domains)."""
    from onnx import helper

    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    imports = [helper.make_opsetid(domain, version) for domain, version in (opsets or {}).items()]
    if not any(op.domain == "" for op in imports):
        imports.insert(0, helper.make_opsetid("", DEMO_OPSET))
    model = helper.make_model(
        graph, opset_imports=imports, producer_name=producer, producer_version="1",
        doc_string=doc,
    )
    model.ir_version = DEMO_IR_VERSION
    return model


def save_model(model: Any, path: Path) -> Path:
    """Write `model` to `path` (parents created, replaced atomically) and return `path`."""
    path = Path(path)
    payload = model.SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def demo_model_proto(
    *,
    features: int = DEMO_FEATURES,
    hidden: Sequence[int] = DEMO_HIDDEN,
    classes: int = DEMO_CLASSES,
    seed: int = 0,
    output: str = DEMO_OUTPUT,
    producer: str = "mlos.demo",
) -> Any:
    """The demo MLP as an `onnx.ModelProto` (layer sizes may be changed for bigger models)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    sizes = [features, *hidden, classes]
    nodes: list[Any] = []
    initializers: list[Any] = []
    current = DEMO_INPUT
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        # He-style scaling keeps activations in a readable range through the layers.
        weight = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype("<f4")
        bias = (rng.standard_normal(fan_out) * 0.01).astype("<f4")
        initializers += [
            numpy_helper.from_array(weight, f"w{layer}"),
            numpy_helper.from_array(bias, f"b{layer}"),
        ]
        last = layer == len(sizes) - 2
        gemm_out = output if last else f"gemm{layer}"
        nodes.append(
            helper.make_node(
                "Gemm", [current, f"w{layer}", f"b{layer}"], [gemm_out], f"dense{layer}"
            )
        )
        if not last:
            current = f"relu{layer}"
            nodes.append(helper.make_node("Relu", [gemm_out], [current], f"act{layer}"))
    return onnx_model(
        nodes,
        [float_tensor(DEMO_INPUT, ["batch", features])],
        [float_tensor(output, ["batch", classes])],
        name="mlos_demo_mlp",
        initializers=initializers,
        producer=producer,
        doc=f"MLOS demo MLP {' -> '.join(map(str, sizes))}, seed {seed}",
    )


def build_demo_model(
    path: Path,
    *,
    features: int = DEMO_FEATURES,
    hidden: Sequence[int] = DEMO_HIDDEN,
    classes: int = DEMO_CLASSES,
    seed: int = 0,
) -> Path:
    """Write the demo MLP to `path` (parents created, replaced atomically) and return `path`.

    The defaults give the 64→256→10 quickstart model; the same seed always gives the same bytes.
    """
    model = demo_model_proto(features=features, hidden=hidden, classes=classes, seed=seed)
    return save_model(model, path)


def build_conv_model(path: Path, seed: int = 0) -> Path:
    """A ~0.4 GMAC image network: four strided 3x3 convolutions, pooling and a classifier.

    Input "input" FP32 [N, 3, 224, 224]; output "output" FP32 [N, 1000].
    """
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    weights: list[Any] = []
    current, channels = DEMO_INPUT, CONV_INPUT_SHAPE[1]
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
    nodes.append(helper.make_node("MatMul", ["flat", "dense"], [DEMO_OUTPUT]))
    return _save_image_model(path, "mlos-bench-conv", nodes, weights)


def build_transfer_model(path: Path) -> Path:
    """The conv network's tensors with next to no compute: what moving them costs, alone.

    Input "input" FP32 [N, 3, 224, 224]; output "output" FP32 [N, 1000], the first 1000 values
    of each input (a reshape and a slice: microseconds).
    """
    from onnx import helper, numpy_helper

    constants = [
        numpy_helper.from_array(np.array(values, dtype=np.int64), name)
        for name, values in (("shape", [0, -1]), ("starts", [0]), ("ends", [1000]), ("axes", [1]))
    ]
    nodes = [
        helper.make_node("Reshape", [DEMO_INPUT, "shape"], ["flat"]),
        helper.make_node("Slice", ["flat", "starts", "ends", "axes"], [DEMO_OUTPUT]),
    ]
    return _save_image_model(path, "mlos-bench-transfer", nodes, constants)


def build_identity_model(path: Path) -> Path:
    """The image input returned whole: 600 KB in and out, no compute.

    Input "input" and output "output", both FP32 [N, 3, 224, 224].
    """
    from onnx import helper

    nodes = [helper.make_node("Identity", [DEMO_INPUT], [DEMO_OUTPUT])]
    return _save_image_model(path, "mlos-bench-identity", nodes, [], CONV_INPUT_SHAPE[1:])


def _save_image_model(
    path: Path,
    name: str,
    nodes: list[Any],
    initializers: list[Any],
    output_shape: tuple[int, ...] = (1000,),
) -> Path:
    """Save a graph from "input" FP32 [N, 3, 224, 224] to "output" FP32 [N, *output_shape]."""
    model = onnx_model(
        nodes,
        [float_tensor(DEMO_INPUT, ["N", *CONV_INPUT_SHAPE[1:]])],
        [float_tensor(DEMO_OUTPUT, ["N", *output_shape])],
        name=name,
        initializers=initializers,
    )
    return save_model(model, path)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mlos.demo PATH`: write the demo model to PATH and print it (2 on bad usage)."""
    parser = argparse.ArgumentParser(
        prog="python -m mlos.demo",
        description="Write the MLOS demo MLP (input [N, 64] FP32 -> output [N, 10] FP32) "
        "to an ONNX file; the same bytes on every machine.",
    )
    parser.add_argument("path", metavar="PATH", type=Path, help="the .onnx file to write")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): answered, nothing written
        return exc.code if isinstance(exc.code, int) else 2
    print(build_demo_model(args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
