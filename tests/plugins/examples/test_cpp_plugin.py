"""The C++ example plugin (plugins/examples/mlos-plugin-cpp): built from its sources, it passes
the conformance kit with its fixtures, refuses bad models and requests with typed errors, and a
real `mlos serve` runs it as an `executable` plugin."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from mlos.errors import InvalidArgument, MLOSError, NotFound
from mlos.wire.channel import Channel
from mlos.wire.framing import HEADER
from mlos.wire.tensors import from_numpy, to_numpy
from mlos_conformance import (
    Options,
    Outcome,
    PluginLaunch,
    load_fixtures,
    run_conformance,
    select_checks,
)
from mlos_conformance.cli import main as conformance_main
from mlos_generated import smi_ipc, smi_pb2
from tests.plugins.examples.conftest import CPP_PLUGIN
from tests.plugins.served import RestError, served

FIXTURES = CPP_PLUGIN / "fixtures"
LINEAR = (FIXTURES / "linear.lin").read_text()


def launch(binary: Path) -> PluginLaunch:
    return PluginLaunch("linear-cpp", "executable", str(binary))


def test_passes_the_conformance_kit_with_its_fixtures(cpp_plugin: Path) -> None:
    report = run_conformance(
        launch(cpp_plugin), fixtures=load_fixtures(FIXTURES), options=Options(cycles=10)
    )

    assert report.ok, [(r.name, r.reason) for r in report.failed]
    assert [r.outcome for r in report.results] == [Outcome.PASS] * len(report.results)
    assert report.plugin.name == "linear-cpp" and report.plugin.smi_versions == ("1.0",)
    assert report.result("infer.fixtures").reason.startswith("2 fixture(s), 4 case(s): all 4")
    assert report.result("errors.load_garbage").reason.startswith("INVALID_ARGUMENT")


def test_the_command_line_kit_writes_junit(
    cpp_plugin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "conformance.xml"
    code = conformance_main(
        ["--executable", str(cpp_plugin), "--fixtures", str(FIXTURES), "--junit", str(junit), "--json"]
    )

    assert code == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("skipped") == "0"


def test_the_kit_catches_a_model_that_lost_its_bias(cpp_plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "linear.lin").write_text(LINEAR.replace("0.5 0.5", "0 0"))
    (tmp_path / "fixtures.yaml").write_text(
        (FIXTURES / "fixtures.yaml").read_text().split("  - name: wide")[0]
    )

    report = run_conformance(launch(cpp_plugin), fixtures=load_fixtures(tmp_path))

    assert [r.name for r in report.failed] == ["infer.fixtures"]
    assert report.result("infer.fixtures").reason.startswith(
        "1 fixture(s), 3 case(s): linear/ones: output 'y': 2 of 2 values differ beyond rtol "
        "1e-05, atol 1e-06; the first at [0, 0]: got 3.0, expected 3.5 (max |diff| 0.5)"
    )


@contextlib.asynccontextmanager
async def plugin_client(binary: Path) -> AsyncIterator[smi_ipc.PluginClient]:
    """The plugin in its own process, as the core starts it, and an SMI client of it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = subprocess.Popen([str(binary), "--fd", str(theirs.fileno())], pass_fds=[theirs.fileno()])
    theirs.close()
    channel = await Channel.from_socket(ours, name="linear-cpp")
    try:
        yield smi_ipc.PluginClient(channel)
    finally:
        channel.close()
        try:
            await asyncio.to_thread(process.wait, 5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the plugin did not exit when its connection closed")
    assert process.returncode == 0


def load(name: str, path: Path, **config: str) -> smi_pb2.LoadModelRequest:
    return smi_pb2.LoadModelRequest(name=name, version="1", path=str(path), config=config)


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("", InvalidArgument, "does not start with 'mlos-linear'"),
        ("mlos-linear 2\n", InvalidArgument, "format version '2' is not supported"),
        (LINEAR.replace("inputs 3", "inputs 0"), InvalidArgument, "number of inputs must be a whole number from 1 to 65536, found '0'"),
        (LINEAR.replace("inputs 3", "inputs -3"), InvalidArgument, "found '-3'"),
        (LINEAR.replace(" 1  1  1", " 1  1"), InvalidArgument, "weights: 'bias' is not a finite number"),
        (LINEAR.replace("0.5 0.5", "0.5"), InvalidArgument, "bias: expected 2 numbers, found 1"),
        (LINEAR.replace("0.5 0.5", "0.5 nan"), InvalidArgument, "bias: 'nan' is not a finite number"),
        (LINEAR.replace("0.5 0.5", "0.5 1e99"), InvalidArgument, "bias: '1e99' is not a finite number"),
        (LINEAR + "extra\n", InvalidArgument, "unexpected 'extra' after the bias"),
        ("mlos-linear 1\0", InvalidArgument, "holds NUL bytes"),
    ],
)
def test_bad_model_files_are_refused(
    cpp_plugin: Path, tmp_path: Path, text: str, error: type[MLOSError], words: str
) -> None:
    path = tmp_path / "bad.lin"
    path.write_text(text)

    async def scenario() -> None:
        async with plugin_client(cpp_plugin) as client:
            with pytest.raises(error) as raised:
                await client.load_model(load("bad", path), timeout=10)
            assert str(path) in raised.value.message and words in raised.value.message
            health = await client.health(smi_pb2.PluginHealthRequest(), timeout=10)
            assert list(health.models) == []

    asyncio.run(scenario())


