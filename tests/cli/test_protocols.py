"""The CLI over each protocol: every management and infer command with --url http, grpc, unix.

One `mlos serve --demo` serves the module; the commands run in-process through `main`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pytest

from mlos.cli.main import main
from mlos.cli.output import Output
from mlos.server import demo_model_path
from mlos.testing import ServerProcess

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("cli")
    served = ServerProcess(root / "home", "--demo", logs=root)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(params=["rest", "grpc", "ipc"])
def url(request: pytest.FixtureRequest, server: ServerProcess) -> str:
    address = {"rest": server.url, "grpc": server.grpc_url, "ipc": server.ipc_url}[request.param]
    if not address:
        pytest.skip(f"this server does not serve {request.param}")
    return address


def cli(url: str, *argv: str, token: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {"MLOS_TOKEN": token} if token else {}
    code = main([*argv, "--url", url, "--json"], env=env, output=Output(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def test_every_command(url: str, server: ServerProcess, tmp_path) -> None:
    suffix = url.split("://", 1)[0]
    plugin, model = f"cli-onnx-{suffix}", f"cli-mlp-{suffix}"

    def ok(*argv: str) -> object:
        code, out, err = cli(url, *argv, token=server.token)
        assert (code, err) == (0, ""), (argv, err)
        return json.loads(out)

    assert ok("health")["ready"] is True
    assert ok("resources")["host"]["cpu_count"] > 0
    assert ok("plugin", "register", plugin, "--entry-point", "onnx")["name"] == plugin
    assert plugin in [p["name"] for p in ok("plugin", "list")["plugins"]]
    assert ok("plugin", "load", plugin)["state"] == "ready"
    assert ok("plugin", "show", plugin)["name"] == plugin
    assert ok("plugin", "unload", plugin)["state"] == "unloaded"
    ok("plugin", "remove", plugin)
    path = str(demo_model_path(server.home))
    assert ok("model", "register", model, path, "--plugin", "onnx")["version"] == "1"
    assert model in [m["name"] for m in ok("model", "list")["models"]]
    assert ok("model", "show", model)["name"] == model
    x = np.full((2, 64), 0.5, np.float32)
    np.save(tmp_path / "x.npy", x)
    document = ok("infer", model, "-i", f"input=@{tmp_path / 'x.npy'}")
    assert document["outputs"][0]["shape"] == [2, 10]
    ok("model", "remove", model)
    code, _, err = cli(url, "model", "show", model, token=server.token)
    assert code == 1 and "(not_found)" in err
