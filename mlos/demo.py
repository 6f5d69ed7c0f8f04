"""The demo model: a small, deterministic multilayer perceptron written as an ONNX file.

The quickstart serves it, the benchmarks time it, and the tests use it as their everyday
FP32 model. It is built locally from a fixed seed, never downloaded, so every machine gets the
same bytes::

    python -m mlos.demo ~/.mlos/demo/model.onnx

The graph is ``input [N, 64] FP32 → Gemm → Relu → … → Gemm → output [N, 10] FP32`` with a
dynamic batch dimension ``N``. Building it needs the `onnx` package (the `mlos[onnx]` extra).
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEMO_CLASSES",
    "DEMO_FEATURES",
    "DEMO_HIDDEN",
    "DEMO_INPUT",
    "DEMO_OPSET",
    "DEMO_OUTPUT",
    "build_demo_model",
    "demo_model_proto",
]

DEMO_INPUT = "input"
DEMO_OUTPUT = "output"
DEMO_FEATURES = 64
DEMO_HIDDEN: tuple[int, ...] = (256,)
DEMO_CLASSES = 10
#: ONNX opset and IR version old enough for every onnxruntime MLOS supports (>= 1.17).
DEMO_OPSET = 17
DEMO_IR_VERSION = 8


def demo_model_proto(
    *,
    features: int = DEMO_FEATURES,
    hidden: Sequence[int] = DEMO_HIDDEN,
    classes: int = DEMO_CLASSES,
    seed: int = 0,
) -> Any:
    """The demo MLP as an `onnx.ModelProto` (layer sizes may be changed for bigger models)."""
    from onnx import TensorProto, helper, numpy_helper

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
        gemm_out = DEMO_OUTPUT if last else f"gemm{layer}"
        nodes.append(
            helper.make_node(
                "Gemm", [current, f"w{layer}", f"b{layer}"], [gemm_out], f"dense{layer}"
            )
        )
        if not last:
            current = f"relu{layer}"
            nodes.append(helper.make_node("Relu", [gemm_out], [current], f"act{layer}"))
    graph = helper.make_graph(
        nodes,
        "mlos_demo_mlp",
        [helper.make_tensor_value_info(DEMO_INPUT, TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info(DEMO_OUTPUT, TensorProto.FLOAT, ["batch", classes])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", DEMO_OPSET)],
        producer_name="mlos.demo",
        producer_version="1",
        doc_string=f"MLOS demo MLP {' -> '.join(map(str, sizes))}, seed {seed}",
    )
    model.ir_version = DEMO_IR_VERSION
    return model


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
    path = Path(path)
    data = demo_model_proto(features=features, hidden=hidden, classes=classes, seed=seed)
    payload = data.SerializeToString()
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


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mlos.demo PATH`: write the demo model to PATH and print it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m mlos.demo PATH", file=sys.stderr)
        return 2
    print(build_demo_model(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
