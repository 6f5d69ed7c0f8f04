"""`axon run`: from an empty Axon home to a correct inference in one command."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import onnxruntime as ort
import psutil
import pytest
import requests

from axon.demo import build_demo_registry
from tests.axon.conftest import REPO, Cli, free_port


@contextlib.contextmanager
def reaped(pids: list[int]) -> Iterator[None]:
    """Stop every server a test started (SIGTERM, then kill), and its plugin processes."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                process = psutil.Process(pid)
                family = [process, *process.children(recursive=True)]
                process.terminate()
                _, alive = psutil.wait_procs([process], timeout=30)
                for leftover in alive + [p for p in family[1:] if p.is_running()]:
                    leftover.kill()
                psutil.wait_procs(family, timeout=10)


def test_run_from_an_empty_home_to_an_answer(tmp_path: pathlib.Path, cli: Cli,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    registry = tmp_path / "registry"
    build_demo_registry(registry)
    home = tmp_path / "empty-home"
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AXON_", "MLOS_"))}
    env.update(AXON_HOME=str(home), AXON_DEFAULT_REGISTRY=registry.as_uri(),
               AXON_MLOS_SERVER=url,
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "generated")]))
    assert not home.exists()
    pids: list[int] = []
    with reaped(pids):
        try:
            done = subprocess.run([sys.executable, "-m", "axon", "run", "demo/mlp", "--json"],
                                  env=env, capture_output=True, text=True, timeout=180)
        finally:  # whatever happened, stop the server it may have started
            pid_file = home / "server" / "serve.pid"
            if pid_file.exists():
                pids.append(int(pid_file.read_text()))
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["pid"] == pids[0]
        assert result["ref"] == "demo/mlp@1.1.0" and result["started"] is True
        assert result["plugin"] == {"name": "onnx", "action": "registered and started"}
        assert result["infer_url"] == f"{url}/v2/models/mlp/infer"
        assert "started mlos serve" in done.stderr and f"kill {result['pid']}" in done.stderr

        example = result["example"]
        # The server it started keeps its admin token in its home (auth is on by default).
        token = (home / "server" / "admin.token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.post(result["infer_url"], json=example, timeout=10).status_code == 401
        assert requests.post(
            result["infer_url"], json=example, headers=headers, timeout=10
        ).status_code == 200
        x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 64)
        example["inputs"][0]["data"] = x.ravel().tolist()
        answer = requests.post(result["infer_url"], json=example, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        [output] = answer.json()["outputs"]
        model_file = home / "cache" / "models" / "demo" / "mlp" / "1.1.0" / "model.onnx"
        expected = ort.InferenceSession(str(model_file)).run(None, {"input": x})[0]
        np.testing.assert_allclose(output["data"], expected.ravel(), rtol=1e-6)

        # Once more, in-process: the same server and model are found, nothing is redone.
        for key, value in env.items():
            if key.startswith("AXON_"):
                monkeypatch.setenv(key, value)
        code, out, err = cli("run", "demo/mlp")
        assert code == 0, err
        assert "serving as model 'mlp'" in out and "curl -s -X POST" in out
        assert "already installed" in err and "started" not in err
        code, out, _ = cli("run", "demo/mlp", "--json")
        again = json.loads(out)
        assert again["started"] is False and again["status"] == "already registered"


def test_run_does_not_start_servers_beyond_loopback(cli: Cli, tmp_path: pathlib.Path) -> None:
    build_demo_registry(tmp_path / "registry")
    cli("registry", "add", "demo", (tmp_path / "registry").as_uri(), "--default")
    code, _, err = cli("run", "demo/identity", "--server", "http://192.0.2.1:1")
    assert code == 2 and "only on a loopback" in err
