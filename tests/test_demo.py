"""mlos.demo: the quickstart's MLP, deterministic and servable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlos.demo import build_demo_model, main


def test_same_bytes_every_time(tmp_path: Path) -> None:
    first = build_demo_model(tmp_path / "a" / "model.onnx")
    second = build_demo_model(tmp_path / "b.onnx")
    assert first == tmp_path / "a" / "model.onnx"
    assert first.read_bytes() == second.read_bytes()
    assert build_demo_model(tmp_path / "c.onnx", seed=1).read_bytes() != first.read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["model.onnx"]  # no temp left


def test_a_valid_64_256_10_mlp_with_a_dynamic_batch(tmp_path: Path) -> None:
    path = build_demo_model(tmp_path / "model.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert weights == {"w0": (64, 256), "b0": (256,), "w1": (256, 10), "b1": (10,)}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    (graph_output,) = session.get_outputs()
    assert (graph_input.name, graph_input.type) == ("input", "tensor(float)")
    assert (graph_output.name, graph_output.shape) == ("output", ["batch", 10])
    for batch in (1, 7):
        x = np.ones((batch, 64), np.float32)
        (y,) = session.run(None, {"input": x})
        assert y.shape == (batch, 10)
        assert np.isfinite(y).all() and y.std() > 0


def test_bigger_layers_for_benchmarks(tmp_path: Path) -> None:
    path = build_demo_model(tmp_path / "big.onnx", hidden=(512, 512), classes=3)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"input": np.zeros((2, 64), np.float32)})
    assert y.shape == (2, 3)


def test_command_line(tmp_path: Path, capsys: object) -> None:
    assert main([str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 60_000
    assert main([]) == 2


def test_help_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--help"]) == 0
    assert "usage: python -m mlos.demo" in capsys.readouterr().out
    assert main(["a.onnx", "b.onnx"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
