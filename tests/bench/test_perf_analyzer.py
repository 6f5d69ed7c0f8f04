"""Triton's perf_analyzer, unchanged and with default options (no `-x`), against `mlos serve`.

perf_analyzer reads the model's metadata and configuration, sends inferences over HTTP (binary
or JSON tensors) or gRPC, and reads the server's statistics around each measurement window; it
stops with an error when any of that disagrees with what Triton would answer. The binary comes
from `tools/perf_analyzer.sh` (`make test` runs it); without it these tests are skipped, except
in CI, where they fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlos.bench.perf_analyzer import PerfAnalyzer, PerfRun, parse_csv
from mlos.errors import InvalidArgument
from mlos.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / ".perf_analyzer" / "bin" / "perf_analyzer"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def analyzer() -> PerfAnalyzer:
    found = PerfAnalyzer.find([INSTALLED])
    if found is None:
        message = "perf_analyzer is not installed (bash tools/perf_analyzer.sh)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`mlos serve` with the onnx plugin, `mlp` (batch dimension), `fixed` (none) and
    `mlp_batched` (the mlp with dynamic batching)."""
    pytest.importorskip("onnxruntime")
    from tests.models import fixed_shape_model, mlp_model, save

    home = tmp_path_factory.mktemp("perf-home")
    models = home / "models"  # a model root of the server by default
    models.mkdir()
    # Load generation against the protocol; access is tested in tests/security.
    process = ServerProcess(home, "--no-auth")
    process.start()
    try:
        with requests.Session() as session:
            session.trust_env = False
            base = process.url
            assert session.post(f"{base}/v1/plugins", json={"name": "onnx"}).status_code == 201
            assert session.post(f"{base}/v1/plugins/onnx/load").status_code == 200
            for name, model in (("mlp", mlp_model()), ("fixed", fixed_shape_model())):
                path = save(model, models / f"{name}.onnx")
                body = {"name": name, "plugin": "onnx", "path": str(path)}
                response = session.post(f"{base}/v1/models", json=body, timeout=60)
                assert response.status_code == 201, response.text
            body = {
                "name": "mlp_batched",
                "plugin": "onnx",
                "path": str(models / "mlp.onnx"),
                "dynamic_batching": {"max_queue_delay_us": 2000},
            }
            response = session.post(f"{base}/v1/models", json=body, timeout=60)
            assert response.status_code == 201, response.text
        yield process
    finally:
        process.stop()


def _host_port(url: str) -> str:
    return url.removeprefix("http://")


def _failures(server: ServerProcess, model: str) -> tuple[int, int]:
    """(successes, failures) the server counted for `model`."""
    stats = requests.get(f"{server.url}/v2/models/{model}/stats", timeout=10).json()
    inference = stats["model_stats"][0]["inference_stats"]
    return inference["success"]["count"], inference["fail"]["count"]


@pytest.mark.parametrize(
    ("protocol", "tensor_format"),
    [("http", "binary"), ("http", "json"), ("grpc", "binary")],
)
def test_perf_analyzer_measures_a_batched_model(
    analyzer: PerfAnalyzer, server: ServerProcess, protocol: str, tensor_format: str
) -> None:
    url = _host_port(server.url) if protocol == "http" else server.grpc_address
    before, _ = _failures(server, "mlp")
    report = analyzer.run(
        PerfRun(
            "mlp",
            url,
            protocol=protocol,  # type: ignore[arg-type]
            tensor_format=tensor_format,  # type: ignore[arg-type]
            concurrency=(2,),
            batch_size=2,
            window_ms=500,
            stability=100,
        )
    )
    (row,) = report.rows
    assert row.concurrency == 2 and row.throughput > 0, report.output
    assert 0 < row.p50_us <= row.p99_us
    assert "Successful request count" in report.output
    after, failed = _failures(server, "mlp")
    assert after > before and failed == 0


@pytest.mark.parametrize(
    ("protocol", "tensor_format"),
    [("http", "binary"), ("http", "json"), ("grpc", "binary")],
)
def test_perf_analyzer_measures_a_model_with_dynamic_batching(
    analyzer: PerfAnalyzer, server: ServerProcess, protocol: str, tensor_format: str
) -> None:
    url = _host_port(server.url) if protocol == "http" else server.grpc_address
    report = analyzer.run(
        PerfRun(
            "mlp_batched",
            url,
            protocol=protocol,  # type: ignore[arg-type]
            tensor_format=tensor_format,  # type: ignore[arg-type]
            concurrency=(4,),
            batch_size=2,
            window_ms=500,
            stability=100,
        )
    )
    (row,) = report.rows
    assert row.concurrency == 4 and row.throughput > 0, report.output
    stats = requests.get(f"{server.url}/v2/models/mlp_batched/stats", timeout=10).json()
    (model,) = stats["model_stats"]
    inference = model["inference_stats"]
    assert inference["fail"]["count"] == 0
    # Four clients, each with a request always in flight, within a 2 ms delay: requests of
    # batch 2 ran together, so executions are fewer than requests and some larger than 2.
    assert int(model["execution_count"]) < int(inference["success"]["count"])
    assert max(int(b["batch_size"]) for b in model["batch_stats"]) > 2


