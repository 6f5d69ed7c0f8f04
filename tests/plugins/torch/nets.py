"""Tiny PyTorch networks for the tests, saved in every format the plugins serve.

`SmallNet` is the network the cross-format tests share: 4 → 8 (ReLU) → 3 (softmax), with
fixed weights from a seeded generator. Savers write it as TorchScript (scripted or traced),
as a torch.export program with a dynamic batch, and as ONNX. `write_malicious_pickle` writes a
full-pickle `.pt` whose loading would create a marker file.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "Counter",
    "DictNet",
    "PairNet",
    "SmallNet",
    "save_export",
    "save_onnx",
    "save_script",
    "save_trace",
    "write_malicious_pickle",
]

EXAMPLE = torch.zeros(2, 4)


class SmallNet(torch.nn.Module):
    """4 → 8 → 3 classifier with softmax outputs."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 3)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.out(torch.relu(self.hidden(x))), dim=-1)


class PairNet(torch.nn.Module):
    """Two inputs (FP32 matrix, INT64 vector), two outputs (sum, scaled count)."""

    def forward(self, x: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.sum(dim=1), n * 2


class DictNet(torch.nn.Module):
    """Returns a dict: {"double": 2x, "negated": -x}."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"double": x * 2, "negated": -x}


def save_script(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def save_trace(module: torch.nn.Module, path: Path, example: Any = EXAMPLE) -> Path:
    torch.jit.save(torch.jit.trace(module, example), str(path))
    return path


def save_export(module: torch.nn.Module, path: Path, example: Any = (EXAMPLE,)) -> Path:
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} for _ in example)
    program = torch.export.export(module, example, dynamic_shapes=dynamic)
    torch.export.save(program, str(path))
    return path


def save_onnx(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (EXAMPLE,), str(path), input_names=["x"], output_names=["output__0"],
            dynamic_axes={"x": {0: "batch"}, "output__0": {0: "batch"}}, dynamo=False,
        )
    return path


class _Payload:
    """Unpickling this creates `marker`: the proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def write_malicious_pickle(path: Path, marker: Path) -> Path:
    """A torch.save zip whose data.pkl would create the directory `marker` when unpickled."""
    torch.save({"weights": torch.zeros(2), "payload": _Payload(marker)}, str(path))
    assert zipfile.is_zipfile(path)
    return path


class Counter(torch.nn.Module):
    """Adds how many times it has run to its input: a program that updates a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count.add_(1)
        return x + self.count
