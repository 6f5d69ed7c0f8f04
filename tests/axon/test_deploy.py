"""``axon install`` → ``axon deploy`` → inference over REST.

The first test deploys into a real ``mlos serve``. The second needs a server that refuses a
model, so it uses a small stand-in that speaks ``POST /v1/models`` and checks the files against
the manifest the way a stricter server would.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnxruntime as ort
import requests

from axon.validation import validate_file
from mlos.testing import ServerProcess
from tests.axon.conftest import Cli


class _MlosStub(http.server.BaseHTTPRequestHandler):
    sessions: dict[str, ort.InferenceSession] = {}
    registered: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/models":
            manifest = pathlib.Path(body["config"]["axon.manifest"])
            if validate_file(manifest).status != "valid":
                self._reply(400, {"detail": "files do not match the manifest"})
                return
            self.registered.append(body)
            self.sessions[body["name"]] = ort.InferenceSession(body["path"])
            self._reply(201, {"name": body["name"], "version": body["version"],
                              "state": "READY"})
            return
        name = self.path.split("/")[3]
        session = self.sessions[name]
        feeds = {t["name"]: np.asarray(t["data"], np.float32).reshape(t["shape"])
                 for t in body["inputs"]}
        outputs = session.run(None, feeds)
        self._reply(200, {"model_name": name, "outputs": [
            {"name": meta.name, "datatype": "FP32", "shape": list(value.shape),
             "data": value.ravel().tolist()}
            for meta, value in zip(session.get_outputs(), outputs, strict=True)]})


@contextlib.contextmanager
def mlos_stub() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MlosStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_install_deploy_infer(cli: Cli, mlos_server: ServerProcess) -> None:
    """Against a real `mlos serve`: the deployed model is served by the ONNX plugin."""
    assert cli("registry", "demo")[0] == 0
    code, out, _ = cli("install", "demo/mlp", "--json")
    [installed] = json.loads(out)
    mlos_server.client().register_plugin("onnx")
    mlos_server.client().load_plugin("onnx")
    url = mlos_server.url
    code, out, err = cli("deploy", "demo/mlp", "--server", url, "--json")
    assert code == 0, err
    sent = json.loads(out)["request"]
    assert sent["name"] == "mlp" and sent["plugin"] == "onnx"
    assert sent["version"] == "1.1.0"
    assert sent["path"] == str(pathlib.Path(installed["path"]).resolve() / "model.onnx")
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 64)
    response = requests.post(f"{url}/v2/models/mlp/infer", timeout=10, headers=mlos_server.auth_headers, json={
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64],
                    "data": x.ravel().tolist()}]})
    assert response.status_code == 200
    [output] = response.json()["outputs"]
    expected = ort.InferenceSession(sent["path"]).run(None, {"input": x})[0]
    assert output["name"] == "logits" and output["shape"] == [1, 10]
    np.testing.assert_allclose(output["data"], expected.ravel(), rtol=1e-6)


def test_deploy_reports_refusal_and_unreachable_server(cli: Cli) -> None:
    cli("registry", "demo")
    cli("install", "demo/identity")
    model_dir = pathlib.Path(json.loads(cli("list", "--json")[1])[0]["path"])
    (model_dir / "model.onnx").write_bytes(b"tampered")
    with mlos_stub() as url:
        code, _, err = cli("deploy", "demo/identity", "--server", url)
    assert code == 1 and "refused the model (HTTP 400): files do not match" in err
    code, _, err = cli("deploy", "demo/identity", "--server", "http://127.0.0.1:9")
    assert code == 2 and "cannot reach MLOS at http://127.0.0.1:9" in err