def test_loading_and_inference(cpp_plugin: Path, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "net.lin").write_text(LINEAR)

    async def scenario() -> None:
        async with plugin_client(cpp_plugin) as client:
            info = await client.describe(smi_pb2.DescribeRequest(), timeout=10)
            assert list(info.capabilities.file_extensions) == [".lin"]
            assert list(info.capabilities.datatypes) == ["FP32"]
            # A directory holding one .lin file is a model; axon.* options are accepted.
            response = await client.load_model(load("m", directory, **{"axon.ref": "x/y@1"}), timeout=10)
            metadata = response.metadata
            assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("x", "FP32", [-1, 3])]
            assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("y", "FP32", [-1, 2])]
            x = np.array([[1, 2, 3], [-1, 0.5, 2]], dtype=np.float32)
            request = smi_pb2.InferRequest(model_name="m", model_version="1", id="r1", inputs=[from_numpy("x", x)])
            answer = await client.infer(request, timeout=10)
            assert answer.id == "r1" and answer.model_name == "m"
            np.testing.assert_allclose(to_numpy(answer.outputs[0]), [[6.5, -3.5], [2.0, -0.5]])

            async def refused(request: smi_pb2.InferRequest) -> str:
                with pytest.raises(MLOSError) as raised:
                    await client.infer(request, timeout=10)
                assert isinstance(raised.value, InvalidArgument | NotFound)
                return f"{type(raised.value).__name__}: {raised.value.message}"

            def infer(*tensors: smi_pb2.Tensor, output: str = "", model: str = "m") -> smi_pb2.InferRequest:
                outputs = [smi_pb2.RequestedOutput(name=output)] if output else []
                return smi_pb2.InferRequest(model_name=model, model_version="1", inputs=tensors, outputs=outputs)

            assert await refused(infer(from_numpy("x", x.astype(np.float64)))) == "InvalidArgument: input 'x' is FP64; the model takes FP32"
            assert "has shape [2, 2]; the model takes [-1, 3]" in await refused(infer(from_numpy("x", x[:, :2].copy())))
            assert await refused(infer()) == "InvalidArgument: input 'x' is missing"
            assert "unknown input 'z'" in await refused(infer(from_numpy("z", x)))
            assert "given twice" in await refused(infer(from_numpy("x", x), from_numpy("x", x)))
            assert "unknown output 'q'" in await refused(infer(from_numpy("x", x), output="q"))
            short = smi_pb2.Tensor(name="x", datatype="FP32", shape=[2, 3], contents=b"\0" * 8)
            assert "holds 8 bytes; shape [2, 3] of FP32 needs 24" in await refused(infer(short))
            assert await refused(infer(from_numpy("x", x), model="nope")) == "NotFound: model 'nope' version '1' is not loaded"

            with pytest.raises(InvalidArgument, match="unknown option 'threads'"):
                await client.load_model(load("m2", directory / "net.lin", threads="2"), timeout=10)
            (directory / "other.lin").write_text(LINEAR)
            with pytest.raises(InvalidArgument, match=r"holds 2 \.lin files"):
                await client.load_model(load("m3", directory), timeout=10)
            health = await client.health(smi_pb2.PluginHealthRequest(), timeout=10)
            assert list(health.models) == ["m/1"]

    asyncio.run(scenario())


