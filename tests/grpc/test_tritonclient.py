"""tritonclient.grpc, unchanged, against a real `mlos serve`, agreeing with onnxruntime.

The server is a subprocess on random loopback ports with a temporary home; the plugin and the
models are registered through the MLOS gRPC service. tritonclient.grpc cannot be imported here
(its protobuf package `inference` clashes with mlos_generated.inference_pb2, which other test
modules of this process import), so the flows run in a script of their own
(tests/grpc/triton_flows.py), once per module, and each test checks one flow's result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from mlos.testing import ServerProcess
from mlos_generated import smi_pb2, smi_pb2_grpc

if importlib.util.find_spec("tritonclient") is None:  # pragma: no cover
    pytest.skip("tritonclient is not installed", allow_module_level=True)
pytest.importorskip("onnxruntime")

from tests.models import arithmetic_model, mlp_model, save, string_model

ROOT = Path(__file__).resolve().parents[2]
ARITHMETIC = ("INT8", "INT32", "UINT64", "FP16", "BOOL")
FLOWS = (
    "readiness",
    "metadata",
    "config",
    "infer_fp32",
    "infer_integer_types",
    "infer_bytes",
    "stream",
    "statistics",
    "repository",
    "errors",
    "shared_memory",
    "trace_settings",
    "log_settings",
)


def _register(address: str, models: Path) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = smi_pb2_grpc.MLOSStub(channel)
        stub.RegisterPlugin(smi_pb2.RegisterPluginRequest(name="onnx"), timeout=30)
        plugin = stub.LoadPlugin(smi_pb2.PluginRef(name="onnx"), timeout=60)
        assert plugin.state == smi_pb2.PLUGIN_STATE_READY, plugin.message
        files = {"mlp": mlp_model(), "strings": string_model()}
        for datatype in ARITHMETIC:
            files[f"arithmetic_{datatype.lower()}"] = arithmetic_model(datatype)
        for name, model in files.items():
            path = save(model, models / f"{name}.onnx")
            request = smi_pb2.RegisterModelRequest(name=name, plugin="onnx", path=str(path))
            status = stub.RegisterModel(request, timeout=60)
            assert status.state == smi_pb2.MODEL_STATE_READY, status.message


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Start `mlos serve`, register the models, run every flow; {flow: "ok" or the failure}."""
    home = tmp_path_factory.mktemp("triton-home")
    models = home / "models"  # a model root of the server by default
    models.mkdir()
    # Protocol compatibility, not access: tritonclient with tokens is in tests/security.
    server = ServerProcess(home, "--no-auth")
    server.start()
    try:
        assert server.grpc_address, server.log_tail()
        _register(server.grpc_address, models)
        done = subprocess.run(
            [sys.executable, "-m", "tests.grpc.triton_flows", server.grpc_address, str(models)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        assert server.stop() == 0, server.log_tail()
    assert done.returncode == 0, done.stderr[-3000:]
    outcome: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(outcome) == sorted(FLOWS)
    return outcome


@pytest.mark.parametrize("flow", FLOWS)
def test_flow(results: dict[str, str], flow: str) -> None:
    assert results[flow] == "ok", results[flow]