def test_perf_analyzer_measures_a_model_without_a_batch_dimension(
    analyzer: PerfAnalyzer, server: ServerProcess
) -> None:
    report = analyzer.run(
        PerfRun("fixed", server.grpc_address, protocol="grpc", window_ms=500, stability=100)
    )
    assert report.rows[0].throughput > 0, report.output
    successes, failed = _failures(server, "fixed")
    assert successes > 0 and failed == 0


def test_perf_analyzer_sets_the_trace_settings_it_is_given(
    analyzer: PerfAnalyzer, server: ServerProcess
) -> None:
    # perf_analyzer's HTTP client posts its JSON labelled as a form, as libcurl does.
    extra = ("--trace-level", "TIMESTAMPS", "--trace-rate", "10", "--trace-count", "50")
    report = analyzer.run(
        PerfRun("mlp", _host_port(server.url), window_ms=300, stability=100, extra=extra)
    )
    assert report.rows[0].throughput > 0, report.output
    settings = requests.get(f"{server.url}/v2/trace/setting", timeout=10).json()
    assert (settings["trace_level"], settings["trace_rate"]) == (["TIMESTAMPS"], "10")
    clear = {"trace_level": None, "trace_rate": None, "trace_count": None}
    assert requests.post(f"{server.url}/v2/trace/setting", json=clear, timeout=10).ok


def test_a_failing_run_raises_with_perf_analyzer_s_words(
    analyzer: PerfAnalyzer, server: ServerProcess
) -> None:
    from mlos.errors import InternalError

    with pytest.raises(InternalError, match="perf_analyzer exited"):
        analyzer.run(PerfRun("nope", _host_port(server.url), window_ms=200, max_trials=1))


def test_the_csv_report_is_read_by_column_name() -> None:
    text = (
        "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
        "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
        "p50 latency,p90 latency,p95 latency,p99 latency\n"
        "4,2667.15,5,2940,7,31,2943,0,1,4373,11383,13073,17035\n"
        "8,3001.5,5,2940,9,30,2000,1,1,5000,12000,13000,18000\n"
    )
    first, second = parse_csv(text)
    assert (first.concurrency, first.throughput, first.p50_us, first.p99_us) == (
        4, 2667.15, 4373, 17035,
    )
    assert (first.server_queue_us, first.server_compute_infer_us) == (7, 2943)
    assert second.concurrency == 8 and second.server_compute_output_us == 1


def test_run_arguments_and_their_checks(tmp_path: Path) -> None:
    args = PerfRun("m", "h:1", protocol="grpc", concurrency=(8, 16, 24), asynchronous=True)
    argv = args.arguments(tmp_path / "r.csv")
    assert argv[argv.index("--concurrency-range") + 1] == "8:24:8"
    assert "--async" in argv and "-x" not in argv
    assert not any(a.startswith("--input-tensor-format") for a in argv)
    http = PerfRun("m", "h:1", tensor_format="json", version="3").arguments(tmp_path / "r.csv")
    assert "--input-tensor-format=json" in http and http[http.index("-x") + 1] == "3"
    for bad in (
        PerfRun("m", "h:1", protocol="grpc", tensor_format="json"),
        PerfRun("m", "h:1", concurrency=()),
        PerfRun("m", "h:1", concurrency=(1, 2, 8)),
    ):
        with pytest.raises(InvalidArgument):
            bad.arguments(tmp_path / "r.csv")


def test_the_cuda_runtime_beside_the_binary_goes_on_the_library_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOS_PERF_ANALYZER", raising=False)
    binary = tmp_path / "venv" / "bin" / "perf_analyzer"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    libs = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "nvidia" / "cuda_runtime"
    (libs / "lib").mkdir(parents=True)
    found = PerfAnalyzer.find([tmp_path / "missing", binary])
    assert found is not None and found.binary == binary
    path = found.environment()["LD_LIBRARY_PATH"].split(os.pathsep)
    assert path[0] == str((libs / "lib").resolve())


def test_the_bare_batching_floor_serves_perf_analyzer(
    analyzer: PerfAnalyzer, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from mlos.bench import batching_floor

    out = tmp_path / "floor.json"
    args = ["--window-ms", "300", "--concurrency", "2", "--json", str(out)]
    assert batching_floor.main(args) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"mlp/http/c2", "mlp_batched/http/c2"}
    for key, row in results.items():
        assert row["throughput"] > 0 and row["p50_ms"] > 0, key
        assert row["frontend_cpu_us"] > 0 and row["model_cpu_us"] > 0, key