def test_arguments_are_checked(cpp_plugin: Path) -> None:
    for args, words in (([], "name the SMI socket"), (["--fd", "999"], "descriptor 999 is not open"), (["--bogus"], "unknown argument")):
        result = subprocess.run([str(cpp_plugin), *args], capture_output=True, text=True, env={}, check=False, timeout=10)
        assert result.returncode == 2 and words in result.stderr
    version = subprocess.run([str(cpp_plugin), "--version"], capture_output=True, text=True, check=True, timeout=10)
    assert version.stdout.strip() == "mlos-plugin-cpp 0.1.0"


def test_served_by_mlos_as_an_executable_plugin(cpp_plugin: Path, tmp_path: Path) -> None:
    with served(tmp_path, FIXTURES, executables=[cpp_plugin]) as node:
        status = node.request("POST", "/v1/plugins", {"name": "linear-cpp", "executable": str(cpp_plugin)})
        assert status["source"] == {"executable": str(cpp_plugin)}
        node.request("POST", "/v1/plugins/linear-cpp/load")
        # No plugin named: the core picks the one that claims .lin files.
        model = node.register_model("linear", FIXTURES / "linear.lin")
        assert model["plugin"] == "linear-cpp"
        outputs = node.infer("linear", {"x": np.array([[1, 1, 1]], dtype=np.float32)})
        np.testing.assert_array_equal(outputs["y"], [[3.5, -1.5]])
        with pytest.raises(RestError) as refused:
            node.infer("linear", {"x": np.array([[1, 1]], dtype=np.float32)})
        assert refused.value.status == 400


def test_missing_build_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.plugins.examples.conftest import missing_tools

    monkeypatch.setenv("PATH", "")
    assert {"cmake", "c++", "protoc"} <= set(missing_tools())


class RawPlugin:
    """The plugin on a plain socket, frame by frame (no client to smooth anything over)."""

    def __init__(self, binary: Path) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.process = subprocess.Popen(
            [str(binary), "--fd", str(theirs.fileno())], pass_fds=[theirs.fileno()], stderr=subprocess.PIPE
        )
        theirs.close()
        self.sock.settimeout(10)

    def send(self, kind: int, method: int, request_id: int, payload: bytes, length: int | None = None) -> None:
        header = HEADER.pack(len(payload) if length is None else length, kind, 0, method, request_id, 0)
        self.sock.sendall(header + payload)

    def receive(self) -> tuple[int, int, int, int, bytes]:
        header = self._exactly(HEADER.size)
        length, kind, flags, method, request_id, _ = HEADER.unpack(header)
        return kind, flags, method, request_id, self._exactly(length)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            assert chunk, "the plugin closed the connection"
            data += chunk
        return data

    def close(self) -> tuple[int, str]:
        self.sock.close()
        _, err = self.process.communicate(timeout=10)
        return self.process.returncode, err.decode()


def test_random_payloads_get_answers_and_the_connection_stays_up(cpp_plugin: Path) -> None:
    rng = np.random.default_rng(11)
    plugin = RawPlugin(cpp_plugin)
    try:
        for request_id in range(1, 301):
            method = int(rng.choice([0x0101, 0x0102, 0x0103, 0x0104, 0x0105, 0x0106, 0x0107, 0x0201]))
            if method == 0x0106:
                continue  # a Shutdown that happens to decode would end the test
            payload = rng.bytes(int(rng.integers(0, 64)))
            plugin.send(1, method, request_id, payload)
            kind, _, answered_method, answered_id, body = plugin.receive()
            assert (answered_method, answered_id) == (method, request_id)
            if kind == 3:
                error = smi_pb2.Error.FromString(body)
                assert error.code != smi_pb2.ERROR_CODE_UNSPECIFIED and error.message
            else:
                assert kind == 2
        plugin.send(1, 0x0105, 999, b"")
        kind, _, _, _, body = plugin.receive()
        assert kind == 2 and smi_pb2.PluginHealthResponse.FromString(body).ready
    finally:
        code, _ = plugin.close()
    assert code == 0


