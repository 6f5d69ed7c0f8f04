"""Large-tensor latency with and without shared memory (the numbers in docs/shared-memory.md).

    python -m mlos.bench.shared_memory [--requests 200] [--json out.json]

For a 1x3x224x224 FP32 input (602,112 bytes) it measures, p50/p90 in milliseconds:

* ``engine``: `Engine.infer` in process — the core and the plugin process, no HTTP;
* ``rest``: tritonclient.http with binary tensors against a REST server in its own process;
* ``rest+client-shm``: the same, with the input and output in the client's system shared memory;

each with the core ↔ plugin pool off ("inline": tensors copied through the plugin socket, as
before shared memory) and on ("pool"), on two models: `identity` (600 KB in and out, no
compute: the transfer alone) and `conv` (the benchmark's ~0.4 GMAC network, 4 KB out), beside
raw onnxruntime on the same model.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlos.config import Settings
from mlos.demo import CONV_INPUT_SHAPE, build_conv_model, build_identity_model

SHAPE = CONV_INPUT_SHAPE
NBYTES = 4 * int(np.prod(SHAPE))
INLINE = 1 << 40  # a threshold no tensor reaches: the pool is never used


def build_models(folder: Path) -> dict[str, Path]:
    """The identity and conv models, written under `folder`."""
    return {
        "identity": build_identity_model(folder / "identity.onnx"),
        "conv": build_conv_model(folder / "conv.onnx"),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90))}


def measure(calls: dict[str, Callable[[], Any]], requests: int) -> dict[str, dict[str, float]]:
    """p50/p90 of each call, taking turns request by request so that load on the machine
    weighs on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(requests + 10):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            if round_ >= 10:
                samples[name].append(time.perf_counter() - started)
    return {name: percentiles(values) for name, values in samples.items()}


# ----- in process ------------------------------------------------------------------------


async def engine_numbers(models: dict[str, Path], requests: int) -> dict[str, Any]:
    from mlos.core.engine import Engine
    from mlos.wire.tensors import from_numpy
    from mlos_generated import smi_pb2

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        engine = Engine(Settings(home=Path(home), log_level="warning"))
        await engine.start()
        try:
            await engine.register_plugin(smi_pb2.RegisterPluginRequest(name="onnx"))
            await engine.load_plugin("onnx")
            data = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
            for name, path in models.items():
                await engine.register_model(
                    smi_pb2.RegisterModelRequest(name=name, plugin="onnx", path=str(path))
                )
                samples: dict[str, list[float]] = {"inline": [], "pool": []}
                for i in range(requests + 10):
                    for mode, threshold in (("inline", INLINE), ("pool", 64 * 1024)):
                        engine.arenas.threshold = threshold
                        request = smi_pb2.InferRequest(
                            model_name=name, inputs=[from_numpy("input", data)]
                        )
                        started = time.perf_counter()
                        await engine.infer(request)
                        if i >= 10:
                            samples[mode].append(time.perf_counter() - started)
                for mode, values in samples.items():
                    results[f"engine/{name}/{mode}"] = percentiles(values)
        finally:
            await engine.stop()
    return results


def raw_numbers(models: dict[str, Path], requests: int) -> dict[str, Any]:
    import onnxruntime

    data = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    results = {}
    for name, path in models.items():
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        run: dict[str, Callable[[], Any]] = {
            name: functools.partial(session.run, None, {"input": data})
        }
        results.update({f"onnxruntime/{k}": v for k, v in measure(run, requests).items()})
    return results


# ----- over REST, with the server in its own process -------------------------------------


def serve(port: int, home: Path, threshold: int) -> None:
    """Run the engine and REST app on `port` with the pool threshold given (a child process)."""
    import uvicorn

    from mlos.core.engine import Engine
    from mlos.rest.app import create_app

    settings = Settings(home=home, log_level="warning")
    engine = Engine(settings)
    engine.arenas.threshold = threshold

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    app = create_app(engine, settings, lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


def start_server(threshold: int, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A REST server process with the given pool threshold; its address once it is live."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "mlos.bench.shared_memory", "serve", str(port), str(home),
        str(threshold),
    ]
    server = subprocess.Popen(command)
    url = f"127.0.0.1:{port}"
    with httpx.Client(base_url=f"http://{url}", timeout=60) as http:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if http.get("/v2/health/live").status_code == 200:
                    break
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
    return server, url


def rest_numbers(models: dict[str, Path], requests: int, home: Path) -> dict[str, Any]:
    import httpx
    import tritonclient.http as httpclient
    import tritonclient.utils.shared_memory as shm

    data = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    key = f"/mlos_bench_{os.getpid()}"
    region = shm.create_shared_memory_region("bench", key, 2 * NBYTES)
    shm.set_shared_memory_region(region, [data])
    servers = {
        mode: start_server(threshold, home / mode)
        for mode, threshold in (("inline", INLINE), ("pool", 64 * 1024))
    }
    clients = {}
    try:
        for mode, (_, url) in servers.items():
            with httpx.Client(base_url=f"http://{url}", timeout=60) as http:
                http.post("/v1/plugins", json={"name": "onnx"})
                http.post("/v1/plugins/onnx/load")
                for name, path in models.items():
                    body = {"name": name, "plugin": "onnx", "path": str(path)}
                    assert http.post("/v1/models", json=body).status_code == 201
            clients[mode] = httpclient.InferenceServerClient(url)
            clients[mode].register_system_shared_memory("bench", key, 2 * NBYTES)

        def binary(client: Any, model: str) -> Any:
            x = httpclient.InferInput("input", list(SHAPE), "FP32")
            x.set_data_from_numpy(data, binary_data=True)
            y = httpclient.InferRequestedOutput("output", binary_data=True)
            return client.infer(model, [x], outputs=[y]).as_numpy("output")

        def in_shm(client: Any, model: str) -> Any:
            x = httpclient.InferInput("input", list(SHAPE), "FP32")
            x.set_shared_memory("bench", NBYTES)
            y = httpclient.InferRequestedOutput("output")
            y.set_shared_memory("bench", NBYTES, offset=NBYTES)
            return client.infer(model, [x], outputs=[y])

        results: dict[str, Any] = {}
        for name in models:
            calls: dict[str, Callable[[], Any]] = {}
            for mode, client in clients.items():
                calls[f"rest/{name}/{mode}"] = functools.partial(binary, client, name)
                calls[f"rest+client-shm/{name}/{mode}"] = functools.partial(in_shm, client, name)
            results.update(measure(calls, requests))
        return results
    finally:
        for client in clients.values():
            client.unregister_system_shared_memory()
            client.close()
        for server, _ in servers.values():
            server.terminate()
            server.wait(30)
        shm.destroy_shared_memory_region(region)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "serve":
        serve(int(args[1]), Path(args[2]), int(args[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args(args)
    with tempfile.TemporaryDirectory() as folder:
        models = build_models(Path(folder))
        results = raw_numbers(models, options.requests)
        results.update(asyncio.run(engine_numbers(models, options.requests)))
        results.update(rest_numbers(models, options.requests, Path(folder)))
    width = max(len(name) for name in results)
    print(f"{'measurement':<{width}}  {'p50 ms':>8}  {'p90 ms':>8}")
    for name, numbers in results.items():
        print(f"{name:<{width}}  {numbers['p50']:8.3f}  {numbers['p90']:8.3f}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
