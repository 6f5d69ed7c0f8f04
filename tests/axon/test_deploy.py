"""``axon install`` → ``axon deploy`` → inference, against a real ``mlos serve``."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import onnxruntime as ort
import yaml

from axon.package import pack
from mlos.testing import ServerProcess
from tests.authorized import http
from tests.axon.conftest import Cli, make_package_dir


def infer(url: str, name: str, x: np.ndarray) -> list[float]:
    response = http.post(f"{url}/v2/models/{name}/infer", timeout=10, json={
        "inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                    "data": x.ravel().tolist()}]})
    assert response.status_code == 200, response.text
    [output] = response.json()["outputs"]
    assert output["name"] == "logits" and output["shape"] == [1, 10]
    data: list[float] = output["data"]
    return data


def test_deploy_registers_and_starts_the_plugin(cli: Cli, mlos_server: ServerProcess) -> None:
    """Issue 16 item 7: a server without the plugin gets it registered and started."""
    assert cli("registry", "demo")[0] == 0
    code, out, _ = cli("install", "demo/mlp", "--json")
    [installed] = json.loads(out)
    url = mlos_server.url
    assert mlos_server.client().list_plugins() == []
    code, out, err = cli("deploy", "demo/mlp", "--server", url, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["plugin"] == {"name": "onnx", "action": "registered and started"}
    sent = result["request"]
    assert sent["name"] == "mlp" and sent["plugin"] == "onnx" and sent["version"] == "1.1.0"
    assert sent["path"] == str(pathlib.Path(installed["path"]).resolve() / "model.onnx")
    assert [f["path"] for f in sent["files"]] == ["model.onnx"]
    [plugin] = mlos_server.client().list_plugins()
    assert plugin.name == "onnx" and plugin.state == 3  # ready
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 64)
    expected = ort.InferenceSession(sent["path"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(infer(url, "mlp", x), expected.ravel(), rtol=1e-6)
    # A second deploy of the same version finds it registered: nothing to do, no error.
    code, out, err = cli("deploy", "demo/mlp", "--server", url, "--json")
    assert code == 0 and json.loads(out)["status"] == "already registered", err


def test_no_start_leaves_the_plugin_alone(cli: Cli, mlos_server: ServerProcess) -> None:
    cli("registry", "demo")
    cli("install", "demo/identity")
    code, _, err = cli("deploy", "demo/identity", "--server", mlos_server.url, "--no-start")
    assert code == 1 and "plugin 'onnx' is not registered" in err and "--no-start" in err
    assert mlos_server.client().list_plugins() == []


def test_the_server_refuses_a_corrupted_model_file(cli: Cli, mlos_server: ServerProcess) -> None:
    """Issue 16 item 6: the server checks every file's size and sha256 before loading."""
    cli("registry", "demo")
    cli("install", "demo/identity")
    mlos_server.client().register_plugin("onnx")
    mlos_server.client().load_plugin("onnx")
    model_dir = pathlib.Path(json.loads(cli("list", "--json")[1])[0]["path"])
    original = (model_dir / "model.onnx").read_bytes()
    (model_dir / "model.onnx").write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    code, _, err = cli("deploy", "demo/identity", "--server", mlos_server.url)
    assert code == 1 and "model.onnx" in err and "sha256" in err, err
    assert mlos_server.client().list_models() == []
    (model_dir / "model.onnx").write_bytes(original + b"\0")
    code, _, err = cli("deploy", "demo/identity", "--server", mlos_server.url)
    assert code == 1 and "size" in err, err
    (model_dir / "model.onnx").write_bytes(original)
    assert cli("deploy", "demo/identity", "--server", mlos_server.url)[0] == 0


def test_deploy_reports_an_unreachable_server(cli: Cli) -> None:
    cli("registry", "demo")
    cli("install", "demo/identity")
    code, _, err = cli("deploy", "demo/identity", "--server", "http://127.0.0.1:9")
    assert code == 2 and "cannot reach MLOS at http://127.0.0.1:9" in err


def test_deploy_maps_serving_instances_and_dynamic_batching(
    cli: Cli, mlos_server: ServerProcess, tmp_path: pathlib.Path
) -> None:
    """The manifest's `serving.instances` and `serving.dynamic_batching` become the
    registration's `instance_count` and `dynamic_batching`."""
    source = make_package_dir(tmp_path / "src", name="batched")
    manifest = yaml.safe_load((source / "manifest.yaml").read_text())
    manifest["serving"] = {
        "instances": 2,
        "dynamic_batching": {"max_queue_delay_us": 250, "preferred_batch_size": [2, 4],
                             "max_queue_size": 32},
    }  # fmt: skip
    (source / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    built = pack(source, tmp_path / "batched.axon").path
    assert cli("install", str(built))[0] == 0
    code, out, err = cli("deploy", "test/batched", "--server", mlos_server.url, "--json")
    assert code == 0, err
    sent = json.loads(out)["request"]
    assert sent["instance_count"] == 2
    assert sent["dynamic_batching"]["preferred_batch_size"] == [2, 4]
    [status] = mlos_server.client().get_model("batched").versions
    assert status.instance_count == 2
    batching = status.dynamic_batching
    assert (list(batching.preferred_batch_size), batching.max_queue_delay_us,
            batching.max_queue_size) == ([2, 4], 250, 32)  # fmt: skip
    config = http.get(f"{mlos_server.url}/v2/models/batched/config", timeout=10).json()
    assert config["instance_group"][0]["count"] == 2
    assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == 250