def test_broken_framing_closes_the_connection(cpp_plugin: Path) -> None:
    plugin = RawPlugin(cpp_plugin)
    plugin.send(1, 0x0105, 1, b"", length=1 << 30)  # over the 256 MiB limit
    kind, flags, method, request_id, body = plugin.receive()
    assert (kind, flags, method, request_id) == (3, 1, 0x0105, 1)
    error = smi_pb2.Error.FromString(body)
    assert error.code == smi_pb2.ERROR_CODE_RESOURCE_EXHAUSTED and "268435456 bytes" in error.message
    code, err = plugin.close()
    assert code == 1

    plugin = RawPlugin(cpp_plugin)
    plugin.send(9, 0x0105, 1, b"")
    code, err = plugin.close()
    assert code == 1 and "unknown frame kind 9" in err

    plugin = RawPlugin(cpp_plugin)
    plugin.send(1, 0x0105, 1, b"abc", length=10)  # then the connection closes mid-frame
    code, err = plugin.close()
    assert code == 1 and "in the middle of a frame" in err


def test_the_fixture_example_in_the_docs_passes(cpp_plugin: Path, tmp_path: Path) -> None:
    """docs/conformance.md's fixtures.yaml, with the example's linear.lin and .npy files made
    with numpy, is what the C++ plugin computes."""
    docs = (CPP_PLUGIN.parents[2] / "docs" / "conformance.md").read_text()
    (example,) = [block for block in re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL) if "fixtures:" in block]
    (tmp_path / "fixtures.yaml").write_text(example)
    (tmp_path / "linear.lin").write_text(LINEAR)
    x = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)
    weights = np.array([[1, 1, 1], [-1, 0, -1]], dtype=np.float64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", (x.astype(np.float64) @ weights.T + 0.5).astype(np.float32))

    report = run_conformance(launch(cpp_plugin), fixtures=load_fixtures(tmp_path), checks=select_checks(["infer.*"]))

    assert report.ok, [(r.name, r.reason) for r in report.failed]
    assert report.result("infer.fixtures").reason.startswith("1 fixture(s), 2 case(s): all 2")


def test_a_fixture_config_reaches_the_plugin(cpp_plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "linear.lin").write_text(LINEAR)
    case = "{outputs: {y: {datatype: FP32, data: [[3.5, -1.5]]}}, inputs: {x: {datatype: FP32, data: [[1, 1, 1]]}}}"
    (tmp_path / "fixtures.yaml").write_text(
        f"fixtures:\n  - {{model: linear.lin, config: {{axon.ref: a/b}}, cases: [{case}]}}\n"
        f"  - {{name: tuned, model: linear.lin, config: {{threads: 2}}, cases: [{case}]}}\n"
    )

    report = run_conformance(launch(cpp_plugin), fixtures=load_fixtures(tmp_path), checks=select_checks(["infer.*"]))

    assert [r.name for r in report.failed] == ["infer.fixtures"]
    assert "tuned: loading" in report.failed[0].reason and "unknown option 'threads'" in report.failed[0].reason


def test_the_python_example_in_the_docs_runs_as_written(
    cpp_plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/conformance.md's "From Python" block, run from a checkout after `make cpp-plugin`."""
    docs = (CPP_PLUGIN.parents[2] / "docs" / "conformance.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", docs, re.DOTALL)
    (tmp_path / "build" / "mlos-plugin-cpp").mkdir(parents=True)
    (tmp_path / "build" / "mlos-plugin-cpp" / "mlos-plugin-cpp").symlink_to(cpp_plugin)
    (tmp_path / "plugins" / "examples" / "mlos-plugin-cpp").mkdir(parents=True)
    (tmp_path / "plugins" / "examples" / "mlos-plugin-cpp" / "fixtures").symlink_to(FIXTURES)
    monkeypatch.chdir(tmp_path)

    exec(compile(example, "docs/conformance.md", "exec"), {})

    assert capsys.readouterr().out.rstrip().endswith("\nCONFORMANT")
    assert ElementTree.parse(tmp_path / "conformance.xml").getroot().get("failures") == "0"
