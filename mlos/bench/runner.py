"""`mlos bench`: per-operation REST latency beside raw in-process onnxruntime.

    mlos bench                       # start a server in a temporary home, measure, stop it
    mlos bench --url http://127.0.0.1:8080 --output bench-results/rest.json

Operations: health check, plugin registration, model registration (small model), small-model
inference (binary and JSON tensors), large-model inference, and the raw `session.run` of the
same two models with the same thread settings as the ONNX plugin (one intra-op thread).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlos.bench.models import CONV_INPUT_SHAPE, build_conv_model, build_small_model
from mlos.bench.report import Result, summarize, table, write_json
from mlos.bench.rest import Call, RestBench, binary_infer_body
from mlos.bench.server import ServerProcess

__all__ = ["main", "run"]

JSON = {"Content-Type": "application/json"}


def raw_onnxruntime(model: Path, array: np.ndarray[Any, Any], requests: int, label: str) -> Result:
    """Latency of `session.run` in this process, the floor MLOS is measured against."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feed = {"input": array}
    for _ in range(20):
        session.run(None, feed)
    samples = []
    started = time.perf_counter()
    for _ in range(requests):
        begin = time.perf_counter()
        session.run(None, feed)
        samples.append(time.perf_counter() - begin)
    return summarize(label, "raw onnxruntime", samples, time.perf_counter() - started)


def infer_call(model: str, array: np.ndarray[Any, Any], binary: bool) -> Call:
    """A `/v2` inference request for `array` as binary or JSON tensors."""
    path = f"/v2/models/{model}/infer"
    if binary:
        body, header_length = binary_infer_body("input", array, "output")
        headers = {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(header_length),
        }
        return Call("POST", path, body, headers)
    document = {
        "inputs": [
            {
                "name": "input",
                "shape": list(array.shape),
                "datatype": "FP32",
                "data": array.reshape(-1).tolist(),
            }
        ],
    }
    return Call("POST", path, json.dumps(document).encode(), JSON)


def run(url: str, workdir: Path, requests: int, large_requests: int) -> list[Result]:
    """Measure every operation against the server at `url`."""
    bench = RestBench(url)
    small = build_small_model(workdir / "small.onnx")
    large = build_conv_model(workdir / "large.onnx")
    conn = bench.connection()
    bench.send(conn, Call("POST", "/v1/plugins", json.dumps({"name": "onnx"}).encode(), JSON, 201))
    bench.send(conn, Call("POST", "/v1/plugins/onnx/load"))
    for name, path in (("small", small), ("large", large)):
        body = json.dumps({"name": name, "plugin": "onnx", "path": str(path)}).encode()
        bench.send(conn, Call("POST", "/v1/models", body, JSON, 201))

    def register_plugin(i: int) -> Call:
        body = json.dumps({"name": f"bench-{i}", "entry_point": "onnx"}).encode()
        return Call("POST", "/v1/plugins", body, JSON, 201)

    def remove_plugin(own: Any, i: int) -> None:
        bench.send(own, Call("DELETE", f"/v1/plugins/bench-{i}", expect=204))

    def register_model(i: int) -> Call:
        body = {
            "name": "bench-registration",
            "plugin": "onnx",
            "path": str(small),
            "version": f"v{i + 1_000_000}",
        }
        return Call("POST", "/v1/models", json.dumps(body).encode(), JSON, 201)

    def remove_model(own: Any, i: int) -> None:
        bench.send(own, Call("DELETE", f"/v1/models/bench-registration/versions/v{i + 1_000_000}"))

    rng = np.random.default_rng(0)
    small_input = rng.standard_normal((1, 64)).astype(np.float32)
    large_input = rng.standard_normal(CONV_INPUT_SHAPE).astype(np.float32)
    results = [
        bench.measure(
            "health (/v2/health/ready)", lambda i: Call("GET", "/v2/health/ready"), requests
        ),
        bench.measure("health (/v1/health)", lambda i: Call("GET", "/v1/health"), requests),
        bench.measure("plugin registration", register_plugin, requests // 4, after=remove_plugin),
        bench.measure(
            "model registration (small)",
            register_model,
            requests // 10,
            after=remove_model,
            warmup=5,
        ),
        bench.measure(
            "small inference (binary)", lambda i: infer_call("small", small_input, True), requests
        ),
        bench.measure(
            "small inference (JSON)", lambda i: infer_call("small", small_input, False), requests
        ),
        raw_onnxruntime(small, small_input, requests, "small inference"),
        bench.measure(
            "large inference (binary)",
            lambda i: infer_call("large", large_input, True),
            large_requests,
            warmup=5,
        ),
        raw_onnxruntime(large, large_input, large_requests, "large inference"),
    ]
    conn.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="mlos bench", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--requests", type=int, default=2000, help="requests per fast operation")
    parser.add_argument("--large-requests", type=int, default=200, help="large-model requests")
    parser.add_argument("--output", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlos-bench-") as scratch:
        workdir = Path(scratch)
        if args.url:
            results = run(args.url, workdir, args.requests, args.large_requests)
        else:
            with ServerProcess(workdir / "home") as url:
                results = run(url, workdir, args.requests, args.large_requests)
    print(table(results))
    if args.output:
        write_json(args.output, results, {"command": "mlos bench"})
        print(f"wrote {args.output}")
    return 0
