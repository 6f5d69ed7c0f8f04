"""The ONNX plugin in its own process, driven only through the generated SMI `PluginClient`."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import mlos
from mlos.errors import InvalidArgument, NotFound
from mlos.wire.channel import Channel
from mlos.wire.tensors import DATATYPES, from_numpy, to_numpy
from mlos_generated import smi_ipc, smi_pb2
from tests.models import bf16_model, mlp_model, multi_output_model, sample, save, string_model

TIMEOUT = 10.0


@pytest.fixture
async def client() -> AsyncIterator[smi_ipc.PluginClient]:
    """A plugin host process for the `onnx` entry point, on one end of a socket pair."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlos.sdk.host",
            "--entry-point",
            "onnx",
            "--fd",
            str(theirs.fileno()),
        ],
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    channel = await Channel.from_socket(ours, name="onnx plugin")
    try:
        yield smi_ipc.PluginClient(channel)
    finally:
        channel.close()
        if not await exited(process, within=10.0):
            process.kill()
            process.wait()
            pytest.fail("the plugin host did not exit when its connection closed")


async def exited(process: subprocess.Popen[bytes], within: float) -> bool:
    """Whether `process` exits within `within` seconds (the event loop keeps running)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while process.poll() is None:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def request(model: str, inputs: dict[str, Any], outputs: list[str], **types: str) -> Any:
    return smi_pb2.InferRequest(
        model_name=model,
        model_version="1",
        inputs=[from_numpy(name, array, types.get(name)) for name, array in inputs.items()],
        outputs=[smi_pb2.RequestedOutput(name=name) for name in outputs],
    )


async def load(client: smi_ipc.PluginClient, name: str, path: Path) -> Any:
    load_request = smi_pb2.LoadModelRequest(name=name, version="1", path=str(path))
    response = await client.load_model(load_request, timeout=TIMEOUT)
    return response.metadata


async def test_lifecycle_over_smi(client: smi_ipc.PluginClient, tmp_path: Path) -> None:
    info = await client.describe(
        smi_pb2.DescribeRequest(core_smi_version=smi_ipc.SMI_VERSION), timeout=TIMEOUT
    )
    assert (info.name, info.version) == ("onnx", mlos.__version__)
    assert list(info.capabilities.formats) == ["onnx"]
    assert list(info.capabilities.datatypes) == list(DATATYPES)
    assert info.smi_versions[0].major == smi_ipc.SMI_VERSION.major

    path = save(mlp_model(), tmp_path / "mlp.onnx")
    metadata = await load(client, "mlp", path)
    assert metadata.platform == "onnxruntime_onnx"
    assert metadata.plugin == "onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [-1, 64])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("output", "FP32", [-1, 10])
    ]
    assert metadata.max_batch_size > 0
    assert metadata.properties["opset"] == "17"

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 8):
        x = sample("FP32", (batch, 64), seed=batch)
        response = await client.infer(request("mlp", {"input": x}, ["output"]), timeout=TIMEOUT)
        (output,) = response.outputs
        assert (output.name, output.datatype, list(output.shape)) == ("output", "FP32", [batch, 10])
        (expected,) = session.run(["output"], {"input": x})
        np.testing.assert_allclose(to_numpy(output), expected, rtol=1e-6, atol=1e-6)

    health = await client.health(smi_pb2.PluginHealthRequest(), timeout=TIMEOUT)
    assert health.ready and list(health.models) == ["mlp/1"]

    unload = smi_pb2.UnloadModelRequest(name="mlp", version="1")
    await client.unload_model(unload, timeout=TIMEOUT)
    await client.unload_model(unload, timeout=TIMEOUT)  # unloading twice succeeds
    with pytest.raises(NotFound):
        x = sample("FP32", (1, 64))
        await client.infer(request("mlp", {"input": x}, ["output"]), timeout=TIMEOUT)
    health = await client.health(smi_pb2.PluginHealthRequest(), timeout=TIMEOUT)
    assert list(health.models) == []


async def test_errors_are_typed_and_the_plugin_keeps_serving(
    client: smi_ipc.PluginClient, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidArgument, match="not an ONNX model"):
        await load(client, "bad", bad)
    await load(client, "mlp", save(mlp_model(), tmp_path / "mlp.onnx"))
    with pytest.raises(InvalidArgument):
        x = sample("FP32", (2, 63))
        await client.infer(request("mlp", {"input": x}, ["output"]), timeout=TIMEOUT)
    x = sample("FP32", (2, 64))
    response = await client.infer(request("mlp", {"input": x}, []), timeout=TIMEOUT)
    assert [t.name for t in response.outputs] == ["output"]


async def test_bytes_bf16_and_output_selection_cross_the_wire(
    client: smi_ipc.PluginClient, tmp_path: Path
) -> None:
    await load(client, "strings", save(string_model(), tmp_path / "strings.onnx"))
    text = np.empty(2, dtype=object)
    text[:] = ["grüße".encode(), b"ok"]
    response = await client.infer(request("strings", {"text": text}, ["same"]), timeout=TIMEOUT)
    (same,) = response.outputs
    assert same.datatype == "BYTES"
    assert list(to_numpy(same)) == ["grüße".encode(), b"ok"]

    await load(client, "bf16", save(bf16_model(), tmp_path / "bf16.onnx"))
    b = sample("BF16", (2, 4))
    floats = (b.astype("<u4") << 16).view("<f4")
    response = await client.infer(
        request("bf16", {"x": floats, "b": b}, ["to_bf16", "from_bf16"], b="BF16"),
        timeout=TIMEOUT,
    )
    outputs = {t.name: t for t in response.outputs}
    assert outputs["to_bf16"].datatype == "BF16"
    np.testing.assert_array_equal(to_numpy(outputs["to_bf16"]), b)
    np.testing.assert_array_equal(to_numpy(outputs["from_bf16"]), floats)

    await load(client, "multi", save(multi_output_model(), tmp_path / "multi.onnx"))
    x = sample("FP32", (3, 4))
    response = await client.infer(request("multi", {"x": x}, ["argmax"]), timeout=TIMEOUT)
    (argmax,) = response.outputs
    assert (argmax.name, argmax.datatype) == ("argmax", "INT64")
    np.testing.assert_array_equal(to_numpy(argmax), x.argmax(axis=1))
