"""Fixtures for the Axon tests: an isolated AXON_HOME, tiny ONNX models, registries."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import onnx
import pytest
import requests
from onnx import TensorProto, helper

from axon.cli import main
from axon.package import pack
from axon.scaffold import init_manifest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def axon_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """Every test gets its own AXON_HOME and no inherited AXON_* settings."""
    for key in list(os.environ):
        if key.startswith("AXON_"):
            monkeypatch.delenv(key)
    home = tmp_path / "axon-home"
    monkeypatch.setenv("AXON_HOME", str(home))
    return home


def make_onnx(path: pathlib.Path, width: int = 4, out: int = 2, name_in: str = "x",
              name_out: str = "y") -> pathlib.Path:
    """A MatMul model [batch, width] → [batch, out] with fixed weights."""
    import numpy as np

    weights = onnx.numpy_helper.from_array(
        np.arange(width * out, dtype=np.float32).reshape(width, out), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", [name_in, "w"], [name_out])], "g",
        [helper.make_tensor_value_info(name_in, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(name_out, TensorProto.FLOAT, ["batch", out])],
        [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_package_dir(root: pathlib.Path, namespace: str = "test", name: str = "matmul",
                     version: str = "1.0.0", width: int = 4) -> pathlib.Path:
    """A directory with model.onnx and a complete manifest.yaml."""
    make_onnx(root / "model.onnx", width=width)
    init_manifest(root / "model.onnx", namespace, name, version, force=True)
    return root


@dataclass
class Cli:
    """Runs ``axon`` in-process and captures its output."""

    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("install", "demo/mlp")`` → (exit code, stdout, stderr)."""
    return Cli(capsys)


@pytest.fixture
def package(tmp_path: pathlib.Path) -> Callable[..., pathlib.Path]:
    """Build a ``.axon`` package: ``package(version="1.0.0", name="matmul")``."""
    def build(**kwargs: str) -> pathlib.Path:
        ident = "-".join(kwargs.values()) or "default"
        src = make_package_dir(tmp_path / "src" / ident, **kwargs)  # type: ignore[arg-type]
        return pack(src, tmp_path / "dist" / f"{ident}.axon").path
    return build


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.05)
    raise TimeoutError(url)


@contextlib.contextmanager
def running(cmd: list[str], health_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until ``health_url`` answers, always stop it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "generated"),
                                         env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_http(health_url, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@dataclass
class RegistryServer:
    """A running ``axon registry serve`` on loopback."""

    url: str
    root: pathlib.Path
    token: str


@pytest.fixture
def registry_server(tmp_path: pathlib.Path) -> Iterator[RegistryServer]:
    """The project's registry server on a random loopback port, with one write token."""
    from axon.registry_tokens import create_token, default_tokens_file

    root = tmp_path / "registry"
    root.mkdir()
    token = create_token(default_tokens_file(root), "ci", "write")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "axon", "registry", "serve", str(root), "--port", str(port)]
    with running(cmd, url + "/healthz"):
        yield RegistryServer(url, root, token)


@pytest.fixture
def file_registry(tmp_path: pathlib.Path) -> pathlib.Path:
    """An empty directory used as a ``file://`` registry."""
    root = tmp_path / "file-registry"
    root.mkdir()
    return root
